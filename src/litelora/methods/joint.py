"""joint: one adapter trained on the union of every task's data (the upper reference line).

The method itself is inclora on a single task; ``wants_joint_stream`` tells the run builder
to merge the stream's tasks into one before training, so the trainer has no special case.
"""

from __future__ import annotations

from torch import nn

from litelora.methods.base import ContinualMethod, TaskContext
from litelora.methods.registry import register_method


@register_method("joint")
class Joint(ContinualMethod):
    adds_candidates = False
    wants_joint_stream = True

    def before_task(self, ctx: TaskContext) -> list[nn.Parameter]:
        return ctx.bank.add_task(ctx.task_id)
