"""A classifier for your own training loop whose head does not forget: a transformers encoder,
the run's masked-mean (or CLS) pooling, and litelora's growing head, ``aligned`` by default.

A shared classifier trained task after task forgets: the rows of old classes are pushed down by
every new task's loss. ``ContinualClassifier`` gives each task its own rows (only they train
during the task) and, with ``head="aligned"``, re-fits every row after each task on features
sampled from per-class Gaussians gathered from your own batches (see ``aligned_head``), so
class-incremental logits stay comparable across tasks. ``LiteLoRATrainer`` and
``LiteLoRACallback`` open and close its tasks themselves; in a plain loop call
:meth:`start_task` before ``LiteLoRA.start_task`` and :meth:`end_task` after ``LiteLoRA.end_task``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from litelora._io import load_tensors, read_json, save_tensors, write_json
from litelora.errors import ConfigError, DataError
from litelora.models.aligned_head import AlignedHead
from litelora.models.config import AlignmentConfig
from litelora.models.heads import GrowingHead

Batch = dict[str, torch.Tensor]


class ContinualClassifier(nn.Module):
    """``encoder`` (a transformers encoder: ``encoder(input_ids, attention_mask).last_hidden_state``
    (B, L, D)) pooled to (B, D) features and scored by a growing head over ``tasks`` (one list of
    global class ids per task, in stream order).

    ``forward(input_ids, attention_mask, labels=None)`` returns a ``SequenceClassifierOutput``:
    ``logits`` (B, classes seen so far; column ``k`` scores ``class_ids[k]``) and, with labels
    (B,) of global class ids, ``loss``: cross-entropy over the running task's classes.
    ``head``: ``aligned`` (re-fit after each task) or ``linear`` (per-task rows only: task-
    incremental use, scored within a task with :meth:`predict`'s ``task_id``).
    """

    def __init__(self, encoder: nn.Module, tasks: Sequence[Sequence[int]], *, head: str = "aligned",
                 pooling: str = "mean", alignment: AlignmentConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        if head not in ("aligned", "linear"):
            raise ConfigError(f"head must be 'aligned' or 'linear', got {head!r}")
        if pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        if not tasks or not all(tasks):
            raise ConfigError("tasks: give one non-empty list of class ids per task")
        self.encoder, self.pooling, self.kind = encoder, pooling, head
        self.tasks = [list(t) for t in tasks]
        width = int(encoder.config.hidden_size)
        self.head = AlignedHead(width, alignment, seed) if head == "aligned" else GrowingHead(width)
        # Every task's rows exist from the start, so an optimizer built from the model's parameters
        # (PEFT's modules_to_save=["head"]) holds them all; start_task chooses which ones train.
        for classes in self.tasks:
            self.head.add_task(classes)
        self.task_id: int | None = None

    @property
    def class_ids(self) -> list[int]:
        """Global class id of each logit column."""
        return list(self.head.class_ids)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
        """Pooled features (B, D): the mean of the last hidden states over the tokens the attention
        mask keeps, or the first token's state with ``pooling="cls"``."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None,
                **_: Any) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        logits = self.head(self.features(input_ids, attention_mask))
        loss = None if labels is None else self._task_loss(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _task_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over the running task's columns (all seen classes outside a task)."""
        classes = self.tasks[self.task_id] if self.task_id is not None else self.class_ids
        columns = self.head.columns(classes).to(logits.device)
        lookup = torch.full((max(self.class_ids) + 1,), -1, dtype=torch.long, device=labels.device)
        lookup[torch.tensor(classes, device=labels.device)] = torch.arange(len(classes), device=labels.device)
        target = lookup[labels]
        if (target < 0).any():
            raise DataError(f"labels {sorted(set(labels[target < 0].tolist()))[:5]} are not classes of task "
                            f"{self.task_id} ({classes}); labels are global class ids")
        return F.cross_entropy(logits[:, columns], target)

    def start_task(self, task_id: int) -> list[nn.Parameter]:
        """Make task ``task_id``'s rows the only trainable part of the head; returns them. Call it
        before ``LiteLoRA.start_task`` (the gate rehearses with what trains)."""
        if not 0 <= task_id < len(self.tasks):
            raise ConfigError(f"task_id {task_id} is not one of the {len(self.tasks)} tasks given")
        self.task_id = task_id
        return self.head.add_task(self.tasks[task_id])

    @torch.no_grad()
    def end_task(self, task_id: int, batches: Callable[[], Iterable[Batch]]) -> None:
        """Freeze the head; with ``head="aligned"`` gather the task's class statistics from
        ``batches()`` (dicts with ``input_ids``, ``attention_mask``, ``labels``: your training
        batches) in eval mode, then re-fit every row. No example is kept."""
        if task_id != self.task_id:
            raise ConfigError(f"end_task({task_id}) but the running task is {self.task_id}")
        self.head.add_task([])  # freezes every block
        self.task_id = None
        if not isinstance(self.head, AlignedHead):
            return
        was_training = self.training
        self.eval()
        device = next(self.head.parameters()).device
        pairs = [(self.features(b["input_ids"].to(device), b["attention_mask"].to(device)).float().cpu(),
                  b["labels"].cpu()) for b in batches()]
        self.train(was_training)
        self.head.learn_classes(pairs, [c for c in self.tasks[task_id] if c not in self.head.stats])
        self.head.align(task_id)

    @torch.no_grad()
    def predict(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task_id: int | None = None) -> torch.Tensor:
        """Predicted global class ids (B,): over every seen class, or over task ``task_id``'s own
        classes (task-incremental)."""
        logits = self.head(self.features(input_ids, attention_mask))
        classes = self.class_ids if task_id is None else self.tasks[task_id]
        columns = self.head.columns(classes).to(logits.device)
        return torch.tensor(classes, device=logits.device)[logits[:, columns].argmax(-1)]

    def save_head(self, folder: str | os.PathLike[str], class_names: Sequence[str] | None = None) -> Path:
        """Write the head as an export's ``litelora_head/`` (``head.json``, ``head.safetensors``,
        with the aligned head's statistics): ``load_head`` and the client snippet of
        docs/export-peft.md read it, and :meth:`load_head_state` resumes from it."""
        folder = Path(folder)
        save_tensors(folder / "head.safetensors", self.head.state_tensors())
        record: dict[str, Any] = {"feature_dim": self.head.feature_dim, "blocks": self.head.structure(),
                                  "kind": self.kind, "pooling": self.pooling}
        if class_names is not None:
            record["class_names"] = [class_names[c] for c in self.class_ids]
        write_json(folder / "head.json", record)
        return folder

    def load_head_state(self, folder: str | os.PathLike[str]) -> None:
        """Resume the head (rows and statistics) from :meth:`save_head`'s folder, checked against
        this classifier's tasks and feature size."""
        folder = Path(folder)
        info = read_json(folder / "head.json")
        if info.get("feature_dim") != self.head.feature_dim or info.get("blocks") != self.head.structure():
            raise DataError(f"{folder}/head.json: feature_dim {info.get('feature_dim')} and blocks "
                            f"{info.get('blocks')} do not match this classifier's {self.head.feature_dim} and "
                            f"{self.head.structure()}")
        # Copied into the existing rows, so an optimizer or LiteLoRA group holding them stays valid.
        saved = AlignedHead(self.head.feature_dim, self.head.config) if isinstance(self.head, AlignedHead) \
            else GrowingHead(self.head.feature_dim)
        saved.restore(info["blocks"], load_tensors(folder / "head.safetensors"), where=str(folder))
        with torch.no_grad():
            for mine, theirs in zip(self.head.blocks, saved.blocks):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        if isinstance(self.head, AlignedHead) and isinstance(saved, AlignedHead):
            self.head.stats = dict(saved.stats)
