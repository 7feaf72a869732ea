"""GatePlugin: the trainer's view of a gate. The host method never sees it."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, ClassVar

import torch

from litelora._config import from_dict
from litelora.adapters import AdapterBank, CoreReuse, LoraAdapter, ScaleReuse, span_bases
from litelora.errors import ConfigError
from litelora.gates.config import GateConfig
from litelora.gates.decision import GateDecision
from litelora.context import TaskContext


class GatePlugin:
    """Hooks the trainer calls around a host method that adds one candidate per target.

    ``before_task`` returns extra optimizer groups; ``penalty`` is added to the loss;
    ``after_step`` returns True when the structure changed (rebuild the optimizer);
    ``after_training`` runs once the task's steps are done; decisions are kept as data.

    ``Params``: the dataclass of the gate's own settings (typed fields with defaults, ranges
    checked in its ``__post_init__``); ``gate.params`` is read into it as ``self.params``, unknown
    keys and wrong types failing with the field's name. ``None``: the gate takes no settings.
    """

    Params: ClassVar[type[Any] | None] = None

    def __init__(self, config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> None:
        if self.Params is None:
            if config.params:
                raise ConfigError(f"gate.params: gate.kind={config.kind!r} takes no settings, got {sorted(config.params)}")
            self.params: Any = None
        else:
            self.params = from_dict(self.Params, config.params, "gate.params")
        self.config = config
        self.num_tasks = num_tasks
        self.seed = seed
        self.adapter_lr = adapter_lr
        self.decisions: list[GateDecision] = []

    @property
    def reuse_lr(self) -> float:
        """Learning rate of reuse paths: ``gate.reuse_lr``, else the adapters' own rate."""
        return self.config.reuse_lr if self.config.reuse_lr is not None else self.adapter_lr

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        return []

    def penalty(self) -> torch.Tensor | None:
        return None

    def after_step(self, ctx: TaskContext, step: int, total: int) -> bool:
        return False

    def after_training(self, ctx: TaskContext) -> None:
        return None

    def after_task(self, ctx: TaskContext) -> None:
        """Freeze what the task's reuse paths trained."""
        for target in ctx.bank.targets:
            for name, module in ctx.bank.slot(target).reuse.items():
                if name == reuse_name(ctx.task_id):
                    module.requires_grad_(False)

    def live_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Mid-task state for a checkpoint: (JSON, tensors)."""
        return {}, {}

    def load_live_state(self, ctx: TaskContext, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Restore ``live_state`` after ``before_task`` rebuilt the task's structure."""
        return None

    def decisions_for(self, task_id: int) -> list[GateDecision]:
        return [d for d in self.decisions if d.task == task_id]

    def task_generator(self, task_id: int) -> torch.Generator:
        """The gate's own random stream for one task (run seed and task), never the global one."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + task_id)

    def gated(self, ctx: TaskContext) -> bool:
        """Does this task decide at all? (Task 0 recruits everywhere by default.)"""
        return not (self.config.first_task_recruits and ctx.task_id == 0) and bool(ctx.bank.candidates(ctx.task_id))

    # ------------------------------------------------------------------ shared pieces
    def attach_reuse(self, ctx: TaskContext, targets: list[str]) -> list[torch.nn.Parameter]:
        """Give each target the configured reuse path over its earlier adapters; their rate goes in
        ``ctx.lrs``, so a probe's rehearsal trains them as the task will."""
        params: list[torch.nn.Parameter] = []
        kind, bank, task_id = self.config.reuse, ctx.bank, ctx.task_id
        if kind == "frozen":
            return params
        for target in targets:
            slot = bank.slot(target)
            olds = earlier_adapters(bank, target, task_id)
            if not olds:
                continue
            names = [n for n, _ in olds]
            if kind == "scale":
                module: torch.nn.Module = ScaleReuse(names, like=olds[0][1].magnitude)
            else:
                U, V = span_bases([a.lora_A for _, a in olds], [a.lora_B for _, a in olds])  # type: ignore[union-attr]
                module = CoreReuse(names, U, V)
            slot.reuse[reuse_name(task_id)] = module
            params += list(module.parameters())
        ctx.lrs.update({id(p): self.reuse_lr for p in params})
        return params

    def record(self, bank: AdapterBank, task_id: int, target: str, *, group: str, value: float, rank: int,
               full_rank: int, full_params: int, scores: dict[str, float] | None = None) -> GateDecision:
        """Keep the decision of one target (after it was applied to the bank): the rank its
        candidate kept out of ``full_rank`` (``full_params`` parameters at full rank)."""
        reuses = bank.slot(target).reuse
        reuse = reuses[reuse_name(task_id)] if reuse_name(task_id) in reuses else None
        kept = full_params * rank // full_rank if full_rank else 0
        decision = GateDecision(
            task=task_id, target=target, group=group, gate=value, rank=rank, full_rank=full_rank,
            params_kept=kept, params_freed=full_params - kept,
            reuse=None if reuse is None else self.config.reuse,
            reuse_params=0 if reuse is None else sum(p.numel() for p in reuse.parameters()),
            scores=dict(scores or {}),
        )
        self.decisions.append(decision)
        return decision

    def apply_ranks(self, ctx: TaskContext, groups: dict[str, list[str]], ranks: dict[str, int],
                    values: dict[str, float], scores: dict[str, dict[str, float]] | None = None) -> None:
        """The one place a decision reaches the bank: per target, rank 0 removes the candidate
        (the target keeps its reuse path), a rank below the candidate's shrinks it to its first
        ``rank`` directions (``AdapterBank.resize_candidate``), the full rank keeps it; a recruit
        drops its reuse path (its candidate carries the task). Then records every decision."""
        bank, task = ctx.bank, ctx.task_id
        candidates = bank.candidates(task)
        for name, targets in groups.items():
            for target in targets:
                adapter = candidates[target]
                full_rank, full_params, rank = adapter.r, adapter.num_parameters(), ranks[target]
                if not 0 <= rank <= full_rank:
                    raise ValueError(f"gate rank {rank} for {target!r} is outside [0, {full_rank}]")
                if rank == 0:
                    bank.remove_candidate(target, task)
                else:
                    bank.resize_candidate(target, task, rank)
                    drop_reuse(bank, target, task)
                self.record(bank, task, target, group=name, value=values[target], rank=rank, full_rank=full_rank,
                            full_params=full_params, scores=(scores or {}).get(target))

    def record_all_open(self, ctx: TaskContext) -> None:
        """An ungated task (task 0, or a gate forced open): every candidate recruited at full rank."""
        for target, adapter in ctx.bank.candidates(ctx.task_id).items():
            self.record(ctx.bank, ctx.task_id, target, group=target, value=1.0, rank=adapter.r, full_rank=adapter.r,
                        full_params=adapter.num_parameters())


