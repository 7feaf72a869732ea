"""Continual-learning and efficiency metrics (pure functions over plain numbers)."""

from __future__ import annotations

from litelora.metrics.continual import (
    average_incremental_accuracy,
    bwt,
    final_accuracy,
    forgetting,
    fwt,
    incremental_accuracies,
    per_task_forgetting,
    summarize,
)
from litelora.metrics.convergence import convergence_check, diagonal, late_rise_check
from litelora.metrics.efficiency import adapter_reduction, aggregate_seeds, parameter_bytes

__all__ = [
    "adapter_reduction",
    "aggregate_seeds",
    "average_incremental_accuracy",
    "bwt",
    "convergence_check",
    "diagonal",
    "final_accuracy",
    "forgetting",
    "fwt",
    "incremental_accuracies",
    "late_rise_check",
    "parameter_bytes",
    "per_task_forgetting",
    "summarize",
]
