"""Shared helpers of the method tests: a tiny bank, seeded batches, a context and a train loop."""

from __future__ import annotations

import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.methods import ContinualMethod, TaskContext
from litelora.testing import tiny_mlp

D_IN = 12


def make_bank(model: nn.Module | None = None, targets: list[str] | None = None, r: int = 4) -> AdapterBank:
    model = model if model is not None else tiny_mlp(d_in=D_IN, hidden=16, d_out=4)
    return AdapterBank(model, AdapterConfig(target_modules=targets or ["0", "2"], r=r))


def make_data(task: int, d: int = D_IN, dims: int | None = None, n: int = 3) -> list[dict[str, torch.Tensor]]:
    """``n`` batches of 8 inputs; with ``dims``, mostly inside a task-specific subspace."""
    g = torch.Generator().manual_seed(100 + task)
    if dims is None:
        return [{"x": torch.randn(8, d, generator=g)} for _ in range(n)]
    P = torch.randn(dims, d, generator=g)
    return [{"x": torch.randn(8, dims, generator=g) @ P + 0.01 * torch.randn(8, d, generator=g)} for _ in range(n)]


def make_ctx(bank: AdapterBank, task: int, num_tasks: int = 3, data: list | None = None) -> TaskContext:
    batches = data if data is not None else make_data(task)
    return TaskContext(task, num_tasks, bank, train_inputs=lambda: iter(batches),
                       run_model=lambda b: bank.model(b["x"]))


def train_steps(method: ContinualMethod, ctx: TaskContext, params: list[nn.Parameter], lr: float = 0.05) -> None:
    opt = torch.optim.SGD(params, lr=lr)
    for batch in ctx.train_inputs():  # type: ignore[misc]
        out = ctx.run_model(batch)  # type: ignore[misc]
        loss = (out - 1.0).pow(2).mean()
        extra = method.extra_loss(ctx)
        if extra is not None:
            loss = loss + extra
        opt.zero_grad()
        loss.backward()
        opt.step()
