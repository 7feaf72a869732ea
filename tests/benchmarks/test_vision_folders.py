"""Split CIFAR-100, ImageNet-R and DomainNet on tiny fake folders built in the test."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from litelora.benchmarks import build_benchmark
from litelora.benchmarks.sources.images import in_train_split, manifest_digest
from litelora.benchmarks.sources.pickle_data import read_data_pickle
from litelora.errors import ConfigError, DataError


# ---------------------------------------------------------------------------- pickle reader
class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo should-never-run",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_data_pickle_reads_dicts_and_arrays_without_unpickling(tmp_path: Path, protocol: int) -> None:
    data = {b"data": np.arange(24, dtype=np.uint8).reshape(2, 12), b"fine_labels": [3, 7], "name": "x",
            "f": np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3)), "none": None, "pi": 3.5}
    (tmp_path / "p").write_bytes(pickle.dumps(data, protocol=protocol))
    out = read_data_pickle(tmp_path / "p")
    assert np.array_equal(out[b"data"], data[b"data"]) and np.array_equal(out["f"], data["f"])
    assert out[b"fine_labels"] == [3, 7] and out["name"] == "x" and out["none"] is None and out["pi"] == 3.5


def test_data_pickle_refuses_code(tmp_path: Path) -> None:
    (tmp_path / "evil").write_bytes(pickle.dumps({"a": _Evil()}))
    with pytest.raises(DataError, match=r"evil: names the global (posix|nt)\.system"):
        read_data_pickle(tmp_path / "evil")
    (tmp_path / "cut").write_bytes(pickle.dumps({"a": [1, 2, 3]})[:-3])
    with pytest.raises(DataError, match="cut"):
        read_data_pickle(tmp_path / "cut")


# ---------------------------------------------------------------------------- CIFAR-100
def make_cifar100(root: Path, train_per_class: int = 3, test_per_class: int = 2) -> Path:
    """The python version's layout; each image is constant with red = class id, green = index."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    names = [f"class{c:02d}".encode() for c in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": names, b"coarse_label_names": []}, protocol=2))
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = [c for c in range(100) for _ in range(per_class)]
        data = np.zeros((len(labels), 3072), dtype=np.uint8)
        data[:, :1024] = np.array(labels)[:, None]  # red plane
        data[:, 1024:2048] = np.arange(len(labels))[:, None] % 256  # green plane
        (folder / split).write_bytes(pickle.dumps({b"data": data, b"fine_labels": labels}, protocol=2))
    return root


@pytest.mark.parametrize("num_tasks, per_task", [(10, 10), (20, 5)])
def test_split_cifar100_protocol(tmp_path: Path, num_tasks: int, per_task: int) -> None:
    root = make_cifar100(tmp_path / "c")
    stream = build_benchmark("split-cifar100", data_root=str(root), num_tasks=num_tasks, image_size=32, seed=5)
    assert len(stream.tasks) == num_tasks and stream.name == f"split-cifar100-{num_tasks}x{per_task}"
    seen: set[int] = set()
    for task in stream.tasks:
        assert len(task.classes) == per_task and not seen & set(task.classes)
        seen |= set(task.classes)
        assert len(task.train) == 3 * per_task and len(task.test) == 2 * per_task
        for ex in task.train:
            assert ex.input.shape == (3, 32, 32)
            assert int(ex.input[0, 0, 0]) == stream.class_order[ex.label]  # red = source class
            assert stream.class_names[ex.label] == f"class{stream.class_order[ex.label]:02d}"
    again = build_benchmark("split-cifar100", data_root=str(root), num_tasks=num_tasks, image_size=32, seed=5)
    assert again.class_order == stream.class_order


def test_split_cifar100_resizes_and_subsamples(tmp_path: Path) -> None:
    root = make_cifar100(tmp_path / "c")
    stream = build_benchmark("split-cifar100", data_root=str(root), image_size=48, train_per_class=2,
                             test_per_class=1)
    ex = stream.tasks[0].train[0]
    assert ex.input.shape == (3, 48, 48) and int(ex.input[0, 5, 5]) == stream.class_order[ex.label]
    assert [len(t.train) for t in stream.tasks] == [20] * 10 and stream.meta["image_size"] == 48


