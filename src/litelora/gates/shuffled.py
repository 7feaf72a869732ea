"""The shuffled gate: another run's ranks, task by task, placed at random modules. An ablation:
it keeps what a gate spent on each task (how many modules recruit, at which ranks, and so the
parameters) and throws away where it spent it, so a gate's choice of modules carries information
only if it beats this."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from litelora.context import TaskContext
from litelora.errors import ConfigError
from litelora.gates.base import GatePlugin, group_targets
from litelora.gates.config import GateConfig


@dataclass
class ShuffledParams:
    """Settings of the ``shuffled`` gate.

    decisions: the reference run's ``gates.json`` (or its run directory): the run whose ranks are
        replayed, trained on the same stream and model.
    """

    decisions: str | None = None


def module_kind(target: str) -> str:
    """A target with its layer indices blanked (``model.layers.*.self_attn.q_proj``): ranks move
    only among modules of one kind, so the shuffled run keeps the reference's parameters exactly."""
    return re.sub(r"(?:^|(?<=\.))\d+(?=\.|:|$)", "*", target)


class ShuffledGate(GatePlugin):
    """Before each gated task: the reference run's ranks for that task, permuted among the modules
    of each kind by the gate's own generator (seeded by the run seed and the task).

    The reference is read when the first task starts, before anything trains, not when the gate
    is built: a suite's configs validate before the runs they refer to exist."""

    Params = ShuffledParams

    def __init__(self, config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> None:
        super().__init__(config, num_tasks, seed=seed, adapter_lr=adapter_lr)
        if not self.params.decisions:
            raise ConfigError("gate.kind='shuffled' needs gate.params.decisions: the gates.json (or run directory) "
                              "of the run whose ranks it replays")
        self.reference: dict[int, dict[str, int]] | None = None

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        if self.reference is None:
            self.reference = load_reference(self.params.decisions)
        candidates = ctx.bank.candidates(ctx.task_id)
        if not self.gated(ctx):
            self.record_all_open(ctx)
            return []
        reference = self.reference.get(ctx.task_id)
        if reference is None:
            raise ConfigError(f"gate.params.decisions={self.params.decisions}: no decisions for task "
                              f"{ctx.task_id}; the reference run must train the same stream to its end")
        if set(reference) != set(candidates):
            missing = sorted(set(candidates) - set(reference))[:3]
            raise ConfigError(f"gate.params.decisions={self.params.decisions}: task {ctx.task_id} decided other "
                              f"modules than this run's candidates (e.g. {missing or sorted(reference)[:3]}); "
                              "the reference must use the same model and adapter targets")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + ctx.task_id)
        kinds: dict[str, list[str]] = defaultdict(list)
        for target in candidates:  # model order: the permutation depends on the seed alone
            kinds[module_kind(target)].append(target)
        ranks: dict[str, int] = {}
        for targets in kinds.values():
            order = torch.randperm(len(targets), generator=generator).tolist()
            for target, source in zip(targets, order):
                ranks[target] = min(reference[targets[source]], candidates[target].r)
        values = {t: ranks[t] / candidates[t].r for t in candidates}
        self.apply_ranks(ctx, group_targets(list(candidates), "module"), ranks, values)
        return []


def load_reference(path: str) -> dict[int, dict[str, int]]:
    """task -> target -> rank, from a run's ``gates.json`` (``path`` may name the run directory)."""
    file = Path(path)
    if file.is_dir():
        file = file / "gates.json"
    if not file.is_file():
        raise ConfigError(f"gate.params.decisions={path}: no such file; give a gated run's gates.json or its "
                          "run directory (run the reference first)")
    try:
        rows = json.loads(file.read_text())
        out: dict[int, dict[str, int]] = defaultdict(dict)
        for row in rows:
            out[int(row["task"])][str(row["target"])] = int(row["rank"])
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"gate.params.decisions={path}: not a gates.json (rows of task, target, rank): "
                          f"{err}") from None
    return dict(out)
