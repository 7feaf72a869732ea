"""seqlora: one adapter trained through every task (the lower bound; no gate)."""

from __future__ import annotations

from torch import nn

from litelora.methods.base import ContinualMethod, TaskContext
from litelora.methods.registry import register_method


@register_method("seqlora")
class SeqLoRA(ContinualMethod):
    adds_candidates = False
    keeps_old_adapters = False

    def before_task(self, ctx: TaskContext) -> list[nn.Parameter]:
        if not ctx.bank.tasks:
            return ctx.bank.add_task(0)
        return ctx.bank.unfreeze_task(ctx.bank.tasks[0])

    def after_task(self, ctx: TaskContext) -> None:
        ctx.bank.freeze_task(ctx.bank.tasks[0])
