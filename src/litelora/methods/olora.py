"""olora (Wang et al., 2023): inclora plus an orthogonality penalty between the new and
the old down-projections, and an optional L2 penalty on the new LoRA parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from litelora.errors import ConfigError
from litelora.methods.base import ContinualMethod, TaskContext
from litelora.methods.registry import register_method


@dataclass
class OLoRAParams:
    """O-LoRA's two loss weights.

    lambda_1: weight of the orthogonality penalty between the new and the old down-projections.
    lambda_2: weight of the L2 penalty on the new LoRA parameters.
    lambda_1_schedule: one lambda_1 per task (overrides lambda_1); ``null``: lambda_1 throughout.
    """

    lambda_1: float = 0.5
    lambda_2: float = 0.0
    lambda_1_schedule: list[float] | None = None

    def __post_init__(self) -> None:
        for name in ("lambda_1", "lambda_2"):
            if getattr(self, name) < 0:
                raise ConfigError(f"method.params.{name} must be a non-negative number, got {getattr(self, name)!r}")
        if self.lambda_1_schedule is not None:
            if not self.lambda_1_schedule:
                raise ConfigError("method.params.lambda_1_schedule must be a non-empty list (one value per task), "
                                  "got []")
            for i, value in enumerate(self.lambda_1_schedule):
                if value < 0:
                    raise ConfigError(f"method.params.lambda_1_schedule[{i}] must be a non-negative number, "
                                      f"got {value!r}")


@register_method("olora")
class OLoRA(ContinualMethod):
    """Loss += lambda_1 * sum_targets sum_old |A_old A_new^T|_1 + lambda_2 * sum ||theta_new||_2.

    ``lambda_1_schedule`` (one value per task) overrides ``lambda_1``. Only A is constrained.
    """

    Params = OLoRAParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.lambda_1, self.lambda_2 = self.config.lambda_1, self.config.lambda_2
        self.schedule: list[float] | None = self.config.lambda_1_schedule
        self._lambda_1 = self.lambda_1

    def check_num_tasks(self, num_tasks: int) -> None:
        if self.schedule is not None and len(self.schedule) < num_tasks:
            raise ConfigError(f"method.params.lambda_1_schedule has {len(self.schedule)} values for a stream of "
                              f"{num_tasks} tasks; give one value per task")

    def before_task(self, ctx: TaskContext) -> list[nn.Parameter]:
        if self.schedule is not None:
            if ctx.task_id >= len(self.schedule):  # an own loop past the stream LiteLoRA was built for
                raise ConfigError(f"method.params.lambda_1_schedule has {len(self.schedule)} values, but task "
                                  f"{ctx.task_id} needs one (give one value per task)")
            self._lambda_1 = self.schedule[ctx.task_id]
        return ctx.bank.add_task(ctx.task_id)

    def extra_loss(self, ctx: TaskContext) -> torch.Tensor | None:
        # Re-read every step: a gate may delete candidates mid-task; a deleted one is in no sum.
        candidates = ctx.bank.candidates(ctx.task_id)
        terms: list[torch.Tensor] = []
        for target, new in candidates.items():
            olds = [a.lora_A for a in ctx.bank.slot(target).adapters.values() if a is not new]
            if olds and self._lambda_1 > 0:
                # Concatenated old A's: one (R, r) product equals the sum over old adapters.
                terms.append(self._lambda_1 * (torch.cat(olds, dim=0) @ new.lora_A.T).abs().sum())
            if self.lambda_2 > 0:
                # Sum of per-tensor L2 norms, as in the O-LoRA code (not one global norm).
                terms.append(self.lambda_2 * (new.lora_A.norm() + new.lora_B.norm()))
        return torch.stack(terms).sum() if terms else None
