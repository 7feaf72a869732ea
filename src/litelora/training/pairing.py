"""Where a host method and a gate meet: the gate a run gets, and whether the host can carry it.

Methods never name gate classes and gates never look at methods; a method may only declare a
``default_gate`` config (sdlora-kd: the representability gate), which applies when the run
asks for no gate.
"""

from __future__ import annotations

import dataclasses
import warnings

from litelora.errors import ConfigError
from litelora.gates import GateConfig, GatePlugin, build_gate
from litelora.gates.config import DEFAULT_KIND
from litelora.methods import ContinualMethod, create_method
from litelora.training.config import RunConfig

# What ``gate.kind: auto`` becomes on a host that adds a candidate per task.
AUTO_GATE = "litelora-v3"
# ... and its settings where the model trains no head and every task names its K classes: the base
# model's loss there is mostly the answer format, which the first adapter teaches, so reading the
# unsolved share against the base ("carried") reads most later tasks as solved; against ln K it
# ended 2.2 and 4.1 points under the host where carried ended 12.5 and 13.1 (docs/evidence.md,
# the two generative family streams, 3 task orders each).
AUTO_HEADLESS_PARAMS = {"unsolved": "chance"}


def gate_config_for(method: ContinualMethod, config: GateConfig, headless: bool = False) -> GateConfig:
    """``config``, or the method's ``default_gate`` when ``config`` asks for none (the run's own
    ``gate.*`` settings applied over it: ``gate.params.tau`` tunes sdlora-kd's gate); checked
    against the host (a gate decides over candidates, so the host must add one per task and target).
    A run with no gate at all that sets a ``gate.*`` field is warned: nothing reads it.
    ``headless``: the model trains no head and every task has at least 2 classes; ``gate.kind:
    auto`` then adds ``AUTO_HEADLESS_PARAMS`` under any ``gate.params`` the run set."""
    default = getattr(method, "default_gate", None)
    if config.kind == DEFAULT_KIND and not default:
        # auto: the LiteLoRA gate where the host adds candidates for it to size, else none
        kind = AUTO_GATE if method.adds_candidates else "none"
        params = {**AUTO_HEADLESS_PARAMS, **config.params} if headless and kind == AUTO_GATE else config.params
        config = dataclasses.replace(config, kind=kind, params=params)
        if kind == "none":
            return config
    # A method that brings its own gate (sdlora-kd: SD-LoRA with the representability gate) keeps it
    # unless the run names another.
    if default and config.kind in ("none", DEFAULT_KIND):
        base = GateConfig(**default)
        changed = {name: getattr(config, name) for name in ("group", "budget", "reuse", "reuse_lr",
                                                            "first_task_recruits")
                   if getattr(config, name) != getattr(GateConfig(kind="none"), name)}
        config = GateConfig(**{**default, **changed, "first_task_recruits": config.first_task_recruits,
                               "params": {**base.params, **config.params}})
    elif not config.enabled and config.settings_set():
        fields = ", ".join(f"gate.{name}" for name in config.settings_set())
        warnings.warn(f"{fields} has no effect: gate.kind='none' and method {method.name!r} brings no gate of its "
                      "own; set gate.kind (e.g. litelora) or remove it", stacklevel=3)
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


def resolve_gate(config: RunConfig, headless: bool = False) -> RunConfig:
    """``config`` with its gate as the run gets it (``gate.kind: auto`` resolved against the method
    and, by ``headless``, the model: see ``gate_config_for``), so the run records the gate that ran.
    Silent: the gate built from it warns about its settings, once."""
    method = create_method(config.method.name, config.method.params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dataclasses.replace(config, gate=gate_config_for(method, config.gate, headless))
