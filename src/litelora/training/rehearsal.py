"""Rehearsal: a few training steps on a task that leave no trace, for gates that measure before
they decide.

A rehearsal trains whatever requires gradients at the moment it runs (the head, reuse paths,
trainable magnitudes; a gate holds its candidates out beforehand) with a throwaway AdamW, then
puts every parameter and buffer back and restores the random generators. The run that follows
is therefore exactly the run that would have followed without it, unless the caller asks to
keep what the rehearsal trained (a gate whose probe counts as the task's first steps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

StepCallback = Callable[[int, float], None]


def rehearse(
    model: nn.Module, loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
    batches: Callable[[], Iterable[tuple[Any, torch.Tensor]]], steps: int, lrs: dict[int, float],
    default_lr: float, on_step: StepCallback | None = None, *, keep: bool = False,
) -> list[float]:
    """Train ``model`` for ``steps`` steps on ``batches()`` (cycled), then undo everything.

    ``lrs`` maps ``id(parameter)`` to its learning rate (the head's, say); other trainable
    parameters use ``default_lr``. ``on_step(step, loss)`` runs after each 1-based step, between
    the optimizer step and the next batch (a gate resets its accumulators there). Returns the
    task loss of every step. With ``keep`` what trained keeps what it learned (the steps count as
    the task's first); the random generators are restored either way.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    saved_params = [] if keep else [p.detach().clone() for p in params]
    saved_buffers = [] if keep else [b.detach().clone() for b in model.buffers()]
    was_training = model.training
    losses: list[float] = []
    with torch.random.fork_rng(devices=_cuda_indices(model)):
        groups: dict[float, list[nn.Parameter]] = {}
        for p in params:
            groups.setdefault(lrs.get(id(p), default_lr), []).append(p)
        optimizer = torch.optim.AdamW([{"params": ps, "lr": lr} for lr, ps in groups.items()], weight_decay=0.0) \
            if params else None
        model.train()
        try:
            while len(losses) < steps:
                taken = len(losses)
                for batch, labels in batches():
                    loss = loss_fn(batch, labels)
                    if loss.requires_grad:
                        loss.backward()
                    if optimizer is not None:
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
                    losses.append(float(loss.detach()))
                    if on_step is not None:
                        on_step(len(losses), losses[-1])
                    if len(losses) >= steps:
                        break
                if len(losses) == taken:
                    break  # no batches at all
        finally:
            with torch.no_grad():
                for p in params:
                    p.grad = None
                if not keep:
                    for p, value in zip(params, saved_params):
                        p.copy_(value)
                    for b, value in zip(model.buffers(), saved_buffers):
                        b.copy_(value)
            model.train(was_training)
    return losses


def _cuda_indices(model: nn.Module) -> list[int]:
    """Every CUDA device the model computes on, trainable or not: a frozen layer's dropout draws
    from its device's generator too (with nothing trainable on a GPU, say, a headless model whose
    adapters a gate holds out), and the run after the rehearsal must draw what it would have."""
    devices = {t.device for t in (*model.parameters(), *model.buffers()) if t.device.type == "cuda"}
    return sorted({torch.cuda.current_device() if d.index is None else d.index for d in devices})
