"""The uniform-rank gate: every module recruits at one fixed rank after the first task. An ablation:
a gate that sizes ranks per module should beat spreading the same parameters evenly (what
SD-LoRA-RR's falling ranks do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litelora.adapters.config import check_rank
from litelora.context import TaskContext
from litelora.gates.base import GatePlugin, group_targets


@dataclass
class UniformParams:
    """Settings of the ``uniform`` gate.

    rank: the rank every candidate keeps after the first task (at most its own rank; the host's
        ``r`` changes nothing), a positive integer.
    """

    rank: int = 4

    def __post_init__(self) -> None:
        check_rank("gate.params.rank", self.rank)


class UniformRankGate(GatePlugin):
    """Shrinks every gated task's candidates to ``gate.params.rank`` before the task trains."""

    Params = UniformParams

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        candidates = ctx.bank.candidates(ctx.task_id)
        if not self.gated(ctx):
            self.record_all_open(ctx)
            return []
        ranks = {t: min(self.params.rank, a.r) for t, a in candidates.items()}
        self.apply_ranks(ctx, group_targets(list(candidates), "module"), ranks, {t: float(k) for t, k in ranks.items()})
        return []
