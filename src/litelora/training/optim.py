"""Optimizer construction that survives structural changes (a gate deleting candidates)."""

from __future__ import annotations

import math
from typing import Any

import torch

LR_SCHEDULES = ("constant", "cosine")


def build_optimizer(
    groups: list[dict[str, Any]], weight_decay: float, previous: torch.optim.Optimizer | None = None
) -> torch.optim.Optimizer:
    """AdamW over the parameters of ``groups`` that still require gradients.

    With ``previous``, the Adam moments of every surviving parameter carry over, so a
    rebuild after a gate decision does not restart the optimiser's statistics.
    """
    live = []
    for g in groups:
        # ``groups`` is left as it is: a parameter frozen now may be made trainable again later.
        params = [p for p in g["params"] if p.requires_grad]
        if params:
            live.append({**g, "params": params, "weight_decay": g.get("weight_decay", weight_decay), "base_lr": g["lr"]})
    if not live:
        live = [{"params": [torch.nn.Parameter(torch.zeros(()))], "lr": 0.0, "base_lr": 0.0}]  # nothing to train
    optimizer = torch.optim.AdamW(live, weight_decay=weight_decay)
    if previous is not None:
        for group in live:
            for p in group["params"]:
                if p in previous.state:
                    optimizer.state[p] = previous.state[p]
    return optimizer


def schedule_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of every group's base rate at 0-based ``step`` of a task of ``total`` steps.

    A function of the step alone, so a resumed task or a rebuilt optimizer lands on the same rate.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; known: {list(LR_SCHEDULES)}")


def apply_schedule(optimizer: torch.optim.Optimizer, schedule: str, step: int, total: int) -> None:
    """Set each group's ``lr`` to its ``base_lr`` times :func:`schedule_factor`."""
    factor = schedule_factor(schedule, step, total)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
