"""The gate registry."""

from __future__ import annotations

import dataclasses
from typing import Any

from litelora._config_docs import field_default
from litelora._registry import Registry
from litelora.errors import ConfigError
from litelora.gates.base import GatePlugin
from litelora.gates.config import DEFAULT_KIND, GateConfig
from litelora.gates.hard_concrete import HardConcreteGate
from litelora.gates.litelora import LiteLoRAGate
from litelora.gates.litelora_v3 import LiteLoRAV3Gate
from litelora.gates.random_choice import RandomGate
from litelora.gates.representability import RepresentabilityGate
from litelora.gates.shuffled import ShuffledGate
from litelora.gates.uniform import UniformRankGate

# Plugins: an entry point in group ``litelora.gates`` naming a GatePlugin subclass, built as
# ``cls(config, num_tasks, seed=..., adapter_lr=...)``; its settings come in ``gate.params``, read
# into the class's ``Params`` dataclass.
GATES: Registry[GatePlugin] = Registry("gate", group="litelora.gates")
GATES.register("litelora-v2")(LiteLoRAGate)
GATES.register("litelora-v3")(LiteLoRAV3Gate)
# ``litelora`` keeps the meaning configs gave it when it was written (v2); ``gate.kind: auto``, the
# default, picks v3 (``litelora.training.pairing``). Each version stays reachable by its own name.
LITELORA_DEFAULT = "litelora-v2"
GATES.register("litelora")(GATES.get(LITELORA_DEFAULT))
GATES.register("hard_concrete")(HardConcreteGate)
GATES.register("representability")(RepresentabilityGate)
GATES.register("random")(RandomGate)
GATES.register("uniform")(UniformRankGate)
GATES.register("shuffled")(ShuffledGate)


def gate_params_class(kind: str) -> type | None:
    """The ``Params`` dataclass of gate ``kind`` (``None``: it takes no settings)."""
    return getattr(GATES.get(kind), "Params", None)


def params_with_defaults(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every default of gate ``kind``'s ``Params`` filled in: one setting whether a
    config writes a default out or leaves it (``params`` as given where ``kind`` is not registered)."""
    cls = gate_params_class(kind) if kind in GATES else None
    if cls is None:
        return dict(params)
    return {**{f.name: field_default(f) for f in dataclasses.fields(cls)}, **params}


def readers_of(name: str) -> list[str]:
    """The registered gates whose ``Params`` declare a field ``name``."""
    out = []
    for kind in GATES.list():
        params = getattr(GATES.get(kind), "Params", None)
        if params is not None and name in getattr(params, "__dataclass_fields__", {}):
            out.append(kind)
    return out


def build_gate(config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> GatePlugin | None:
    """The gate for ``config`` (``None`` for ``kind: none``).

    ``seed`` seeds the gate's own random generator (never the global one, so a run with a gate
    consumes the global stream exactly as its host does); ``adapter_lr`` is the rate reuse paths
    train at unless ``gate.reuse_lr`` says otherwise. Which hosts a gate fits is decided where
    the two meet (``litelora.training.pairing``), not here. A ``gate.params`` key the gate does not
    declare fails, naming the gates that do read it.
    """
    if not config.enabled:
        return None
    if config.kind == DEFAULT_KIND:
        raise ConfigError("gate.kind='auto' is resolved against the method (litelora.training.pairing.gate_for); "
                          "build_gate needs a gate's own name")
    try:
        factory = GATES.get(config.kind)
    except ConfigError as err:
        raise ConfigError(f"gate.kind: {err}") from None
    params = getattr(factory, "Params", None)
    known = set(getattr(params, "__dataclass_fields__", {})) if params is not None else set()
    for key in config.params:
        if key not in known:
            others = [k for k in readers_of(key) if k != config.kind]
            where = f" (it is read by {', '.join(others)})" if others else ""
            fields = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"gate.params.{key} is not a setting of gate.kind={config.kind!r}{where}; "
                              f"its settings: {fields}")
    return factory(config, num_tasks, seed=seed, adapter_lr=adapter_lr)