def test_split_cifar100_errors(tmp_path: Path) -> None:
    root = make_cifar100(tmp_path / "c")
    with pytest.raises(ConfigError, match=r"num_tasks must be one of \[10, 20\]"):
        build_benchmark("split-cifar100", data_root=str(root), num_tasks=7)
    with pytest.raises(DataError, match="CIFAR-100 not found"):
        build_benchmark("split-cifar100", data_root=str(tmp_path))
    record = {b"data": np.zeros((2, 3072), dtype=np.uint8), b"fine_labels": [0, 100]}
    (root / "cifar-100-python" / "test").write_bytes(pickle.dumps(record, protocol=2))
    with pytest.raises(DataError, match=r"test, record 1: fine label 100 outside 0..99"):
        build_benchmark("split-cifar100", data_root=str(root), image_size=32)


# ---------------------------------------------------------------------------- the split rule
def test_sha_rule_by_hand() -> None:
    path = "n01443537/art_0.jpg"
    value = int(hashlib.sha256(path.encode()).hexdigest()[:16], 16)
    assert in_train_split(path) == (value < 0.8 * 16**16)
    assert in_train_split(path, 1.0) and not in_train_split(path, 0.0)
    paths = [f"c{c}/img_{i}.jpg" for c in range(20) for i in range(100)]
    share = sum(map(in_train_split, paths)) / len(paths)
    assert 0.77 < share < 0.83  # 2000 draws: 0.8 +- 3 standard deviations (0.009 each)
    assert manifest_digest(["b", "a"], ["c"]) == manifest_digest(["a", "b"], ["c"]) != manifest_digest(["a"], ["b", "c"])


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((10, 14, 3), value, dtype=np.uint8)).save(path)


def make_imagenet_r(root: Path, classes: int = 200, per_class: int = 5) -> Path:
    for c in range(classes):
        for i in range(per_class):
            _png(root / f"n{c:08d}" / f"art_{i}.png", c)
    return root


@pytest.fixture(scope="module")
def imagenet_r_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_imagenet_r(tmp_path_factory.mktemp("imr") / "imagenet-r")


@pytest.mark.parametrize("num_tasks", [5, 10, 20])
def test_imagenet_r_protocol(imagenet_r_root: Path, num_tasks: int) -> None:
    stream = build_benchmark("imagenet-r", data_root=str(imagenet_r_root), num_tasks=num_tasks, image_size=8)
    assert len(stream.tasks) == num_tasks and all(len(t.classes) == 200 // num_tasks for t in stream.tasks)
    files = sorted(p.relative_to(imagenet_r_root).as_posix() for p in imagenet_r_root.rglob("*.png"))
    expected_train = sum(map(in_train_split, files))
    assert stream.meta["split_files"] == {"train": expected_train, "test": len(files) - expected_train}
    assert sum(len(t.train) for t in stream.tasks) == expected_train
    ex = stream.tasks[0].train[0]
    assert ex.input.shape == (3, 8, 8) and int(ex.input[0, 0, 0]) == stream.class_order[ex.label]
    assert stream.meta["split_rule"] == "sha256-80/20"


def test_imagenet_r_manifest_pins_files_and_digest(imagenet_r_root: Path, tmp_path: Path) -> None:
    rule = build_benchmark("imagenet-r", data_root=str(imagenet_r_root), image_size=8)
    files = sorted(p.relative_to(imagenet_r_root).as_posix() for p in imagenet_r_root.rglob("*.png"))
    manifest = {"train": [f for f in files if in_train_split(f)], "test": [f for f in files if not in_train_split(f)]}
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    pinned = build_benchmark("imagenet-r", data_root=str(imagenet_r_root), image_size=8,
                             manifest=str(tmp_path / "m.json"))
    assert pinned.meta["manifest_sha256"] == rule.meta["manifest_sha256"]
    manifest["test"].append("n99999999/nope.png")
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="'n99999999/nope.png' is not an image under"):
        build_benchmark("imagenet-r", data_root=str(imagenet_r_root), manifest=str(tmp_path / "m.json"))


