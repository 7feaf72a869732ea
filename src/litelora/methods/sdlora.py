"""sdlora (Wu et al., 2025): frozen, normalised old directions D_i = B_i A_i / ||B_i A_i||_F
reweighted by one trainable magnitude per task shared by every module; plus the -RR (rank
schedule) and -KD (representability gate) variants."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from litelora.adapters.config import AdapterConfig, check_rank
from litelora.adapters.subspace import frobenius_inner
from litelora.errors import ConfigError
from litelora.methods.base import ContinualMethod, TaskContext
from litelora.methods.registry import register_method


def check_rank_schedule(value: Any) -> list[tuple[int, int]]:
    """``[[first_task, rank], ...]`` with strictly increasing first tasks and positive ranks."""
    what = "method.params.rank_schedule"
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{what} must be a non-empty list of [first_task, rank] pairs, got {value!r}")
    pairs: list[tuple[int, int]] = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConfigError(f"{what}[{i}] must be a [first_task, rank] pair, got {pair!r}")
        first, rank = pair
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise ConfigError(f"{what}[{i}]: first_task must be a non-negative int, got {first!r}")
        if pairs and first <= pairs[-1][0]:
            raise ConfigError(f"{what}: first_task values must increase, got {first} after {pairs[-1][0]}")
        pairs.append((first, check_rank(f"{what}[{i}] rank", rank)))
    return pairs


@dataclass
class SDLoRAParams:
    """SD-LoRA's rank schedule.

    rank_schedule: ``[[first_task, rank], ...]``, strictly increasing first tasks: the rank of
        each task's adapter from ``first_task`` on (``null``: the adapter config's rank throughout).
    """

    rank_schedule: list[list[int]] | None = None

    def __post_init__(self) -> None:
        if self.rank_schedule is not None:
            check_rank_schedule(self.rank_schedule)


@dataclass
class SDLoRARRParams(SDLoRAParams):
    """rank_schedule: SD-LoRA-RR's falling ranks: 10, then 8 from task 4, then 6 from task 8."""

    rank_schedule: list[list[int]] | None = field(default_factory=lambda: [[0, 10], [4, 8], [8, 6]])


@register_method("sdlora")
class SDLoRA(ContinualMethod):
    """During task t a target's update is sum_{i<t} alpha_i D_i + alpha_t s B_t A_t.

    Each alpha is one ``nn.Parameter`` assigned as ``magnitude`` of that task's adapter in
    every target. At the end of the task the new adapter is normalised (s ||B A||_F = 1,
    its norm folded into a per-adapter magnitude, so the function is unchanged) and every
    magnitude becomes a separate frozen tensor again: safetensors cannot save aliased
    tensors, and frozen values need no sharing. At the next task's start each earlier task's
    modules share one trainable alpha again, started at their mean magnitude, each module's
    ratio to that mean kept in its frozen B: the function is unchanged there too.
    """

    Params = SDLoRAParams
    keeps_old_adapters = False  # every task retrains the earlier tasks' alphas

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._alphas: list[nn.Parameter] = []
        schedule = self.config.rank_schedule
        self.schedule = None if schedule is None else check_rank_schedule(schedule)

    def rank(self, task_id: int) -> int | None:
        """The scheduled rank of ``task_id`` (``None``: the adapter config's rank)."""
        ranks = [r for first, r in self.schedule or [] if first <= task_id]
        return ranks[-1] if ranks else None

    def check_adapter(self, adapter: AdapterConfig) -> None:
        super().check_adapter(adapter)
        if not self.schedule or self.schedule[0][0] != 0:
            return  # adapter.r sets the ranks the schedule does not
        unused = [f"adapter.r={adapter.r}"] if adapter.r != AdapterConfig().r else []
        unused += ["adapter.rank_pattern"] if adapter.rank_pattern else []
        if unused:
            ranks = " -> ".join(f"{rank} (task {first})" for first, rank in self.schedule)
            verb = "have" if len(unused) > 1 else "has"
            warnings.warn(f"{' and '.join(unused)} {verb} no effect with method {self.name!r}: "
                          f"method.params.rank_schedule sets every task's rank ({ranks}); change that instead",
                          stacklevel=3)

    def before_task(self, ctx: TaskContext) -> list[nn.Parameter]:
        bank = ctx.bank
        params = bank.add_task(ctx.task_id, rank=self.rank(ctx.task_id))  # freezes old magnitudes too
        self._alphas = []
        for task in bank.tasks:
            adapters = list(bank.candidates(task).values())
            if not adapters:  # a gate removed every candidate of that task
                continue
            # Re-initialised each task (as SD-LoRA does), at the mean of the task's per-module folded
            # magnitudes, not at a constant (the paper's code uses 0.8). A module whose own
            # magnitude differs from that mean keeps the difference in its frozen B, so the shared
            # alpha starts where every module already was: the model is unchanged at the task's
            # start, and alpha then scales all of the task's modules alike, as the paper's does.
            # The new task's alpha trains too ("all alpha trainable"), from 1 since B starts at 0.
            start = torch.stack([a.magnitude.detach() for a in adapters]).mean()
            if abs(float(start)) < 1e-12:  # magnitudes that cancel: start at 1, each kept whole in B
                start = torch.ones_like(start)
            alpha = nn.Parameter(start.clone())
            with torch.no_grad():
                for adapter in adapters:
                    adapter.lora_B.mul_(adapter.magnitude.detach() / start)
                    adapter.magnitude = alpha
            params.append(alpha)
            self._alphas.append(alpha)
        return params

    def no_weight_decay(self) -> list[nn.Parameter]:
        # Weight decay would pull every earlier task's alpha, and so its whole update, towards 0.
        return list(self._alphas)

    @torch.no_grad()
    def after_task(self, ctx: TaskContext) -> None:
        super().after_task(ctx)
        for target in ctx.bank.targets:
            for adapter in ctx.bank.slot(target).adapters.values():
                m = adapter.magnitude.detach().clone()
                if adapter.task_id == ctx.task_id:
                    A, B = adapter.lora_A, adapter.lora_B
                    # ||B A||_F from r x r Gram products; a zero update has no direction to keep.
                    norm = float(frobenius_inner(B.double(), A.double(), B.double(), A.double()).clamp_min(0).sqrt())
                    if norm > 0:
                        B.mul_(1.0 / (adapter.scale * norm))
                        m = m * (adapter.scale * norm)
                adapter.magnitude = nn.Parameter(m, requires_grad=False)


@register_method("sdlora-rr")
class SDLoRARR(SDLoRA):
    """SD-LoRA-RR: ranks fall 10 -> 8 -> 6 at tasks 4 and 8 (``rank_schedule``)."""

    Params = SDLoRARRParams


@register_method("sdlora-kd")
class SDLoRAKD(SDLoRA):
    """SD-LoRA-KD: sdlora plus the representability gate (tau 9e-4, scale reuse).

    Methods never build gates; the trainer applies ``default_gate`` when the run's
    ``gate.kind`` is ``"none"``, and an explicit gate config overrides it.
    """

    default_gate: ClassVar[dict[str, Any]] = {"kind": "representability", "params": {"tau": 9e-4}, "reuse": "scale"}
