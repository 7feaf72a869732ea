"""PEFT LoRA folders (one per task, trained anywhere) as a litelora classifier to evaluate."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from litelora._io import read_json
from litelora.adapters import import_peft_tasks
from litelora.adapters.peft_io import CONFIG_FILE
from litelora.benchmarks import TaskStream
from litelora.errors import ConfigError, DataError
from litelora.models.backbone import hub_id
from litelora.models.task_model import TaskModel
from litelora.training.backbones import build_backbone
from litelora.training.build import build_stream
from litelora.training.config import RunConfig
from litelora.models.classifier import as_task_model
from litelora.models.heads import load_head
from litelora.workflows.head_meta import check_head, folder_contents, model_pooling


def peft_model(config: RunConfig, peft_dirs: Sequence[str | os.PathLike[str]],
               head_dir: str | os.PathLike[str] | None = None) -> tuple[TaskStream, TaskModel, list[str]]:
    """The configured stream, and its model with ``peft_dirs`` as tasks 0, 1, ... and the
    classifier head of ``head_dir`` (default: ``litelora_head/`` of the last folder); notes
    where a folder was saved for another base model."""
    given = head_dir is not None
    head_dir = Path(head_dir) if head_dir else Path(peft_dirs[-1]) / "litelora_head"
    if not (head_dir / "head.json").is_file() or not (head_dir / "head.safetensors").is_file():
        what = folder_contents(head_dir if given else Path(peft_dirs[-1]))
        raise ConfigError(f"no litelora classifier head at {head_dir} ({what}); pass --head DIR, a folder holding "
                          "head.json + head.safetensors (the litelora_head/ of a litelora export)")
    stream = build_stream(config)
    model = as_task_model(build_backbone(config.model, stream.meta.get("input_dim")))
    if not hasattr(model, "head"):
        raise ConfigError(f"model {config.model.name!r} has no classifier head; eval --peft scores classifiers")
    wanted = {config.model.name, hub_id(config.model.name)} - {None}
    notes = []
    for d in peft_dirs:
        cfg_path = Path(d) / CONFIG_FILE
        try:
            base = read_json(cfg_path).get("base_model_name_or_path") if cfg_path.is_file() else None
        except (OSError, ValueError, AttributeError):
            base = None  # import_peft_tasks names what is wrong with the file
        if base and base not in wanted:
            notes.append(f"{d} was saved for base model {base!r}; evaluating on {config.model.name!r}")
    try:
        head = load_head(head_dir)  # names the file and field of a malformed head
        info = read_json(head_dir / "head.json")
    except (DataError, ValueError) as err:
        raise ConfigError(str(err)) from None
    notes += check_head(info, head_dir / "head.json", stream, model.head.feature_dim, model_pooling(model))
    import_peft_tasks(model.encoder, peft_dirs)
    model.head.restore(head.structure(), dict(head.state_tensors()), stream.num_classes, where=str(head_dir))
    return stream, model.eval(), notes
