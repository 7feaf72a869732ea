"""TaskModel: what the trainer asks of a model, whether it classifies with a head or generates text.

The trainer, evaluation, checkpoints and the run directory talk only to this interface, so a
classifier (backbone + growing head) and a generative language model train the same way. The
adapter bank is injected into ``encoder``; methods and gates never see the task model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from litelora.benchmarks.stream import Example, Task, TaskStream


class TaskModel(nn.Module):
    """Base class of the models a continual run trains.

    ``encoder`` is the module tree the adapter bank wraps; ``default_targets`` are the LoRA
    targets used when ``adapter.target_modules`` is left at its default.
    """

    encoder: nn.Module
    default_targets: list[str]
    # False where no head trains (a generative LM scores its label words): the base model's loss
    # then measures the answer format as much as the task, which a gate's readings must allow for.
    trains_head: ClassVar[bool] = True

    def attach(self, stream: TaskStream) -> None:
        """See the stream before training or evaluation (a generative model learns its label words)."""

    def collate(self, examples: Sequence[Example], task: Task) -> dict[str, torch.Tensor]:
        """Tensors for one batch of ``task``'s examples (padded to the longest in the batch)."""
        raise NotImplementedError

    def eval_order(self, task: Task, examples: Sequence[Example]) -> Sequence[Example]:
        """The order evaluation batches ``examples`` in. A model whose predictions do not depend on
        what shares a batch may group examples of similar length, so batches carry less padding."""
        return examples

    def run(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One forward pass over a batch (methods that pass over the data, e.g. InfLoRA, use it)."""
        raise NotImplementedError

    def add_task(self, task: Task) -> list[nn.Parameter]:
        """Prepare for training ``task``; return the model's own new trainable parameters
        (a classifier's head rows; none for a generative model)."""
        raise NotImplementedError

    def begin_task(self, task: Task, batches: Any) -> None:
        """After ``add_task``, before the task's adapters exist: ``batches()`` yields the task's
        training (batch, labels) for a model that measures the task before it trains."""

    def end_task(self, task: Task | None = None, batches: Any = None) -> None:
        """Freeze whatever ``add_task`` opened; ``batches()`` yields the task's training (batch,
        labels) again for a model that keeps statistics of it (the aligned head)."""

    def loss(self, batch: dict[str, torch.Tensor], labels: torch.Tensor, task: Task) -> torch.Tensor:
        """The scalar training loss of ``task`` on one batch."""
        raise NotImplementedError

    def count_correct(self, batch: dict[str, torch.Tensor], labels: torch.Tensor, task: Task, scenario: str) -> int:
        """How many examples of the batch the model gets right (``scenario``: cil, til or dil)."""
        raise NotImplementedError

    def state(self) -> tuple[Any, dict[str, torch.Tensor]]:
        """JSON-able structure and tensors a checkpoint keeps besides the bank."""
        return {}, {}

    def load_state(self, structure: Any, tensors: dict[str, torch.Tensor]) -> None:
        """Restore ``state()`` output."""

    def save(self, run_dir: Path) -> None:
        """Write what a finished run keeps besides the bank (a classifier's head) into ``run_dir``."""

    def load(self, run_dir: Path) -> None:
        """Read back what ``save`` wrote."""

    def report(self) -> dict[str, Any]:
        """Counters for ``results.json`` (e.g. truncated targets); empty when there is nothing to say."""
        return {}
