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
        replayed, trained on the same stream and model with the same adapter rank. Required.
    """

    decisions: str | None = None

    def __post_init__(self) -> None:
        if not self.decisions:
            raise ConfigError("gate.params.decisions is required by gate.kind='shuffled': the gates.json (or run "
                              "directory) of the run whose ranks it replays")


def module_kind(target: str) -> str:
    """A target with its layer indices blanked (``model.layers.*.self_attn.q_proj``)."""
    return re.sub(r"(?:^|(?<=\.))\d+(?=\.|:|$)", "*", target)


class ShuffledGate(GatePlugin):
    """Before each gated task: the reference run's ranks for that task, permuted among the modules
    of each kind and shape (so the parameters are the reference's exactly) by the gate's own
    generator, seeded by the run seed and the task. A closed module gets ``gate.reuse`` as any
    gate's does; ``gate`` in ``gates.json`` is the rank over the host's rank.

    The reference is read when the first task starts, before anything trains, not when the gate
    is built: a suite's configs validate before the runs they refer to exist."""

    Params = ShuffledParams

    def __init__(self, config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> None:
        super().__init__(config, num_tasks, seed=seed, adapter_lr=adapter_lr)
        self.reference: dict[int, dict[str, int]] | None = None

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        if self.reference is None:
            self.reference = load_reference(self.params.decisions, self.num_tasks)
        candidates = ctx.bank.candidates(ctx.task_id)
        if not self.gated(ctx):
            self.record_all_open(ctx)
            return []
        reference = self.reference[ctx.task_id]
        if set(reference) != set(candidates):
            differ = sorted(set(candidates) ^ set(reference))[:3]
            raise ConfigError(f"gate.params.decisions={self.params.decisions}: task {ctx.task_id} decided other "
                              f"modules than this run's candidates (in one and not the other: {differ}); the "
                              "reference must use the same model and adapter targets")
        over = [t for t in candidates if reference[t] > candidates[t].r]
        if over:
            raise ConfigError(f"gate.params.decisions={self.params.decisions}: task {ctx.task_id} kept rank "
                              f"{reference[over[0]]} at {over[0]!r}, above this run's adapter.r={candidates[over[0]].r}; "
                              "replay a reference trained with the same adapter rank")
        generator = self.task_generator(ctx.task_id)
        kinds: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for target, adapter in candidates.items():  # model order: the permutation depends on the seed alone
            kinds[(module_kind(target), tuple(adapter.lora_A.shape), tuple(adapter.lora_B.shape))].append(target)
        ranks: dict[str, int] = {}
        for targets in kinds.values():
            order = torch.randperm(len(targets), generator=generator).tolist()
            ranks.update({target: reference[targets[source]] for target, source in zip(targets, order)})
        reuse = self.attach_reuse(ctx, list(candidates))
        values = {t: ranks[t] / candidates[t].r for t in candidates}
        self.apply_ranks(ctx, group_targets(list(candidates), "module"), ranks, values)
        reuse = [p for p in reuse if p.requires_grad]  # a recruit dropped its reuse path
        return [{"params": reuse, "lr": self.reuse_lr, "weight_decay": 0.0, "name": "reuse"}] if reuse else []


def load_reference(path: str | None, num_tasks: int) -> dict[int, dict[str, int]]:
    """task -> target -> rank, from a run's ``gates.json`` (``path`` may name the run directory),
    for every task of the stream: a reference that stopped early fails before anything trains."""
    file = Path(str(path))
    if file.is_dir():
        file = file / "gates.json"
    if not file.is_file():
        raise ConfigError(f"gate.params.decisions={path}: no such file; give a gated run's gates.json or its "
                          "run directory (run the reference first)")
    try:
        out: dict[int, dict[str, int]] = defaultdict(dict)
        for row in json.loads(file.read_text()):
            out[int(row["task"])][str(row["target"])] = int(row["rank"])
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"gate.params.decisions={path}: not a gates.json (rows of task, target, rank): "
                          f"{err}") from None
    missing = [t for t in range(num_tasks) if t not in out]
    if missing:
        raise ConfigError(f"gate.params.decisions={path}: no decisions for tasks {missing} of this run's "
                          f"{num_tasks}; the reference must train the same stream to its end")
    return dict(out)
