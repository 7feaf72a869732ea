"""Image task streams: Split Fashion-MNIST and Split-MNIST from IDX files.

Images are stored as uint8 tensors (C, H, W) already resized to ``image_size``: 1 KB per
32-px grey image, so the whole 70k-image Fashion-MNIST fits in memory. Scaling to [0, 1],
grey -> RGB and the backbone's own normalisation happen in the backbone's collate.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from litelora.benchmarks.registry import register_benchmark
from litelora.benchmarks.scenarios import split_by_class
from litelora.benchmarks.sources.idx import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    MNIST_CLASSES,
    ImageArrays,
    load_idx_split,
)
from litelora.benchmarks.stream import Example, TaskStream
from litelora.errors import ConfigError, DataError

_RESIZE_CHUNK = 2048  # images resized per interpolate call: bounds the float copy to ~35 MB at 64 px


def pick_per_class(labels: np.ndarray, per_class: int | None, seed: int, *, what: str) -> np.ndarray:
    """Indices of at most ``per_class`` examples of every class, drawn with ``seed``, sorted
    (so the result is a subset in file order); ``None`` keeps every index."""
    if per_class is None:
        return np.arange(len(labels))
    if per_class <= 0:
        raise ConfigError(f"{what}: examples per class must be > 0 (or null for all), got {per_class}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep.append(idx if len(idx) <= per_class else rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(keep))


def resize_images(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, H, W) grey or (N, H, W, 3) RGB -> uint8 (N, C, size, size), bilinear with
    antialiasing (as torchvision's ``Resize`` on tensors); unchanged when already that size."""
    x = torch.as_tensor(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    if x.dtype != torch.uint8 or x.ndim not in (3, 4):
        raise DataError(f"images must be uint8 (N, H, W) or (N, H, W, 3), got {x.dtype} {tuple(x.shape)}")
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if tuple(x.shape[-2:]) == (size, size):
        return x.contiguous()
    out = torch.empty(x.shape[0], x.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, len(x), _RESIZE_CHUNK):
        chunk = x[start : start + _RESIZE_CHUNK].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + _RESIZE_CHUNK] = resized.round().clamp(0, 255).to(torch.uint8)
    return out


def image_examples(split: ImageArrays, per_class: int | None, seed: int, image_size: int, *,
                   what: str) -> list[Example]:
    """The (subsampled, resized) split as examples with uint8 (C, S, S) tensor inputs."""
    keep = pick_per_class(split.labels, per_class, seed, what=what)
    tensors = resize_images(split.images[keep], image_size)
    return [Example(tensors[i], int(label)) for i, label in enumerate(split.labels[keep])]


def check_image_size(image_size: int, what: str) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ConfigError(f"{what}: image_size must be an integer >= 8 pixels, got {image_size!r}")


def split_idx_stream(
    name: str, root: Path, class_names: list[str], *, seed: int | None, class_order: list[int] | None,
    num_tasks: int, classes_per_task: int, train_per_class: int | None, test_per_class: int | None,
    image_size: int, sample_seed: int, scenario: str,
) -> TaskStream:
    """A class-split stream over an IDX folder; records every knob in ``stream.meta``."""
    check_image_size(image_size, f"benchmark {name!r}")
    train = image_examples(load_idx_split(root, "train", len(class_names)), train_per_class, sample_seed,
                           image_size, what=f"{name}.train_per_class")
    test = image_examples(load_idx_split(root, "test", len(class_names)), test_per_class, sample_seed + 1,
                          image_size, what=f"{name}.test_per_class")
    stream = split_by_class(train, test, class_names, name=name, classes_per_task=classes_per_task,
                            num_tasks=num_tasks, seed=seed, class_order=class_order, scenario=scenario,  # type: ignore[arg-type]
                            input_kind="tensor")
    stream.meta.update(source=str(root), image_size=image_size, channels=1, train_per_class=train_per_class,
                       test_per_class=test_per_class, sample_seed=sample_seed)
    return stream


def _fashion_root(data_root: str | None) -> Path:
    return Path(data_root or os.environ.get("LITELORA_FASHION_MNIST_DIR") or FASHION_MNIST_DIR)


@register_benchmark("split-fashion-mnist")
def split_fashion_mnist(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    num_tasks: int = 5, classes_per_task: int = 2, train_per_class: int | None = None,
    test_per_class: int | None = None, image_size: int = 32, sample_seed: int = 0, scenario: str = "cil",
) -> TaskStream:
    """Fashion-MNIST (60k train / 10k test, 10 classes) as 5 tasks of 2 classes, class order
    drawn from ``seed``. Reads Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/
    fashion-mnist``), ``$LITELORA_FASHION_MNIST_DIR`` or ``data_root`` (IDX files).

    ``train_per_class``/``test_per_class`` subsample (drawn with ``sample_seed``);
    ``image_size`` is the stored side length in pixels (28 -> 32 by default).
    """
    root = _fashion_root(data_root)
    if not root.is_dir():
        raise DataError(f"Fashion-MNIST not found at {root}: apt-get install dataset-fashion-mnist, or set "
                        f"benchmark.data_root (or LITELORA_FASHION_MNIST_DIR) to a folder of its IDX files")
    return split_idx_stream("split-fashion-mnist", root, FASHION_MNIST_CLASSES, seed=seed, class_order=class_order,
                            num_tasks=num_tasks, classes_per_task=classes_per_task,
                            train_per_class=train_per_class, test_per_class=test_per_class,
                            image_size=image_size, sample_seed=sample_seed, scenario=scenario)


@register_benchmark("split-mnist")
def split_mnist(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    num_tasks: int = 5, classes_per_task: int = 2, train_per_class: int | None = None,
    test_per_class: int | None = None, image_size: int = 32, sample_seed: int = 0, scenario: str = "cil",
) -> TaskStream:
    """MNIST digits as 5 tasks of 2 classes, from a folder of the four MNIST IDX files
    (``data_root``; torchvision keeps them in ``<root>/MNIST/raw``). No MNIST is packaged
    on the registries this project installs from, so there is no default folder."""
    if data_root is None:
        raise ConfigError("benchmark 'split-mnist' reads the MNIST IDX files from a folder: set benchmark.data_root "
                          "(e.g. torchvision's <root>/MNIST/raw)")
    return split_idx_stream("split-mnist", Path(data_root), MNIST_CLASSES, seed=seed, class_order=class_order,
                            num_tasks=num_tasks, classes_per_task=classes_per_task,
                            train_per_class=train_per_class, test_per_class=test_per_class,
                            image_size=image_size, sample_seed=sample_seed, scenario=scenario)
