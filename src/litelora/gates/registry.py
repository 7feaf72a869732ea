"""The gate registry."""

from __future__ import annotations

import dataclasses
import warnings

from litelora._registry import Registry
from litelora.errors import ConfigError
from litelora.gates.base import COMMON_SETTINGS, GatePlugin
from litelora.gates.config import GateConfig
from litelora.gates.hard_concrete import HardConcreteGate
from litelora.gates.litelora import LiteLoRAGate
from litelora.gates.random_choice import RandomGate
from litelora.gates.representability import RepresentabilityGate

# Plugins: an entry point in group ``litelora.gates`` naming a GatePlugin subclass, built as
# ``cls(config, num_tasks, seed=..., adapter_lr=...)``.
GATES: Registry[GatePlugin] = Registry("gate", group="litelora.gates")
GATES.register("litelora")(LiteLoRAGate)
GATES.register("hard_concrete")(HardConcreteGate)
GATES.register("representability")(RepresentabilityGate)
GATES.register("random")(RandomGate)


def build_gate(config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> GatePlugin | None:
    """The gate for ``config`` (``None`` for ``kind: none``).

    ``seed`` seeds the gate's own random generator (never the global one, so a run with a gate
    consumes the global stream exactly as its host does); ``adapter_lr`` is the rate reuse paths
    train at unless ``gate.reuse_lr`` says otherwise. Which hosts a gate fits is decided where
    the two meet (``litelora.training.pairing``), not here.
    """
    if not config.enabled:
        return None
    try:
        factory = GATES.get(config.kind)
    except ConfigError as err:
        raise ConfigError(f"gate.kind: {err}") from None
    warn_ignored_settings(config, getattr(factory, "settings", frozenset()))
    return factory(config, num_tasks, seed=seed, adapter_lr=adapter_lr)


def warn_ignored_settings(config: GateConfig, reads: frozenset[str]) -> None:
    """Warn about every ``gate.*`` field set away from its default that this gate never reads
    (``gate.lam`` with ``gate.kind=litelora`` changes nothing)."""
    defaults = GateConfig()
    for f in dataclasses.fields(GateConfig):
        if f.name in COMMON_SETTINGS or f.name in reads:
            continue
        value = getattr(config, f.name)
        if value != getattr(defaults, f.name):
            users = [n for n in GATES.list() if f.name in getattr(GATES.get(n), "settings", ())]
            warnings.warn(f"gate.{f.name}={value!r} has no effect with gate.kind={config.kind!r}"
                          + (f" (it is read by {', '.join(users)})" if users else ""), stacklevel=3)
