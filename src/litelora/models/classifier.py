"""ContinualModel: a backbone with its adapter bank, and the growing head (the classifier TaskModel)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from litelora._io import load_tensors, read_json, save_tensors, write_json
from litelora._paths import confined
from litelora.benchmarks.stream import Example, Task, TaskStream
from litelora.errors import ConfigError, DataError
from litelora.models.aligned_head import AlignedHead
from litelora.models.config import AlignmentConfig
from litelora.models.backbone import Backbone
from litelora.models.heads import GrowingHead

HEADS = ("linear", "aligned")
Batches = Callable[[], Iterable[tuple[dict[str, torch.Tensor], torch.Tensor]]]
from litelora.models.task_model import TaskModel


class ContinualModel(TaskModel):
    """Backbone features (B, D) -> growing head logits (B, seen classes).

    During a task the loss is cross-entropy over that task's classes only; evaluation takes
    the argmax over every seen class (CIL, DIL) or over the task's classes (TIL). With
    ``head="aligned"`` every row is re-fitted after each task on features sampled from the seen
    classes' Gaussians (:class:`AlignedHead`), so rows of different tasks compete in training too.
    """

    def __init__(self, backbone: Backbone, head: str = "linear", alignment: AlignmentConfig | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        if head not in HEADS:
            raise ConfigError(f"model.head must be one of {list(HEADS)}, got {head!r}")
        self.backbone = backbone
        self.head = (AlignedHead(backbone.feature_dim, alignment, seed) if head == "aligned"
                     else GrowingHead(backbone.feature_dim))
        self.default_targets = list(backbone.default_targets)
        self._num_classes: int | None = None  # the attached stream's, to check a loaded head against

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

    def begin_task(self, task: Task, batches: Batches) -> None:
        """Before the task trains: with drift compensation, keep the task's features as the model
        sees them now (discarded at ``end_task``)."""
        self._before = None
        if isinstance(self.head, AlignedHead) and self.head.config.drift == "sdc" and self.head.stats:
            self._before = torch.cat([f for f, _ in self._features(batches)])

    def end_task(self, task: Task | None = None, batches: Batches | None = None) -> None:
        self.head.add_task([])  # freezes every block
        if isinstance(self.head, AlignedHead) and task is not None and batches is not None:
            features = self._features(batches)
            before = getattr(self, "_before", None)
            if before is not None:
                self.head.compensate_drift(before, torch.cat([f for f, _ in features]))
                self._before = None
            self.head.learn_classes(features, [c for c in task.classes if c not in self.head.stats])
            self.head.align(task.task_id)

    @torch.no_grad()
    def _features(self, batches: Batches) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(pooled features (B, D) on the CPU, labels) of every batch, in eval mode."""
        was_training = self.training
        self.eval()
        out = [(self.backbone(**batch).float().cpu(), labels.cpu()) for batch, labels in batches()]
        self.train(was_training)
        return out

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

    def attach(self, stream: TaskStream) -> None:
        self._num_classes = stream.num_classes

    def save(self, run_dir: Path) -> None:
        save_tensors(confined(run_dir, "head", "head.safetensors"), self.head.state_tensors())
        write_json(confined(run_dir, "head", "head.json"), {
            "feature_dim": self.head.feature_dim, "blocks": self.head.structure(),
            "kind": "aligned" if isinstance(self.head, AlignedHead) else "linear"})

    def load(self, run_dir: Path) -> None:
        """Read the head back, checked against this model (feature size) and stream (class ids)."""
        meta_path = confined(run_dir, "head", "head.json")
        try:
            head = read_json(meta_path)
        except (OSError, ValueError) as err:
            raise DataError(f"{meta_path}: cannot be read as JSON ({err})") from None
        if not isinstance(head, dict) or "blocks" not in head:
            raise DataError(f"{meta_path}: expected an object with 'blocks' (and 'feature_dim')")
        if head.get("feature_dim", self.head.feature_dim) != self.head.feature_dim:
            raise DataError(f"{meta_path}: feature_dim {head.get('feature_dim')!r} does not match this model's "
                            f"{self.head.feature_dim}: the head belongs to another model")
        tensors = load_tensors(confined(run_dir, "head", "head.safetensors"))
        self.head.restore(head["blocks"], tensors, self._num_classes, where=str(meta_path.parent))


def as_task_model(model: Backbone | TaskModel, head: str = "linear", alignment: AlignmentConfig | None = None,
                  seed: int = 0) -> TaskModel:
    """A TaskModel as is; a feature backbone gets a growing classifier head (``head``: linear or aligned)."""
    if isinstance(model, TaskModel):
        if head != "linear":
            raise ConfigError(f"model.head={head!r} applies to classifiers (a backbone with a head); this model "
                              f"is a {type(model).__name__}: leave model.head at 'linear'")
        return model
    return ContinualModel(model, head, alignment, seed)
