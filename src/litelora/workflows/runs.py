"""A finished run rebuilt from its directory, for evaluation, export and analysis."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litelora._hub import available_offline, hub_offline
from litelora.adapters import AdapterBank, load_bank
from litelora.benchmarks import TaskStream
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


def load_run(run_dir: str | Path, allow_download: bool = False) -> LoadedRun:
    """Rebuild a finished run's model (backbone + bank + what the task model saved) for evaluation or export.

    The model the run's ``config.yaml`` names is loaded from local files and the local Hugging Face
    cache only, unless ``allow_download``: a run directory from elsewhere must not make this
    process fetch (or request) whatever it names.
    """
    from litelora._config import load_yaml

    run = RunDirectory(run_dir)
    run.require_finished()
    config = RunConfig.from_dict(load_yaml(run.path("config.yaml")))
    stream = build_stream(config)
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


def load_run_model(run_dir: str | Path, allow_download: bool = False) -> tuple[RunConfig, TaskStream, TaskModel]:
    """``load_run`` without the bank handle."""
    run = load_run(run_dir, allow_download)
    return run.config, run.stream, run.model