def test_undecodable_image_names_the_file(tmp_path: Path) -> None:
    root = make_imagenet_r(tmp_path / "imr", classes=200, per_class=1)
    bad = root / "n00000003" / "art_0.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"n00000003/art_0.png: cannot decode the image"):
        build_benchmark("imagenet-r", data_root=str(root), image_size=8, num_tasks=5)


def test_imagenet_r_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set benchmark.data_root"):
        build_benchmark("imagenet-r")
    with pytest.raises(ConfigError, match=r"num_tasks must be one of \[5, 10, 20\]"):
        build_benchmark("imagenet-r", data_root=str(tmp_path), num_tasks=4)
    with pytest.raises(DataError, match="no images under"):
        build_benchmark("imagenet-r", data_root=str(tmp_path))


# ---------------------------------------------------------------------------- DomainNet
def make_domainnet(root: Path, domains: tuple[str, ...] = ("clipart", "sketch"), classes: int = 345,
                   per_class: int = 2) -> Path:
    for d, domain in enumerate(domains):
        for c in range(classes):
            for i in range(per_class):
                _png(root / domain / f"class_{c:03d}" / f"{domain}_{c}_{i}.png", c % 256)
    return root


def test_domainnet_5x69_with_official_lists(tmp_path: Path) -> None:
    root = make_domainnet(tmp_path / "dn", per_class=2)
    for domain in ("clipart", "sketch"):
        for split, i in (("train", 0), ("test", 1)):
            lines = [f"{domain}/class_{c:03d}/{domain}_{c}_{i}.png {c}" for c in range(345)]
            (root / f"{domain}_{split}.txt").write_text("\n".join(lines) + "\n")
    stream = build_benchmark("domainnet", data_root=str(root), domains=["clipart", "sketch"], image_size=8)
    assert len(stream.tasks) == 5 and all(len(t.classes) == 69 for t in stream.tasks)
    assert stream.meta["split_rule"] == "official <domain>_train/test.txt"
    assert all(len(t.train) == 69 * 2 and len(t.test) == 69 * 2 for t in stream.tasks)  # one per domain and class
    seen = set()
    for t in stream.tasks:
        assert not seen & set(t.classes)
        seen |= set(t.classes)


def test_domainnet_rule_split_and_errors(tmp_path: Path) -> None:
    root = make_domainnet(tmp_path / "dn", domains=("real",), per_class=3)
    stream = build_benchmark("domainnet", data_root=str(root), domains=["real"], image_size=8)
    assert stream.meta["split_rule"] == "sha256-80/20"
    assert stream.meta["split_files"]["train"] + stream.meta["split_files"]["test"] == 345 * 3
    with pytest.raises(ConfigError, match=r"unknown domains \['photos'\]"):
        build_benchmark("domainnet", data_root=str(root), domains=["photos"])
    with pytest.raises(DataError, match=r"domain folders \['clipart'\] not found"):
        build_benchmark("domainnet", data_root=str(root), domains=["clipart"])


@pytest.mark.slow  # ~45 s on a loaded 2-core machine (transformers ViT save/load); the one-step ViT
# training test in tests/training/test_vision_backbones.py runs by default
def test_vision_stream_feeds_an_image_backbone(imagenet_r_root: Path, tmp_path: Path) -> None:
    """The fake ImageNet-R stream runs through a tiny transformers ViT loaded from a folder."""
    from transformers import ViTConfig, ViTModel

    from litelora.training.backbones import build_backbone
    from litelora.training.config import ModelConfig

    cfg = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                    image_size=16, patch_size=8)
    ViTModel(cfg, add_pooling_layer=False).save_pretrained(str(tmp_path / "vit"))
    backbone = build_backbone(ModelConfig(name=f"vit:{tmp_path / 'vit'}"))
    stream = build_benchmark("imagenet-r", data_root=str(imagenet_r_root), image_size=8, num_tasks=20)
    batch = backbone.collate([ex.input for ex in stream.tasks[0].train[:4]])
    assert batch["x"].shape == (4, 3, 16, 16)
    with torch.no_grad():
        assert backbone(**batch).shape == (4, 16)

