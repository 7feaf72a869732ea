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
from litelora.models.heads import load_head
from litelora.models.classifier import as_task_model


def peft_model(config: RunConfig, peft_dirs: Sequence[str | os.PathLike[str]],
               head_dir: str | os.PathLike[str] | None = None) -> tuple[TaskStream, TaskModel, list[str]]:
    """The configured stream, and its model with ``peft_dirs`` as tasks 0, 1, ... and the
    classifier head of ``head_dir`` (default: ``litelora_head/`` of the last folder); notes
    where a folder was saved for another base model."""
    head_dir = Path(head_dir) if head_dir else Path(peft_dirs[-1]) / "litelora_head"
    if not (head_dir / "head.json").is_file() or not (head_dir / "head.safetensors").is_file():
        raise ConfigError(f"{head_dir} holds no head.json + head.safetensors: PEFT folders carry no classifier; pass "
                          "--head DIR (the litelora_head folder of a litelora export)")
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
    import_peft_tasks(model.encoder, peft_dirs)
    try:
        head = load_head(head_dir)
    except DataError as err:
        raise ConfigError(str(err)) from None
    if max(head.class_ids, default=-1) >= stream.num_classes:
        raise ConfigError(f"{head_dir}: class id {max(head.class_ids)} is not a class of this benchmark "
                          f"({stream.num_classes} classes): the head belongs to another run")
    model.head.restore(head.structure(), dict(head.state_tensors()), stream.num_classes, where=str(head_dir))
    return stream, model.eval(), notes
