"""MNIST-style IDX files (Fashion-MNIST, MNIST): uint8 image and label arrays, optionally gzipped.

Layout of a folder: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each possibly with ``.gz`` (the
layout of the original distributions, of Debian's ``dataset-fashion-mnist`` and of
torchvision's ``<root>/MNIST/raw``).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litelora.errors import DataError

_UBYTE = 0x08
SPLIT_FILES = {"train": "train", "test": "t10k"}

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian dataset-fashion-mnist
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(d) for d in range(10)]


@dataclass
class ImageArrays:
    """One split: ``images`` uint8 (N, H, W), ``labels`` int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An IDX file (gzipped if the name ends in ``.gz``) as a uint8 array of its stated shape."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read the IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (the first two bytes must be 0)")
    if raw[2] != _UBYTE:
        raise DataError(f"{path}: IDX element type 0x{raw[2]:02x}; only unsigned bytes (0x08) are supported")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes of data), the file holds "
                        f"{len(raw) - header}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root / stem}(.gz) not found; an IDX folder holds train-/t10k- images-idx3-ubyte and "
                    f"labels-idx1-ubyte files")


def load_idx_split(root: str | os.PathLike[str], split: str, num_classes: int = 10) -> ImageArrays:
    """``split`` ("train" or "test") of the IDX folder ``root``, checked for consistency."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"IDX data folder {root} does not exist")
    prefix = SPLIT_FILES[split]
    images_file, labels_file = _find(root, f"{prefix}-images-idx3-ubyte"), _find(root, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3:
        raise DataError(f"{images_file}: expected 3 dimensions (N, H, W), got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_file}: {labels.shape} labels for {len(images)} images in {images_file}")
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DataError(f"{labels_file}, record {int(bad[0])}: label {int(labels[bad[0]])} is outside "
                        f"0..{num_classes - 1}")
    return ImageArrays(images, labels.astype(np.int64))
