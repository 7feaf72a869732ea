"""The growing classifier head: one linear block of rows per task's new classes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from litelora._io import check_tensor, load_tensors, read_json
from litelora.errors import DataError


class GrowingHead(nn.Module):
    """Maps features (B, D) to logits (B, number of seen classes).

    Column ``k`` scores global class ``class_ids[k]``. ``add_task`` appends rows for the
    task's unseen classes; only rows of the current task's classes train (for a
    domain-incremental stream the shared rows train again on every task).
    """

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.blocks = nn.ModuleList()
        self.class_ids: list[int] = []
        self._block_classes: list[list[int]] = []

    def add_task(self, classes: Sequence[int]) -> list[nn.Parameter]:
        """Grow for ``classes``; freeze every other block; return the trainable parameters."""
        new = [c for c in classes if c not in self.class_ids]
        if new:
            block = nn.Linear(self.feature_dim, len(new))
            ref = next(self.parameters(), None)
            if ref is not None:
                block = block.to(ref.device)
            self.blocks.append(block)
            self._block_classes.append(new)
            self.class_ids.extend(new)
        wanted = set(classes)
        params: list[nn.Parameter] = []
        for block, owned in zip(self.blocks, self._block_classes):
            train = bool(wanted & set(owned))
            for p in block.parameters():
                p.requires_grad_(train)
                if train:
                    params.append(p)
        return params

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([block(features) for block in self.blocks], dim=-1)

    def columns(self, classes: Sequence[int]) -> torch.Tensor:
        """Column indices of ``classes`` (raises ``DataError`` for an unseen class)."""
        index = {c: k for k, c in enumerate(self.class_ids)}
        missing = [c for c in classes if c not in index]
        if missing:
            raise DataError(f"classes {missing[:5]} have no head rows yet (seen: {len(self.class_ids)} classes)")
        return torch.tensor([index[c] for c in classes], dtype=torch.long)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, block in enumerate(self.blocks):
            out[f"blocks.{i}.weight"] = block.weight
            out[f"blocks.{i}.bias"] = block.bias
        return out

    def structure(self) -> list[list[int]]:
        return [list(c) for c in self._block_classes]

    def restore(self, structure: list[list[int]], tensors: dict[str, torch.Tensor],
                num_classes: int | None = None, where: str = "head") -> None:
        """Rebuild blocks from ``structure()`` and ``state_tensors()`` output (frozen).

        Every block must list distinct class ids (below ``num_classes`` when given) and come with
        a finite (classes, feature_dim) weight and (classes,) bias; ``DataError`` otherwise.
        """
        check_structure(structure, num_classes, where)
        self.blocks = nn.ModuleList()
        self._block_classes, self.class_ids = [], []
        for i, classes in enumerate(structure):
            block = nn.Linear(self.feature_dim, len(classes))
            with torch.no_grad():
                block.weight.copy_(check_tensor(tensors, f"blocks.{i}.weight", (len(classes), self.feature_dim), where))
                block.bias.copy_(check_tensor(tensors, f"blocks.{i}.bias", (len(classes),), where))
            block.requires_grad_(False)
            self.blocks.append(block)
            self._block_classes.append(list(classes))
            self.class_ids.extend(classes)


def check_structure(structure: object, num_classes: int | None, where: str) -> None:
    """A head structure: a list of non-empty lists of distinct int class ids (< ``num_classes``)."""
    if not isinstance(structure, list) or not all(isinstance(b, list) and b for b in structure):
        raise DataError(f"{where}: blocks must be a list of non-empty lists of class ids, got {structure!r:.80}")
    ids = [c for b in structure for c in b]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in ids):
        raise DataError(f"{where}: class ids must be non-negative integers, got {ids[:10]}")
    if len(set(ids)) != len(ids):
        raise DataError(f"{where}: a class id appears in two head blocks")
    if num_classes is not None and ids and max(ids) >= num_classes:
        raise DataError(f"{where}: class id {max(ids)} is not a class of this benchmark ({num_classes} classes): "
                        "the head belongs to another run")


def load_head(folder: str | os.PathLike[str]) -> GrowingHead:
    """The classifier head of an export (``OUT/litelora_head/``) or a run (``RUN/head/``), frozen:
    ``head(features)`` maps pooled features (B, feature_dim) to logits (B, classes seen), column
    ``k`` scoring class ``head.class_ids[k]``."""
    folder = Path(folder)
    meta = folder / "head.json"
    try:
        info = read_json(meta)
    except (OSError, ValueError) as err:
        raise DataError(f"{meta}: cannot be read as JSON ({err})") from None
    if not isinstance(info, dict) or not isinstance(info.get("feature_dim"), int) or "blocks" not in info:
        raise DataError(f"{meta}: expected an object with 'feature_dim' (an int) and 'blocks'")
    head = GrowingHead(info["feature_dim"])
    head.restore(info["blocks"], load_tensors(folder / "head.safetensors"), where=str(folder))
    return head.eval()

