"""Gate registry and the one check every gate shares: the host must add candidates."""

from __future__ import annotations

from litelora._registry import Registry
from litelora.errors import ConfigError
from litelora.gates.base import GatePlugin
from litelora.gates.config import GateConfig
from litelora.gates.hard_concrete import HardConcreteGate
from litelora.gates.litelora import LiteLoRAGate
from litelora.gates.random_choice import RandomGate
from litelora.gates.representability import RepresentabilityGate
from litelora.methods.base import ContinualMethod

GATES: Registry[GatePlugin] = Registry("gate")
GATES.register("litelora")(LiteLoRAGate)
GATES.register("hard_concrete")(HardConcreteGate)
GATES.register("representability")(RepresentabilityGate)
GATES.register("random")(RandomGate)


def build_gate(config: GateConfig, method: ContinualMethod, num_tasks: int, seed: int = 0,
               adapter_lr: float = 1e-3) -> GatePlugin | None:
    """The gate for ``config`` (``None`` for ``kind: none``), checked against the host.

    ``seed`` seeds the gate's own random generator (never the global one, so a run with a gate
    consumes the global stream exactly as its host does); ``adapter_lr`` is the rate reuse paths
    train at unless ``gate.reuse_lr`` says otherwise.

    A method may name a ``default_gate`` (sdlora-kd: the representability gate); it applies
    when ``config.kind`` is ``none``.
    """
    default = getattr(method, "default_gate", None)
    if not config.enabled and default:
        config = GateConfig(**{**default, "first_task_recruits": config.first_task_recruits})
    if not config.enabled:
        return None
    if not method.adds_candidates:
        raise ConfigError(
            f"gate.kind={config.kind!r} needs a method that adds a candidate adapter per task; "
            f"{method.name!r} does not (use inclora, olora, inflora or sdlora)"
        )
    return GATES.create(config.kind, config, num_tasks, seed=seed, adapter_lr=adapter_lr)
