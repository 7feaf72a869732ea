"""The learned LiteLoRA gate: hard-concrete (L0) gates over each task's candidates."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from litelora.errors import ConfigError
from litelora.gates.base import GatePlugin, group_targets, top_fraction
from litelora.gates.config import GateConfig
from litelora.context import TaskContext

BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1  # Louizos et al. (2018)


def deterministic_gate(log_a: torch.Tensor) -> torch.Tensor:
    """z = clamp(sigmoid(log_a) (zeta - gamma) + gamma, 0, 1): the gate at test time."""
    return (torch.sigmoid(log_a) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def sample_gate(log_a: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A reparameterised hard-concrete sample, same shape as ``log_a``; the uniforms come from
    ``generator`` (a CPU generator) when given, else from the global stream."""
    u = torch.rand(log_a.shape, generator=generator).to(log_a.device, log_a.dtype).clamp(1e-6, 1 - 1e-6)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_a) / BETA)
    return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def prob_open(log_a: torch.Tensor) -> torch.Tensor:
    """P(z != 0) = sigmoid(log_a - beta log(-gamma / zeta)): the expected-L0 term."""
    return torch.sigmoid(log_a - BETA * math.log(-GAMMA / ZETA))


def log_a_for(p_open: float) -> float:
    """The log_a whose P(open) is ``p_open``."""
    return math.log(p_open / (1 - p_open)) + BETA * math.log(-GAMMA / ZETA)


