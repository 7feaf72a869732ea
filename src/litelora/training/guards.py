"""The trainer's guard against a diverging step: a non-finite loss or gradient stops the run
before the optimizer applies it, so the last checkpoint stays good."""

from __future__ import annotations

import torch

from litelora.errors import NonFiniteError


def check_finite(value: torch.Tensor, task: int, step: int, what: str) -> None:
    """Raise ``NonFiniteError`` (naming ``what``, the task and the step) unless ``value`` is finite."""
    if not torch.isfinite(value):
        raise NonFiniteError(f"non-finite {what} ({value.item()}) at task {task}, step {step}; the last "
                             "good checkpoint is kept: lower train.lr or check the data, then resume")


def grad_norm(optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """The L2 norm over every gradient the optimizer holds (0 when there is none)."""
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
