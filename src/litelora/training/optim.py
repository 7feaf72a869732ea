"""Optimizer construction that survives structural changes (a gate deleting candidates)."""

from __future__ import annotations

from typing import Any

import torch


def build_optimizer(
    groups: list[dict[str, Any]], weight_decay: float, previous: torch.optim.Optimizer | None = None
) -> torch.optim.Optimizer:
    """AdamW over the parameters of ``groups`` that still require gradients.

    With ``previous``, the Adam moments of every surviving parameter carry over, so a
    rebuild after a gate decision does not restart the optimiser's statistics.
    """
    live = []
    for g in groups:
        g["params"] = [p for p in g["params"] if p.requires_grad]
        if g["params"]:
            live.append({**g, "weight_decay": g.get("weight_decay", weight_decay)})
    if not live:
        live = [{"params": [torch.nn.Parameter(torch.zeros(()))], "lr": 0.0}]  # nothing to train: a no-op
    optimizer = torch.optim.AdamW(live, weight_decay=weight_decay)
    if previous is not None:
        for group in live:
            for p in group["params"]:
                if p in previous.state:
                    optimizer.state[p] = previous.state[p]
    return optimizer