@dataclass
class HardConcreteParams:
    """Settings of the ``hard_concrete`` gate.

    lam: weight of the expected-L0 penalty (per unit of relative adapter size), >= 0.
    lr: learning rate of the gate parameters (their own optimizer group), > 0.
    decide_at: fraction of a task's steps before the decision, in (0, 1].
    threshold: recruit where the deterministic gate exceeds it, in (0, 1).
    init_open: the initial P(gate open), in (0, 1).
    """

    lam: float = 0.05
    lr: float = 0.05
    decide_at: float = 0.5
    threshold: float = 0.5
    init_open: float = 0.9

    def __post_init__(self) -> None:
        if self.lam < 0:
            raise ConfigError(f"gate.params.lam must be >= 0, got {self.lam}")
        if self.lr <= 0:
            raise ConfigError(f"gate.params.lr must be > 0, got {self.lr}")
        if not 0.0 < self.decide_at <= 1.0:
            raise ConfigError(f"gate.params.decide_at must be in (0, 1], got {self.decide_at}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"gate.params.threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 < self.init_open < 1.0:
            raise ConfigError(f"gate.params.init_open must be in (0, 1), got {self.init_open}")


class HardConcreteGate(GatePlugin):
    """The first LiteLoRA gate, kept as an ablation: search (candidates, gates and reuse train
    together), decide at ``decide_at`` of the steps (closed candidates are deleted; open ones get
    coefficient 1), then consolidate.

    Its samples come from its own generator, seeded per task from the run's seed, so a gated run
    draws the same global random numbers (initialisations, dropout) as its host.
    """

    Params = HardConcreteParams

    def __init__(self, config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> None:
        super().__init__(config, num_tasks, seed=seed, adapter_lr=adapter_lr)
        self._generator = torch.Generator()
        self.log_a: torch.nn.Parameter | None = None
        self.groups: dict[str, list[str]] = {}
        self.cost: torch.Tensor | None = None
        self._z: torch.Tensor | None = None
        self._decided = True
        self._decision: dict[str, Any] | None = None
        self._bank: Any = None

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        self.log_a, self._z, self._decided = None, None, True
        self._generator.manual_seed(self.seed * 1_000_003 + ctx.task_id)
        if not self.gated(ctx):
            self.record_all_open(ctx)
            return []
        self._bank = ctx.bank
        candidates = ctx.bank.candidates(ctx.task_id)
        self.groups = group_targets(list(candidates), self.config.group)
        sizes = torch.tensor([float(sum(candidates[t].num_parameters() for t in ts)) for ts in self.groups.values()])
        self.cost = sizes / sizes.max()
        device = next(iter(candidates.values())).lora_A.device
        self.log_a = torch.nn.Parameter(torch.full((len(self.groups),), log_a_for(self.params.init_open), device=device))
        for g, targets in enumerate(self.groups.values()):
            for target in targets:
                ctx.bank.set_coefficient(target, ctx.task_id, self._coefficient(g))
        self._decided = False
        reuse = self.attach_reuse(ctx, list(candidates))
        groups = [{"params": [self.log_a], "lr": self.params.lr, "weight_decay": 0.0, "name": "gates"}]
        if reuse:
            groups.append({"params": reuse, "lr": self.reuse_lr, "weight_decay": 0.0, "name": "reuse"})
        return groups

    def _coefficient(self, g: int):  # noqa: ANN202 - a closure over the group index
        return lambda: self.z()[g]

    def z(self) -> torch.Tensor:
        """Gate values for this step: one sample per step while training, deterministic in eval."""
        assert self.log_a is not None
        if not self._bank.model.training:
            return deterministic_gate(self.log_a)
        if self._z is None:
            self._z = sample_gate(self.log_a, self._generator)
        return self._z

    def penalty(self) -> torch.Tensor | None:
        if self._decided or self.log_a is None or self.params.lam == 0:
            return None
        assert self.cost is not None
        return self.params.lam * (self.cost.to(self.log_a.device) * prob_open(self.log_a)).sum()

    def after_step(self, ctx: TaskContext, step: int, total: int) -> bool:
        self._z = None  # resample next step
        search = max(1, round(self.params.decide_at * total))
        if step == 1 and not self._decided:
            self._warn_if_search_too_short(ctx.task_id, search)
        if self._decided or step < search:
            return False
        self.decide(ctx)
        return True

    def _warn_if_search_too_short(self, task_id: int, search_steps: int) -> None:
        """Adam moves a parameter by about its learning rate per step at most, so a gate that
        starts at ``init_open`` cannot cross ``threshold`` in fewer steps than the distance / lr:
        every candidate would be recruited whatever lambda says."""
        if self.config.budget is not None:
            return
        start = log_a_for(self.params.init_open)
        s = (self.params.threshold - GAMMA) / (ZETA - GAMMA)
        distance = start - math.log(s / (1 - s))
        if search_steps * self.params.lr < distance:
            warnings.warn(
                f"task {task_id}: the gate searches for {search_steps} steps, but at gate.params.lr={self.params.lr:g} "
                f"it needs about {math.ceil(distance / self.params.lr)} to close a candidate (from "
                f"gate.params.init_open={self.params.init_open:g} to gate.params.threshold={self.params.threshold:g}); it will "
                "recruit everywhere. This gate's decision is a race between its penalty and gate.params.lr x steps; "
                "gate.kind=litelora decides by novelty instead and does not depend on either.",
                stacklevel=2)

    def after_training(self, ctx: TaskContext) -> None:
        if not self._decided:  # fewer steps than the schedule expected
            self.decide(ctx)

    @torch.no_grad()
    def decide(self, ctx: TaskContext) -> list[bool]:
        """Fix the structure: recruit where z > threshold (or the top ``budget`` groups)."""
        assert self.log_a is not None
        z = deterministic_gate(self.log_a.detach())
        if self.config.budget is not None:
            recruit = top_fraction(z.tolist(), self.config.budget)
        else:
            recruit = [bool(v > self.params.threshold) for v in z]
        self.apply_decision(ctx, recruit, z.tolist())
        return recruit

    def apply_decision(self, ctx: TaskContext, recruit: list[bool], z: list[float]) -> None:
        """Delete closed candidates, give open ones coefficient 1, record the decisions."""
        assert self.log_a is not None
        candidates = ctx.bank.candidates(ctx.task_id)
        ranks, values = {}, {}
        for g, targets in enumerate(self.groups.values()):
            for target in targets:
                adapter = candidates[target]
                if recruit[g]:
                    # Coefficient 1 from now on, with the gate's value folded into B so the
                    # function does not jump at the decision (the candidate learned under z).
                    with torch.no_grad():
                        adapter.lora_B.mul_(z[g])
                    ctx.bank.set_coefficient(target, ctx.task_id, None)
                ranks[target], values[target] = (adapter.r if recruit[g] else 0), float(z[g])
        self.apply_ranks(ctx, self.groups, ranks, values)
        self.log_a.requires_grad_(False)
        self._decided = True
        self._decision = {"recruit": recruit, "z": z}

    def live_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.log_a is None:
            return {}, {}
        return ({"decision": self._decision if self._decided else None},
                {"log_a": self.log_a.detach(), "generator": self._generator.get_state()})

    def load_live_state(self, ctx: TaskContext, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        if self.log_a is None:
            return
        if state.get("decision") is not None:
            self.apply_decision(ctx, state["decision"]["recruit"], state["decision"]["z"])
        with torch.no_grad():
            self.log_a.copy_(tensors["log_a"])
        if "generator" in tensors:
            self._generator.set_state(tensors["generator"].to(torch.uint8).cpu())
