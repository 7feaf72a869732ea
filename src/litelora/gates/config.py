"""GateConfig: whether and how each task decides between recruiting and reusing adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from litelora.errors import ConfigError

GateGroup = Literal["module", "layer", "task"]
ReuseKind = Literal["frozen", "scale", "core"]


@dataclass
class GateConfig:
    """Settings of the LiteLoRA gate (see docs/gate.md).

    kind: ``none`` (recruit everywhere), ``litelora`` (the LiteLoRA gate: a probe before the task
        measures what the task still asks of each module outside its old adapters' span, and a
        module recruits where that score exceeds ``novelty``),
        ``hard_concrete`` (the first, learned L0 gate, kept as an ablation) or
        ``representability`` (training-free: drop a trained candidate whose update the
        earlier adapters represent with residual < ``tau``) or ``random`` (a random ``budget``
        fraction of groups: the ablation a gate's decisions must beat at equal count), or a gate
        an installed package registers (``litelora list gates``).
    group: one gate per target ``module``, per ``layer`` (all targets of a block) or ``task``.
    lam: hard_concrete only: weight of the expected-L0 penalty (per unit of relative adapter size).
    lr: hard_concrete only: learning rate of the gate parameters (their own optimizer group).
    decide_at: hard_concrete only: fraction of a task's steps before the decision, in (0, 1].
    threshold: hard_concrete only: recruit where the deterministic gate exceeds it.
    probe: litelora only: length of the probe that runs before a gated task (candidates held out,
        the head trains, the need is measured; then everything is undone), as a fraction of the
        task's training steps (at least 4 steps), in (0, 1].
    novelty: litelora only: recruit where the module's score (need x unsolved, in [0, 1]) exceeds
        it, in [0, 1) (ignored with ``budget``); higher recruits fewer.
    budget: fraction of groups recruited per task, in (0, 1]: the top by score (litelora), gate
        value (hard_concrete), residual (representability) or at random (random); ``None`` = use
        the threshold (1 with litelora: the gate does nothing, the run is its host's).
    reuse: what a closed group keeps: ``frozen``, ``scale`` or ``core``.
    reuse_lr: learning rate of the reuse parameters; ``None`` = the adapters' own learning rate.
    init_open: hard_concrete only: the initial P(gate open).
    first_task_recruits: task 0 has nothing to reuse, so it recruits everywhere.
    tau: representability threshold (SD-LoRA-KD uses 9e-4).
    """

    kind: str = "none"
    group: GateGroup = "module"
    lam: float = 0.05
    lr: float = 0.05
    decide_at: float = 0.5
    threshold: float = 0.5
    probe: float = 0.3
    novelty: float = 0.2
    budget: float | None = None
    reuse: ReuseKind = "frozen"
    reuse_lr: float | None = None
    init_open: float = 0.9
    first_task_recruits: bool = True
    tau: float = 9e-4

    def __post_init__(self) -> None:
        if not self.kind or not self.kind.strip():
            raise ConfigError("gate.kind is empty: use 'none' for no gate, or one of `litelora list gates`")
        if self.lam < 0:
            raise ConfigError(f"gate.lam must be >= 0, got {self.lam}")
        if self.lr <= 0:
            raise ConfigError(f"gate.lr must be > 0, got {self.lr}")
        if not 0.0 < self.decide_at <= 1.0:
            raise ConfigError(f"gate.decide_at must be in (0, 1], got {self.decide_at}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"gate.threshold must be in (0, 1), got {self.threshold}")
        if self.budget is not None and not 0.0 < self.budget <= 1.0:
            raise ConfigError(f"gate.budget must be in (0, 1] (fraction of groups recruited), got {self.budget}")
        if not 0.0 < self.init_open < 1.0:
            raise ConfigError(f"gate.init_open must be in (0, 1), got {self.init_open}")
        if self.tau < 0:
            raise ConfigError(f"gate.tau must be >= 0, got {self.tau}")
        if not 0.0 < self.probe <= 1.0:
            raise ConfigError(f"gate.probe must be in (0, 1] (fraction of a task's training steps), got {self.probe}")
        if not 0.0 <= self.novelty < 1.0:
            raise ConfigError(f"gate.novelty must be in [0, 1) (the novelty score a module must exceed), got {self.novelty}")
        if self.reuse_lr is not None and self.reuse_lr <= 0:
            raise ConfigError(f"gate.reuse_lr must be > 0 or null (the adapters' rate), got {self.reuse_lr}")
        if self.reuse == "core" and not self.first_task_recruits:
            raise ConfigError("gate.reuse='core' needs earlier adapters to span: set gate.first_task_recruits=true")

    @property
    def enabled(self) -> bool:
        return self.kind != "none"
