"""Image folders and CIFAR-100: file lists, the pinned train/test rule, and decoding.

The train/test rule for datasets without an official split (ImageNet-R, DomainNet without its
split files): a file goes to train iff the first 16 hex digits of sha256 of its path relative
to the data root (``/``-separated, UTF-8) read as an integer are below ``0.8 * 16**16``. It
depends on nothing but the path, so every copy of the data splits identically, whatever the
listing order, and adding or removing a file moves no other file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from litelora.benchmarks.sources.pickle_data import read_data_pickle
from litelora.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
_SPAN = 16**16


def in_train_split(relpath: str, train_fraction: float = 0.8) -> bool:
    """The pinned split rule (module docstring) for one ``/``-separated relative path."""
    digest = hashlib.sha256(relpath.encode("utf-8")).hexdigest()
    return int(digest[:16], 16) < train_fraction * _SPAN


def manifest_digest(train: list[str], test: list[str]) -> str:
    """sha256 over the sorted train and test path lists: equal digests, identical splits."""
    payload = json.dumps({"train": sorted(train), "test": sorted(test)}, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def list_images(folder: Path, root: Path) -> list[str]:
    """Image files under ``folder`` (recursively), as sorted paths relative to ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_manifest(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """A JSON ``{"train": [relative paths], "test": [...]}`` that pins a split file by file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"manifest {path}: cannot read it as JSON ({err})") from None
    if not isinstance(data, dict) or set(data) != {"train", "test"}:
        raise DataError(f"manifest {path}: expected an object with exactly the keys 'train' and 'test'")
    for split in ("train", "test"):
        bad = [i for i, x in enumerate(data[split]) if not isinstance(x, str)] if isinstance(data[split], list) else [0]
        if bad:
            raise DataError(f"manifest {path}, {split} record {bad[0]}: expected a list of relative path strings")
    overlap = sorted(set(data["train"]) & set(data["test"]))
    if overlap:
        raise DataError(f"manifest {path}: {overlap[0]!r} is in both train and test")
    return list(data["train"]), list(data["test"])


def decode_image(path: Path, size: int) -> torch.Tensor:
    """An image file as uint8 RGB (3, size, size): resized to a square, bilinear (the ViT
    papers' ``Resize((224, 224))``, aspect ratio not kept)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{path}: cannot decode the image ({err})") from None
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def cifar100_dir(root: str | os.PathLike[str]) -> Path:
    """The folder holding ``train``, ``test`` and ``meta``: ``root`` or ``root/cifar-100-python``."""
    root = Path(root).expanduser()
    for folder in (root, root / "cifar-100-python"):
        if all((folder / f).is_file() for f in ("train", "test", "meta")):
            return folder
    raise DataError(f"CIFAR-100 not found under {root}: expected train, test and meta of the python version "
                    f"(cifar-100-python.tar.gz, extracted) in {root} or {root / 'cifar-100-python'}")


def _field(record: object, key: str, file: Path) -> object:
    if not isinstance(record, dict):
        raise DataError(f"{file}: expected a dict of arrays, got {type(record).__name__}")
    for k in (key.encode(), key):  # Python 2 pickles key by bytes
        if k in record:
            return record[k]
    raise DataError(f"{file}: missing field {key!r} (fields: {sorted(str(k) for k in record)[:6]})")


def load_cifar100_split(root: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(images uint8 (N, 32, 32, 3), fine labels int64 (N,), the 100 fine class names)``."""
    folder = cifar100_dir(root)
    file, meta = folder / split, folder / "meta"
    names = [n.decode() if isinstance(n, bytes) else str(n)
             for n in _field(read_data_pickle(meta), "fine_label_names", meta)]  # type: ignore[union-attr]
    record = read_data_pickle(file)
    data = np.asarray(_field(record, "data", file))
    labels = np.asarray(_field(record, "fine_labels", file), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{file}: 'data' is {data.dtype} {data.shape}; expected uint8 (N, 3072)")
    if labels.shape != (len(data),):
        raise DataError(f"{file}: {labels.shape} fine_labels for {len(data)} images")
    bad = np.flatnonzero((labels < 0) | (labels >= len(names)))
    if bad.size:
        raise DataError(f"{file}, record {int(bad[0])}: fine label {int(labels[bad[0]])} outside 0..{len(names) - 1}")
    # Rows are 1024 red, 1024 green, 1024 blue values of a 32 x 32 image in row-major order.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels, names
