"""Batching: deterministic, seeded order; the backbone's collate makes the tensors."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch

from litelora.benchmarks.stream import Example
from litelora.training.backbones import Backbone

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


def iter_batches(backbone: Backbone, examples: Sequence[Example], batch_size: int, *, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str = "cpu", skip: int = 0) -> Iterator[Batch]:
    """Yield ``(inputs, labels)``; the order depends only on ``seed`` when shuffling.

    ``skip`` drops the first batches without building them (resuming mid-epoch).
    """
    order = list(range(len(examples)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for start in range(skip * batch_size, len(order), batch_size):
        chunk = [examples[i] for i in order[start : start + batch_size]]
        batch = backbone.collate([ex.input for ex in chunk])
        labels = torch.tensor([ex.label for ex in chunk], dtype=torch.long)
        yield {k: v.to(device) for k, v in batch.items()}, labels.to(device)
