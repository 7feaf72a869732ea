"""Batching: deterministic, seeded order; the model's (or backbone's) collate makes the tensors."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import torch

from litelora.benchmarks.stream import Example, Task
from litelora.models.backbone import Backbone
from litelora.models.task_model import TaskModel

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


def _chunks(examples: Sequence[Example], batch_size: int, shuffle: bool, seed: int,
            skip: int) -> Iterator[list[Example]]:
    order = list(range(len(examples)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for start in range(skip * batch_size, len(order), batch_size):
        yield [examples[i] for i in order[start : start + batch_size]]


def _labels(chunk: list[Example], device: torch.device | str) -> torch.Tensor:
    return torch.tensor([ex.label for ex in chunk], dtype=torch.long).to(device)


def iter_batches(backbone: Backbone, examples: Sequence[Example], batch_size: int, *, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str = "cpu", skip: int = 0) -> Iterator[Batch]:
    """Yield ``(inputs, labels)`` for a feature backbone; the order depends only on ``seed`` when
    shuffling. ``skip`` drops the first batches without building them (resuming mid-epoch)."""
    for chunk in _chunks(examples, batch_size, shuffle, seed, skip):
        batch = backbone.collate([ex.input for ex in chunk])
        yield {k: v.to(device) for k, v in batch.items()}, _labels(chunk, device)


def epoch_seed(seed: int, task_id: int, epoch: int) -> int:
    """The shuffling seed of ``task_id``'s epoch ``epoch``; epoch -1 is the rehearsals' own order."""
    return seed * 100_003 + task_id * 101 + epoch


def iter_task_batches(model: TaskModel, task: Task, examples: Sequence[Example], batch_size: int, *,
                      shuffle: bool = False, seed: int = 0, device: torch.device | str = "cpu",
                      skip: int = 0, shard: Callable[[list[Example]], list[Example]] | None = None
                      ) -> Iterator[Batch]:
    """``iter_batches`` through a TaskModel's ``collate`` (which may need the task: prompts, targets).

    ``shard`` picks this process's part of each global batch (data-parallel training), so every
    process walks the same batches in the same order and takes the same number of steps.
    """
    for chunk in _chunks(examples, batch_size, shuffle, seed, skip):
        if shard is not None:
            chunk = shard(chunk)
        batch = model.collate(chunk, task)
        yield {k: v.to(device) for k, v in batch.items()}, _labels(chunk, device)
