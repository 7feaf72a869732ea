"""inclora: a new adapter per task, earlier ones frozen; the plain task loss."""

from __future__ import annotations

from torch import nn

from litelora.methods.base import ContinualMethod, TaskContext
from litelora.methods.registry import register_method


@register_method("inclora")
class IncLoRA(ContinualMethod):
    def before_task(self, ctx: TaskContext) -> list[nn.Parameter]:
        return ctx.bank.add_task(ctx.task_id)
