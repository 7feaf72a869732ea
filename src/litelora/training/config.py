"""RunConfig: everything a continual run needs, validated before any work starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from litelora._config import from_dict, to_dict
from litelora.adapters.config import AdapterConfig
from litelora.errors import ConfigError
from litelora.gates.config import GateConfig
from litelora.models.config import ModelConfig
from litelora.training.optim import LR_SCHEDULES

MAX_BATCH = 1 << 20
MAX_EPOCHS = 10_000
MAX_THREADS = 1024
# Each point evaluates the whole test set of the task: a few per task read a curve's shape.
MAX_CURVE_POINTS = 16
MAX_SEED = 2**32 - 1  # what NumPy's legacy seeding accepts
MAX_STEPS = 10_000_000
# Far above any learning rate that trains, and far below float32's range: 1e300 overflows the
# optimizer's first step instead of failing here.
MAX_LR = 1e4


def check_seed(name: str, seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{name} must be between 0 and {MAX_SEED} (2**32 - 1), got {seed}")


@dataclass
class BenchmarkConfig:
    """Which task stream to build.

    name: a registered benchmark (``litelora list benchmarks``).
    seed: seed of the class-order shuffle (not used when ``class_order`` is given).
    class_order: an explicit class order (distinct class ids); replaces the seeded shuffle.
    data_root: folder holding the benchmark's data, for benchmarks read from disk (``olora``).
    options: keyword arguments of the benchmark's builder (e.g. ``num_tasks``, ``train_per_class``).
    """

    name: str = "families"
    seed: int | None = 0
    class_order: list[int] | None = None
    data_root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seed is not None:
            check_seed("benchmark.seed", self.seed)


@dataclass
class MethodConfig:
    """The host method and its own hyper-parameters.

    name: a registered method (``litelora list methods``).
    params: the method's own hyper-parameters (e.g. ``lambda_1`` of ``olora``); unknown keys fail.
    """

    name: str = "inclora"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """The training loop.

    epochs: passes over each task's training set (fractions allowed).
    max_steps_per_task: cap on optimizer steps per task; ``null`` = no cap.
    batch_size: training examples per step.
    eval_batch_size: examples per forward pass during evaluation.
    lr: learning rate of the adapters.
    head_lr: learning rate of the classifier head.
    weight_decay: AdamW weight decay.
    lr_schedule: ``constant``, or ``cosine`` (every group's rate decays from its value to 0 over
        each task's steps, as the InfLoRA / SD-LoRA vision protocols train).
    seed: seed of parameter init, shuffling and dropout.
    log_every: steps between ``train`` events (mean loss, samples/s).
    num_threads: torch CPU threads; ``null`` = torch's default.
    device: torch device, e.g. ``cpu`` or ``cuda:0``.
    progress: show a progress display (a bar on a terminal, plain lines otherwise).
    checkpoint_every: steps between mid-task checkpoints; 0 = only at the end of each task.
    curve_points: evaluate the task being trained on its test set at up to this many evenly spaced
        steps inside its training (1: halfway), besides its end: a learning curve per task
        (``curve`` events, ``task_curves`` in results.json) that says whether the task's accuracy
        had stopped rising. Read only; nothing stops or selects on it. 0 = off.
    tensorboard: also write TensorBoard scalars to ``RUN_DIR/tensorboard`` (extra ``tensorboard``).
    fold_frozen: while a task trains, run the earlier adapters nothing trains (frozen, ungated)
        as part of a working copy of each layer's weight, so a step costs the same with 1 or 50
        tasks in the bank; the base weights are restored exactly at the end of the task. Layers
        whose adapters are wider than their weight (float32 adapters of a bfloat16 layer) are not
        folded: it would round the adapters' update to the weight's precision.
    sharding: with several processes, ``none`` replicates the model on each (data parallel) and
        ``fsdp`` shards the frozen base weights across them (FSDP2 ``fully_shard`` per transformer
        block), for models that do not fit one device; adapters, reuse paths and the head stay
        whole on every rank and their gradients are averaged. ``fsdp`` does not fold (see
        ``fold_frozen``) and every rank evaluates the whole test set.
    """

    epochs: float = 2.0
    max_steps_per_task: int | None = None
    batch_size: int = 16
    eval_batch_size: int = 64
    lr: float = 1e-3
    head_lr: float = 1e-2
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    seed: int = 0
    log_every: int = 10
    num_threads: int | None = None
    device: str = "cpu"
    progress: bool = True
    checkpoint_every: int = 0
    curve_points: int = 0
    tensorboard: bool = False
    fold_frozen: bool = True
    sharding: Literal["none", "fsdp"] = "none"

    def __post_init__(self) -> None:
        for name in ("lr", "head_lr", "epochs"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"train.{name} must be > 0, got {getattr(self, name)}")
        for name in ("lr", "head_lr"):
            if getattr(self, name) > MAX_LR:
                raise ConfigError(f"train.{name}={getattr(self, name)} is above {MAX_LR:g}; learning rates are "
                                  "usually 1e-5 to 1e-1")
        for name in ("batch_size", "eval_batch_size", "log_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"train.{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) > MAX_BATCH:
                raise ConfigError(f"train.{name}={getattr(self, name)} is above {MAX_BATCH}; use a batch that "
                                  "fits in memory (e.g. 16-256)")
        if self.epochs > MAX_EPOCHS:
            raise ConfigError(f"train.epochs={self.epochs} is above {MAX_EPOCHS}; cap the work with "
                              "train.max_steps_per_task instead")
        check_seed("train.seed", self.seed)
        if self.num_threads is not None and not 1 <= self.num_threads <= MAX_THREADS:
            raise ConfigError(f"train.num_threads must be between 1 and {MAX_THREADS}, or null for torch's "
                              f"default, got {self.num_threads}")
        if self.weight_decay < 0:
            raise ConfigError(f"train.weight_decay must be >= 0, got {self.weight_decay}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"train.lr_schedule must be one of {list(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"train.checkpoint_every must be >= 0 steps (0: only at task ends), "
                              f"got {self.checkpoint_every}")
        if not 0 <= self.curve_points <= MAX_CURVE_POINTS:
            raise ConfigError(f"train.curve_points must be between 0 (off) and {MAX_CURVE_POINTS}, "
                              f"got {self.curve_points}")
        if self.max_steps_per_task is not None and self.max_steps_per_task <= 0:
            raise ConfigError(f"train.max_steps_per_task must be > 0 or null, got {self.max_steps_per_task}")
        if self.max_steps_per_task is not None and self.max_steps_per_task > MAX_STEPS:
            raise ConfigError(f"train.max_steps_per_task={self.max_steps_per_task} is above {MAX_STEPS}; use null "
                              "for no cap (train.epochs then sets the steps)")


@dataclass
class RunConfig:
    """A whole run: one section per part, plus where it writes.

    output_dir: the run directory (``litelora train -o`` overrides it).
    """

    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output_dir: str = os.path.join("runs", "default")

    def __post_init__(self) -> None:
        if not self.output_dir.strip():
            raise ConfigError("output_dir is empty; name the run directory (-o DIR)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)
