"""Run progress and the snapshots that make a checkpoint (what a resume needs, no more)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from litelora._config import to_dict
from litelora.adapters import bank_state_dict, restore_bank
from litelora.errors import ConfigError
from litelora.gates import GateDecision
from litelora.training.checkpoint import rng_state, set_rng_state

# Fields that may differ between a run and its resumption without changing its results.
ALWAYS_MUTABLE = ("output_dir", "train.progress", "train.checkpoint_every", "train.log_every",
                  "train.tensorboard", "train.curve_points")


@dataclass
class Progress:
    """Where a run stands: tasks done, the accuracy matrix so far, per-task accounting."""

    next_task: int = 0
    R: list[list[float]] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    trainable: list[int] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)  # gates.json rows (GateDecision.to_dict)


def task_start_snapshot(trainer: Any) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """Everything fixed at a task boundary: bank, the task model's state (a classifier's head),
    method state, gate records, RNG."""
    rng_json, rng_tensors = rng_state()
    state = {
        "progress": asdict(trainer.progress),
        "bank": trainer.bank.describe(),
        "head": trainer.model.state()[0],
        "rng": rng_json,
    }
    tensors = {
        "start_bank": {k: v.detach().clone() for k, v in bank_state_dict(trainer.bank).items()},
        "start_head": {k: v.detach().clone() for k, v in trainer.model.state()[1].items()},
        "start_method": {k: v.detach().clone() for k, v in trainer.method.state_dict().items()},
        "start_rng": rng_tensors,
    }
    return state, tensors


def restore_task_start(trainer: Any, state: dict[str, Any], tensors: dict[str, dict[str, torch.Tensor]]) -> None:
    restore_bank(trainer.bank, state["bank"], tensors["start_bank"])
    trainer.model.load_state(state["head"], tensors.get("start_head", {}))
    trainer.model.to(trainer.device)
    trainer.method.load_state_dict(tensors.get("start_method", {}), trainer.bank)
    trainer.progress = Progress(**state["progress"])
    if trainer.gate is not None:
        trainer.gate.decisions = [GateDecision.from_dict(row) for row in trainer.progress.decisions]
    set_rng_state(state["rng"], tensors["start_rng"])


def live_model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters a task can change: adapters, reuse, head, and anything trainable."""
    return {n: p.detach().clone() for n, p in model.named_parameters()
            if ".slots." in n or n.startswith("head.") or p.requires_grad}


def load_live_model_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = sorted(set(tensors) - set(params))
    if missing:
        raise ConfigError(f"checkpoint tensors {missing[:3]} do not exist in the rebuilt model")
    # copy_ would broadcast a (1, d) tensor into a (k, d) parameter without a word.
    wrong = [(n, tuple(v.shape), tuple(params[n].shape)) for n, v in tensors.items() if v.shape != params[n].shape]
    if wrong:
        name, saved, built = wrong[0]
        raise ConfigError(f"checkpoint tensor {name!r} has shape {saved}, the rebuilt model's is {built} "
                          f"({len(wrong)} tensor(s) differ): the checkpoint was written with another model or "
                          "adapter configuration; resume with that configuration or start a new run directory")
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value)


def changed_fields(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_fields(a, b, path + ".")
        elif to_dict(a) != to_dict(b):
            out.append(path)
    return out
