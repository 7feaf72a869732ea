"""The random gate: recruit a random ``gate.budget`` fraction of each task's groups. An ablation:
a learned gate's decisions carry information only if they beat this at the same count."""

from __future__ import annotations

from typing import Any

import torch

from litelora.errors import ConfigError
from litelora.gates.base import GatePlugin, group_targets
from litelora.gates.config import GateConfig
from litelora.context import TaskContext


class RandomGate(GatePlugin):
    """Decides before the task trains, from its own generator (seeded by the run seed and task)."""

    def __init__(self, config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> None:
        super().__init__(config, num_tasks, seed=seed, adapter_lr=adapter_lr)
        if config.budget is None:
            raise ConfigError("gate.kind='random' needs gate.budget (the fraction of groups it recruits per task)")

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        candidates = ctx.bank.candidates(ctx.task_id)
        groups = group_targets(list(candidates), self.config.group)
        assert self.config.budget is not None
        k = round(self.config.budget * len(groups)) if self.gated(ctx) else len(groups)
        chosen = set(torch.randperm(len(groups), generator=self.task_generator(ctx.task_id))[:k].tolist())
        ranks, values = {}, {}
        for g, targets in enumerate(groups.values()):
            for target in targets:
                ranks[target] = candidates[target].r if g in chosen else 0
                values[target] = float(g in chosen)
        self.apply_ranks(ctx, groups, ranks, values)
        return []
