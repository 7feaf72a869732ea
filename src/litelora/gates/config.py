"""GateConfig: whether and how each task decides how much of a new adapter each module recruits.

Settings every gate shares live here; a gate's own settings live in ``gate.params``, read into
the ``Params`` dataclass that gate declares (``litelora config fields gate`` lists them by gate).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from litelora.errors import ConfigError

GateGroup = Literal["module", "layer", "task"]
ReuseKind = Literal["frozen", "scale", "core"]

# Before gates had typed params their settings were flat ``gate.*`` fields. Configs that still
# write them keep working: ``GateConfig.upgrade`` moves each into ``gate.params`` (FutureWarning,
# once per field) for the gates that read it, and drops it with a warning for any other gate.
LEGACY_FIELDS: dict[str, tuple[str, ...]] = {
    "lam": ("hard_concrete",), "lr": ("hard_concrete",), "decide_at": ("hard_concrete",),
    "threshold": ("hard_concrete",), "init_open": ("hard_concrete",),
    "probe": ("litelora", "litelora-v2", "litelora-v3"), "novelty": ("litelora", "litelora-v2", "litelora-v3"),
    "tau": ("representability",),
}
_warned: set[str] = set()
# A run gates by default (LiteLoRA is the point): ``auto`` is resolved where the host is known
# (``litelora.training.pairing``) to the LiteLoRA gate on hosts that add a candidate per task, the
# method's own gate where it brings one (sdlora-kd), and no gate otherwise (seqlora, joint).
DEFAULT_KIND = "auto"


@dataclass
class GateConfig:
    """Settings of the LiteLoRA gate (see docs/gate.md).

    kind: ``auto`` (default: ``litelora-v3`` on hosts that add a candidate per task, a method's own
        gate where it brings one, no gate on seqlora and joint), ``none`` (the host alone: recruit
        everywhere), ``litelora-v3`` (the LiteLoRA gate: a probe before the task measures what the
        task still asks of each module outside its old adapters' span and how far the old adapters
        carry it, and each module recruits a new adapter at the rank its novel demand needs, 0 =
        reuse), ``litelora-v2`` (its predecessor: a candidate kept whole or removed), ``litelora``
        (the name configs have used since v2, and still v2, so that they keep their meaning; ``auto``
        is what picks v3), ``hard_concrete`` (the first, learned L0 gate, kept as an
        ablation), ``representability`` (training-free: drop a trained candidate whose update the
        earlier adapters represent), ``random`` (a random ``budget`` fraction of groups: the
        ablation a gate's decisions must beat at equal count), ``uniform`` (every module at one
        rank: the evenly spread ablation), ``shuffled`` (another run's ranks per task at random
        modules: the placement ablation), or a gate an installed package
        registers (``litelora list gates``).
    group: one gate per target ``module``, per ``layer`` (all targets of a block) or ``task``.
    budget: fraction of groups recruited per task, in (0, 1]: the top ``round(budget x groups)``
        by the gate's own score, halves rounded to even as Python does (so 0.5 of one group, or
        under half a group, recruits none: closed-after-task-0 is ``budget: 0.001``); ``None``:
        the gate's threshold decides; 1 with litelora: the gate does nothing.
    reuse: what a closed group keeps: ``frozen``, ``scale`` or ``core``.
    reuse_lr: learning rate of the reuse parameters; ``None`` = the adapters' own learning rate.
    first_task_recruits: task 0 has nothing to reuse, so it recruits everywhere.
    params: the gate's own settings (``gate.params.novelty``, ...), checked against the fields
        the gate declares; ``litelora config fields gate`` lists them per gate.
    """

    kind: str = DEFAULT_KIND
    group: GateGroup = "module"
    budget: float | None = None
    reuse: ReuseKind = "frozen"
    reuse_lr: float | None = None
    first_task_recruits: bool = True
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kind or not self.kind.strip():
            raise ConfigError("gate.kind is empty: use 'none' for no gate, or one of `litelora list gates`")
        if self.budget is not None and not 0.0 < self.budget <= 1.0:
            raise ConfigError(f"gate.budget must be in (0, 1] (fraction of groups recruited), got {self.budget}")
        # from_dict checks these too; a GateConfig built in Python (an own loop) meets them here first.
        for name, allowed in (("group", get_args(GateGroup)), ("reuse", get_args(ReuseKind))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"gate.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.reuse_lr is not None and not (math.isfinite(self.reuse_lr) and self.reuse_lr > 0):
            raise ConfigError(f"gate.reuse_lr must be > 0 or null (the adapters' rate), got {self.reuse_lr}")
        if self.reuse == "core" and not self.first_task_recruits:
            raise ConfigError("gate.reuse='core' needs earlier adapters to span: set gate.first_task_recruits=true")
        if not isinstance(self.params, dict):
            raise ConfigError(f"gate.params must be a mapping of the gate's settings, got {self.params!r}")

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    def settings_set(self) -> list[str]:
        """The ``gate.*`` fields set away from their defaults, ``kind`` aside (``params.x`` per param)."""
        defaults = GateConfig(kind="none")
        out = [name for name in ("group", "budget", "reuse", "reuse_lr", "first_task_recruits")
               if getattr(self, name) != getattr(defaults, name)]
        return out + [f"params.{k}" for k in self.params]

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Read the flat layout of older configs: each ``gate.<name>`` of ``LEGACY_FIELDS`` moves
        into ``gate.params`` where the chosen gate reads it (or where no gate is chosen: a method's
        default gate may), and is dropped with a warning naming the gates that read it otherwise."""
        flat = [k for k in data if k in LEGACY_FIELDS]
        if not flat:
            return data
        data = dict(data)
        if not isinstance(data.get("params") or {}, dict):  # read as a mapping below, before the field check
            raise ConfigError(f"gate.params: expected a mapping, got {type(data['params']).__name__} {data['params']!r}")
        params = dict(data.get("params") or {})
        kind = data.get("kind", DEFAULT_KIND)  # auto or none: the gate is not known yet, keep the field
        for name in flat:
            value = data.pop(name)
            readers = LEGACY_FIELDS[name]
            if kind not in ("auto", "none") and kind not in readers:
                warnings.warn(f"gate.{name}={value!r} has no effect with gate.kind={kind!r} (it is read by "
                              f"{', '.join(readers)}); remove it", stacklevel=4)
                continue
            if name in params and params[name] != value:
                raise ConfigError(f"gate.{name}={value!r} and gate.params.{name}={params[name]!r} disagree; "
                                  f"keep gate.params.{name} only")
            params[name] = value
            if name not in _warned:
                _warned.add(name)
                warnings.warn(f"gate.{name} is now gate.params.{name}; the flat field is read for now",
                              FutureWarning, stacklevel=4)
        data["params"] = params
        return data