def top_fraction(scores: list[float], budget: float) -> list[bool]:
    """True for the ``round(budget * len(scores))`` highest scores. Ties (common: scores clamp at
    0) go to the earlier group in model order, so a budget's choice is reproducible."""
    k = round(budget * len(scores))
    top = set(sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k])
    return [i in top for i in range(len(scores))]


def earlier_adapters(bank: AdapterBank, target: str, task_id: int) -> list[tuple[str, LoraAdapter]]:
    """(name, adapter) of every adapter of ``target`` that another task than ``task_id`` owns."""
    return [(n, a) for n, a in bank.slot(target).adapters.items() if a.task_id != task_id]  # type: ignore[misc]


def reuse_name(task_id: int) -> str:
    return f"task_{task_id:03d}"


def drop_reuse(bank: AdapterBank, target: str, task_id: int) -> None:
    """Remove a task's reuse path from a target that recruited: its candidate carries the task,
    and a reuse path left training would keep moving the old adapters' function."""
    reuses = bank.slot(target).reuse
    name = reuse_name(task_id)
    if name in reuses:
        reuses[name].requires_grad_(False)
        del reuses[name]


def group_targets(targets: list[str], group: str) -> dict[str, list[str]]:
    """Gate groups: each target (``module``), each block (``layer``: the path up to the
    last numeric component, e.g. ``encoder.layer.3``), or one for the task (``task``)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for t in targets:
        if group == "module":
            key = t
        elif group == "task":
            key = "task"
        else:
            parts = t.split(":")[0].split(".")
            idx = [i for i, p in enumerate(parts) if re.fullmatch(r"\d+", p)]
            key = ".".join(parts[: idx[-1] + 1]) if idx else "model"
        groups[key].append(t)
    return dict(groups)
