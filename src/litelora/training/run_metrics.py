"""What a finished run reports in ``results.json`` ``metrics``: the continual-learning metrics of
its accuracy matrix, plus adapter counts, sizes and training time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from litelora.adapters import AdapterBank
from litelora.gates import GateDecision
from litelora.methods import ContinualMethod
from litelora.metrics import adapter_reduction, summarize


def run_metrics(bank: AdapterBank, method: ContinualMethod, R: list[list[float]], n_test: list[int],
                wall: list[float], trainable: list[int], decisions: Sequence[GateDecision] = ()) -> dict[str, Any]:
    """``R`` (T x T accuracies), ``n_test`` (test examples per task), ``wall`` (training seconds per
    task) and ``trainable`` (trainable parameters per task) with the final bank's adapters; the
    reduction is ``None`` for a method that adds no candidate per task (seqlora), whose
    ``max_adapters`` stays tasks x targets. ``decisions`` (a gate's) give what the host would have
    stored: the adapters and parameters the gate kept plus those it closed, so ``max_adapters``,
    ``adapter_reduction`` and ``param_reduction`` are against the host's own adapters (a candidate
    the host itself removed never counts as saved). What the gate stores instead (its reuse paths:
    a core or magnitudes where it closed a module) counts against the saving."""
    summary = bank.summary()
    params = int(summary["adapter_params"])  # type: ignore[arg-type]
    host_params = params + sum(d.params_freed for d in decisions)
    stored = params + int(summary["reuse_params"])  # type: ignore[call-overload]
    active = int(summary["active_adapters"])  # type: ignore[arg-type]
    if method.adds_candidates:
        host_adapters = active + sum(d.rank == 0 for d in decisions)
        reduction = adapter_reduction(active, host_adapters) if host_adapters else None
    else:
        host_adapters, reduction = len(R) * len(bank.targets), None
    return {
        **summarize(np.array(R), n_test=n_test),
        "active_adapters": active,
        "active_adapters_per_task": [bank.num_active(t) for t in bank.tasks],
        "max_adapters": host_adapters,
        "adapter_reduction": reduction,
        "adapter_params": params,
        "host_adapter_params": host_params,
        "param_reduction": (1.0 - stored / host_params) if host_params and method.adds_candidates else None,
        "rank_per_task": [sum(a.r for a in bank.candidates(t).values()) for t in bank.tasks],
        "adapter_bytes": summary["adapter_bytes"],
        "reuse_params": summary["reuse_params"],
        "trainable_params_per_task": trainable,
        "train_seconds": sum(wall),
    }
