"""From a RunConfig to the objects of a run (stream, backbone, trainer), failing early."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from litelora.benchmarks import TaskStream, build_benchmark
from litelora.benchmarks.registry import check_options
from litelora.benchmarks.scenarios import merge_tasks
from litelora.errors import ConfigError
from litelora.gates.registry import GATES
from litelora.methods import create_method
from litelora.methods.registry import METHODS
from litelora.training.backbones import build_backbone, check_model_name
from litelora.training.callbacks import Callback
from litelora.training.config import RunConfig
from litelora.training.distributed import check_launch
from litelora.training.pairing import gate_for
from litelora.training.trainer import ContinualTrainer


def build_stream(config: RunConfig) -> TaskStream:
    """The configured benchmark's stream (merged into one task for the ``joint`` method)."""
    stream = _benchmark_stream(config)
    if create_method(config.method.name, config.method.params).wants_joint_stream:
        stream = merge_tasks(stream)
    return stream


def _benchmark_stream(config: RunConfig) -> TaskStream:
    return build_benchmark(config.benchmark.name, **_benchmark_options(config))


def _benchmark_options(config: RunConfig) -> dict[str, Any]:
    b = config.benchmark
    options: dict[str, Any] = dict(b.options)
    options["seed"] = None if b.class_order is not None else b.seed
    options["class_order"] = b.class_order
    if b.data_root is not None:
        options["data_root"] = b.data_root
    return options


def validate(config: RunConfig) -> None:
    """Cross-section checks that need no data or model (method, gate and their pairing, the
    adapter init the method allows, the device and the launch)."""
    method = create_method(config.method.name, config.method.params)
    gate_for(method, config.gate, num_tasks=1)
    method.check_adapter(config.adapter)
    check_device(config.train.device)
    check_launch(config.train.device)


def check_before_training(config: RunConfig, read_data: bool = True) -> TaskStream | None:
    """Every check ``train`` runs before it trains that loads no model weights and downloads
    nothing (``litelora config validate``): ``validate``, the benchmark's options, the stream
    built from its local data and checked (unless not ``read_data``), the gate for its number of
    tasks, and the model's name resolved. Returns the stream (``None`` without ``read_data``)."""
    validate(config)
    check_options(config.benchmark.name, _benchmark_options(config))
    stream = None
    if read_data:
        stream = build_stream(config).validate()
        method = create_method(config.method.name, config.method.params)
        method.check_num_tasks(len(stream.tasks))
        gate_for(method, config.gate, num_tasks=len(stream.tasks))
    check_model_name(config.model)
    return stream


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


def build_trainer(config: RunConfig, callbacks: Sequence[Callback] = ()) -> ContinualTrainer:
    """Validate, then build the stream (data errors surface here) and the model; ``callbacks``
    join the run's own (progress, events, checkpoints)."""
    # The checks run before the data and the weights load, so a bad config fails fast; the
    # trainer runs them again as it builds, and only its warnings are shown (each once). Plugins
    # load first: a broken entry point warns once per process, which the silence would swallow.
    METHODS.load_plugins()
    GATES.load_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        validate(config)
    stream = build_stream(config)
    input_dim = stream.meta.get("input_dim")
    return ContinualTrainer(config, stream, build_backbone(config.model, input_dim), callbacks=callbacks)
