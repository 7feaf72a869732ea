"""A finished run rebuilt from its directory, for evaluation, export and analysis."""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from litelora._hub import available_offline, hub_offline
from litelora.adapters import AdapterBank, load_bank
from litelora.benchmarks import BENCHMARKS, Example, TaskStream
from litelora.errors import ConfigError
from litelora.models.task_model import TaskModel
from litelora.reporting import RunDirectory
from litelora.training.backbones import build_backbone
from litelora.training.build import build_stream
from litelora.training.config import RunConfig
from litelora.models.classifier import as_task_model


@dataclass
class LoadedRun:
    """A finished run rebuilt from its directory: the model with its bank (and head, if any)."""

    config: RunConfig
    stream: TaskStream
    model: TaskModel
    bank: AdapterBank


def load_run(run_dir: str | Path, allow_download: bool = False, test_extra: int = 0) -> LoadedRun:
    """Rebuild a finished run's model (backbone + bank + what the task model saved) for evaluation or export.

    The model the run's ``config.yaml`` names is loaded from local files and the local Hugging Face
    cache only, unless ``allow_download``: a run directory from elsewhere must not make this
    process fetch (or request) whatever it names. ``test_extra``: the stream gets that many more
    test examples per class (:func:`with_extra_test`).
    """
    from litelora._config import load_yaml

    run = RunDirectory(run_dir)
    run.require_finished()
    config = RunConfig.from_dict(load_yaml(run.path("config.yaml")))
    stream = build_stream(config)
    if test_extra:
        stream = with_extra_test(config, stream, test_extra)
    name = config.model.name
    if name.startswith("hf:") and not allow_download and not available_offline(name[3:]):
        raise ConfigError(f"{run.path('config.yaml')}: model.name={name!r} is not on this machine (no such folder, "
                          "not in the Hugging Face cache); litelora does not download what a run directory names: "
                          "fetch it yourself, or pass --allow-download")
    with hub_offline(not allow_download):
        backbone = build_backbone(config.model, stream.meta.get("input_dim"))
    model = as_task_model(backbone, config.model.head, config.model.alignment, config.train.seed)
    model.attach(stream)
    bank = load_bank(model.encoder, run.adapters)
    model.load(run.root)
    return LoadedRun(config, stream, model.eval(), bank)


def load_run_model(run_dir: str | Path, allow_download: bool = False, test_extra: int = 0
                   ) -> tuple[RunConfig, TaskStream, TaskModel]:
    """``load_run`` without the bank handle."""
    run = load_run(run_dir, allow_download, test_extra)
    return run.config, run.stream, run.model


def with_extra_test(config: RunConfig, stream: TaskStream, extra: int) -> TaskStream:
    """The run's stream rebuilt with ``extra`` more test examples per class (the benchmark's
    ``test_extra`` option on top of the run's own), after checking that every task keeps its
    training examples and its test examples: a larger test set for the same trained model, never
    one that reads what it trained on."""
    options = dict(config.benchmark.options)
    builder = inspect.signature(BENCHMARKS.get(config.benchmark.name)).parameters
    if "test_extra" not in builder:
        raise ConfigError(f"--test-extra: benchmark {config.benchmark.name!r} cannot add test examples (its builder "
                          "takes no test_extra option); score the run on its own test set")
    options["test_extra"] = int(options.get("test_extra") or 0) + extra
    bigger = build_stream(replace(config, benchmark=replace(config.benchmark, options=options)))
    if [t.name for t in bigger.tasks] != [t.name for t in stream.tasks]:
        raise ConfigError("--test-extra: the rebuilt stream has other tasks than the run's")
    for old, new in zip(stream.tasks, bigger.tasks):
        if _keys(new.train) != _keys(old.train) or Counter(_keys(old.test)) - Counter(_keys(new.test)):
            raise ConfigError(f"--test-extra: task {old.name}'s training data or test examples change when test "
                              "examples are added (the installed data differ from the run's?); score the run "
                              "on its own test set")
    return bigger


def _keys(examples: list[Example]) -> list[tuple[object, int]]:
    """Comparable (input, label) pairs: text as is, a tensor by its bytes."""
    return [(ex.input if isinstance(ex.input, str) else bytes(ex.input.numpy().tobytes()), ex.label)
            for ex in examples]
