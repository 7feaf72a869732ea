"""Where a host method and a gate meet: the gate a run gets, and whether the host can carry it.

Methods never name gate classes and gates never look at methods; a method may only declare a
``default_gate`` config (sdlora-kd: the representability gate), which applies when the run
asks for no gate.
"""

from __future__ import annotations

from litelora.errors import ConfigError
from litelora.gates import GateConfig, GatePlugin, build_gate
from litelora.methods import ContinualMethod


def gate_config_for(method: ContinualMethod, config: GateConfig) -> GateConfig:
    """``config``, or the method's ``default_gate`` when ``config`` asks for none; checked against
    the host (a gate decides over candidates, so the host must add one per task and target)."""
    default = getattr(method, "default_gate", None)
    if not config.enabled and default:
        config = GateConfig(**{**default, "first_task_recruits": config.first_task_recruits})
    if config.enabled and not method.adds_candidates:
        raise ConfigError(
            f"gate.kind={config.kind!r} needs a method that adds a candidate adapter per task; "
            f"{method.name!r} does not (use inclora, olora, inflora or sdlora)"
        )
    return config


def gate_for(method: ContinualMethod, config: GateConfig, num_tasks: int, seed: int = 0,
             adapter_lr: float = 1e-3) -> GatePlugin | None:
    """The gate a run of ``method`` with ``config`` gets (``None``: no gate)."""
    return build_gate(gate_config_for(method, config), num_tasks, seed=seed, adapter_lr=adapter_lr)
