"""ContinualModel: a backbone with its adapter bank, and the growing head (the classifier TaskModel)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from litelora._io import load_tensors, read_json, save_tensors, write_json
from litelora.benchmarks.stream import Example, Task
from litelora.training.backbones import Backbone
from litelora.training.heads import GrowingHead
from litelora.training.task_model import TaskModel


class ContinualModel(TaskModel):
    """Backbone features (B, D) -> growing head logits (B, seen classes).

    During a task the loss is cross-entropy over that task's classes only; evaluation takes
    the argmax over every seen class (CIL, DIL) or over the task's classes (TIL).
    """

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = GrowingHead(backbone.feature_dim)
        self.default_targets = list(backbone.default_targets)

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.backbone.encoder

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.backbone(**batch))

    def collate(self, examples: Sequence[Example], task: Task) -> dict[str, torch.Tensor]:
        return self.backbone.collate([ex.input for ex in examples])

    def run(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.backbone(**batch)

    def add_task(self, task: Task) -> list[nn.Parameter]:
        return self.head.add_task(task.classes)

    def end_task(self) -> None:
        self.head.add_task([])  # freezes every block

    def loss(self, batch: dict[str, torch.Tensor], labels: torch.Tensor, task: Task) -> torch.Tensor:
        columns = self.head.columns(task.classes).to(labels.device)
        # Global class ids -> positions within the task's columns.
        lookup = torch.full((max(task.classes) + 1,), -1, dtype=torch.long, device=labels.device)
        lookup[torch.tensor(task.classes, device=labels.device)] = torch.arange(len(task.classes),
                                                                                device=labels.device)
        return F.cross_entropy(self(batch)[:, columns], lookup[labels])

    def count_correct(self, batch: dict[str, torch.Tensor], labels: torch.Tensor, task: Task, scenario: str) -> int:
        logits = self(batch)
        device = logits.device
        class_ids = torch.tensor(self.head.class_ids, device=device)
        if scenario == "til":
            columns = self.head.columns(task.classes).to(device)
            pred = columns[logits[:, columns].argmax(-1)]
        else:
            pred = logits.argmax(-1)
        return int((class_ids[pred] == labels).sum())

    def state(self) -> tuple[Any, dict[str, torch.Tensor]]:
        return self.head.structure(), dict(self.head.state_tensors())

    def load_state(self, structure: Any, tensors: dict[str, torch.Tensor]) -> None:
        self.head.restore(structure, tensors)

    def save(self, run_dir: Path) -> None:
        save_tensors(run_dir / "head" / "head.safetensors", self.head.state_tensors())
        write_json(run_dir / "head" / "head.json", {"feature_dim": self.head.feature_dim,
                                                    "blocks": self.head.structure()})

    def load(self, run_dir: Path) -> None:
        head = read_json(run_dir / "head" / "head.json")
        self.head.restore(head["blocks"], load_tensors(run_dir / "head" / "head.safetensors"))


def as_task_model(model: Backbone | TaskModel) -> TaskModel:
    """A TaskModel as is; a feature backbone gets a growing classifier head."""
    return model if isinstance(model, TaskModel) else ContinualModel(model)
