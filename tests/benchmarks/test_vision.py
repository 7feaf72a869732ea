"""Split Fashion-MNIST / Split-MNIST on tiny IDX files written by the test."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from litelora.benchmarks import build_benchmark
from litelora.benchmarks.sources.idx import load_idx_split, read_idx
from litelora.benchmarks.vision import pick_per_class, resize_images
from litelora.errors import ConfigError, DataError


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    """IDX: 0, 0, type 0x08 (ubyte), ndim, then each dimension as a big-endian int32, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_idx_folder(root: Path, train_per_class: int = 6, test_per_class: int = 3, gz: bool = True) -> Path:
    """10 classes; image pixel (0, 0) holds the class id and (0, 1) the index within the split."""
    root.mkdir(parents=True, exist_ok=True)
    for prefix, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        labels = np.repeat(np.arange(10), per_class)[::-1].copy()  # not sorted by class
        images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels
        images[:, 0, 1] = np.arange(len(labels))
        write_idx(root / f"{prefix}-images-idx3-ubyte", images, gz=gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, gz=gz)
    return root


def test_read_idx_round_trips_plain_and_gzipped(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for gz in (False, True):
        path = write_idx(tmp_path / f"a{gz}", array, gz=gz)
        assert np.array_equal(read_idx(path), array)


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda b: b"\x01" + b[1:], "not an IDX file"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "element type 0x0d"),
        (lambda b: b[:-5], r"shape \(2, 3, 4\) \(24 bytes of data\), the file holds 19"),
    ],
)
def test_bad_idx_names_file_and_problem(tmp_path: Path, mutate, needle: str) -> None:
    path = write_idx(tmp_path / "x", np.zeros((2, 3, 4), dtype=np.uint8))
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(DataError, match=needle) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_split_checks_labels_and_counts(tmp_path: Path) -> None:
    root = make_idx_folder(tmp_path / "fm", gz=False)
    labels = read_idx(root / "t10k-labels-idx1-ubyte").copy()
    labels[4] = 11
    write_idx(root / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte, record 4: label 11 is outside 0..9"):
        load_idx_split(root, "test")
    write_idx(root / "t10k-labels-idx1-ubyte", labels[:-1])
    with pytest.raises(DataError, match=r"\(29,\) labels for 30 images"):
        load_idx_split(root, "test")
    (root / "train-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_idx_split(root, "train")


def test_split_fashion_mnist_protocol(tmp_path: Path) -> None:
    root = make_idx_folder(tmp_path / "fm")
    stream = build_benchmark("split-fashion-mnist", data_root=str(root), seed=3)
    assert stream.input_kind == "tensor" and stream.scenario == "cil" and len(stream.tasks) == 5
    assert sorted(stream.class_order) == list(range(10))
    assert stream.class_order == build_benchmark("split-fashion-mnist", data_root=str(root), seed=3).class_order
    assert stream.class_order != build_benchmark("split-fashion-mnist", data_root=str(root), seed=4).class_order
    seen: set[int] = set()
    for t, task in enumerate(stream.tasks):
        assert task.classes == (2 * t, 2 * t + 1) and not seen & set(task.classes)
        seen |= set(task.classes)
        assert len(task.train) == 12 and len(task.test) == 6
        for ex in task.train + task.test:
            assert ex.input.dtype == torch.uint8 and ex.input.shape == (1, 32, 32)
    assert stream.class_names[0] == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                     "Sneaker", "Bag", "Ankle boot"][stream.class_order[0]]
    assert stream.meta["image_size"] == 32 and stream.meta["train_per_class"] is None


def test_labels_follow_the_class_order(tmp_path: Path) -> None:
    root = make_idx_folder(tmp_path / "fm")
    stream = build_benchmark("split-fashion-mnist", data_root=str(root), seed=1, image_size=28)
    for task in stream.tasks:
        for ex in task.train:
            assert int(ex.input[0, 0, 0]) == stream.class_order[ex.label]  # 28 px: stored unresized


def test_subsampling_is_seeded_and_per_class(tmp_path: Path) -> None:
    root = make_idx_folder(tmp_path / "fm")
    a = build_benchmark("split-fashion-mnist", data_root=str(root), train_per_class=2, test_per_class=1,
                        image_size=28, num_tasks=2)
    b = build_benchmark("split-fashion-mnist", data_root=str(root), train_per_class=2, test_per_class=1,
                        image_size=28, num_tasks=2)
    c = build_benchmark("split-fashion-mnist", data_root=str(root), train_per_class=2, test_per_class=1,
                        image_size=28, num_tasks=2, sample_seed=7)
    assert [len(t.train) for t in a.tasks] == [4, 4] and [len(t.test) for t in a.tasks] == [2, 2]
    ids = lambda s: [int(e.input[0, 0, 1]) for t in s.tasks for e in t.train]  # noqa: E731
    assert ids(a) == ids(b) and ids(a) != ids(c)
    assert a.meta["train_per_class"] == 2 and a.meta["sample_seed"] == 0


def test_pick_per_class_hand_example() -> None:
    labels = np.array([0, 1, 0, 1, 0, 2])
    keep = pick_per_class(labels, 2, seed=0, what="x")
    assert np.bincount(labels[keep]).tolist() == [2, 2, 1] and list(keep) == sorted(keep)
    assert list(pick_per_class(labels, None, 0, what="x")) == list(range(6))
    with pytest.raises(ConfigError, match="x: examples per class must be > 0"):
        pick_per_class(labels, 0, 0, what="x")


def test_resize_keeps_constant_images_constant_and_rgb_layout() -> None:
    grey = np.full((2, 28, 28), 200, dtype=np.uint8)
    assert torch.equal(resize_images(grey, 32), torch.full((2, 1, 32, 32), 200, dtype=torch.uint8))
    rgb = np.zeros((1, 5, 5, 3), dtype=np.uint8)
    rgb[..., 2] = 9
    out = resize_images(rgb, 5)
    assert out.shape == (1, 3, 5, 5) and out[0, 2].eq(9).all() and out[0, :2].eq(0).all()


def test_option_errors(tmp_path: Path) -> None:
    root = make_idx_folder(tmp_path / "fm")
    with pytest.raises(ConfigError, match="image_size must be an integer >= 8"):
        build_benchmark("split-fashion-mnist", data_root=str(root), image_size=4)
    with pytest.raises(ConfigError, match="num_tasks=6 needs 12 classes"):
        build_benchmark("split-fashion-mnist", data_root=str(root), num_tasks=6)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        build_benchmark("split-fashion-mnist", data_root=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="set benchmark.data_root"):
        build_benchmark("split-mnist")


def test_split_mnist_reads_the_same_layout(tmp_path: Path) -> None:
    root = make_idx_folder(tmp_path / "mnist", gz=False)
    stream = build_benchmark("split-mnist", data_root=str(root), seed=0)
    assert [len(t.train) for t in stream.tasks] == [12] * 5
    assert stream.class_names == [str(c) for c in stream.class_order]
