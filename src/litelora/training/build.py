"""From a RunConfig to the objects of a run (stream, backbone, trainer), failing early."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from litelora.benchmarks import TaskStream, build_benchmark
from litelora.benchmarks.scenarios import merge_tasks
from litelora.errors import ConfigError
from litelora.methods import create_method
from litelora.training.backbones import build_backbone
from litelora.training.callbacks import Callback
from litelora.training.config import RunConfig
from litelora.training.pairing import gate_config_for, gate_for
from litelora.training.trainer import ContinualTrainer


def build_stream(config: RunConfig) -> TaskStream:
    """The configured benchmark's stream (merged into one task for the ``joint`` method)."""
    stream = _benchmark_stream(config)
    if create_method(config.method.name, config.method.params).wants_joint_stream:
        stream = merge_tasks(stream)
    return stream


def _benchmark_stream(config: RunConfig) -> TaskStream:
    b = config.benchmark
    options: dict[str, Any] = dict(b.options)
    options["seed"] = None if b.class_order is not None else b.seed
    options["class_order"] = b.class_order
    if b.data_root is not None:
        options["data_root"] = b.data_root
    return build_benchmark(b.name, **options)


def validate(config: RunConfig) -> None:
    """Cross-section checks that need no data or model (method, gate and their pairing)."""
    method = create_method(config.method.name, config.method.params)
    gate_for(method, config.gate, num_tasks=1)
    check_device(config.train.device)


def check_device(name: str) -> torch.device:
    """``name`` as a torch device this process can use (``cpu``, ``cuda``, ``cuda:N``)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"train.device={name!r} is not a device name; use 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"train.device={name!r}: only 'cpu' and 'cuda[:N]' are supported")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device={name!r} but no CUDA device is available; use 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"train.device={name!r} but this machine has {torch.cuda.device_count()} CUDA "
                              "device(s); pick an index below that")
    return device


def resolve_gate(config: RunConfig) -> RunConfig:
    """``config`` with its gate as the run gets it (``gate.kind: auto`` resolved against the method),
    so the run directory records the gate that ran."""
    method = create_method(config.method.name, config.method.params)
    return dataclasses.replace(config, gate=gate_config_for(method, config.gate))


def build_trainer(config: RunConfig, callbacks: Sequence[Callback] = ()) -> ContinualTrainer:
    """Validate, then build the stream (data errors surface here) and the model; ``callbacks``
    join the run's own (progress, events, checkpoints)."""
    validate(config)
    config = resolve_gate(config)
    stream = build_stream(config)
    input_dim = stream.meta.get("input_dim")
    return ContinualTrainer(config, stream, build_backbone(config.model, input_dim), callbacks=callbacks)
