"""The ViT continual benchmarks, read from local folders: Split CIFAR-100 (10 x 10, 20 x 5),
ImageNet-R (200 classes as 5 / 10 / 20 tasks) and DomainNet (345 classes as 5 x 69).

Preprocessing as in the L2P / CODA-Prompt / InfLoRA / SD-LoRA code: every image resized to
224 x 224 (``image_size``); scaling and normalisation are the backbone's (0.5 / 0.5 for the
google ViTs). Training augmentation (random crop, flip) is not applied. Images are decoded
once, at build time, into uint8 tensors: about 150 KB each at 224 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from litelora.benchmarks.registry import register_benchmark
from litelora.benchmarks.scenarios import split_by_class
from litelora.benchmarks.sources.idx import ImageArrays
from litelora.benchmarks.sources.images import (
    decode_image,
    in_train_split,
    list_images,
    load_cifar100_split,
    manifest_digest,
    read_manifest,
)
from litelora.benchmarks.stream import Example, TaskStream
from litelora.benchmarks.vision import check_image_size, image_examples, pick_per_class
from litelora.errors import ConfigError, DataError

DOMAINNET_DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")


def _need_root(name: str, data_root: str | None) -> Path:
    if data_root is None:
        raise ConfigError(f"benchmark {name!r} reads a local folder: set benchmark.data_root (see docs/vision.md)")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError(f"benchmark {name!r}: data_root {root} is not a folder")
    return root


def _classes_per_task(name: str, num_classes: int, num_tasks: int, allowed: Sequence[int]) -> int:
    if num_tasks not in allowed:
        raise ConfigError(f"benchmark {name!r}: num_tasks must be one of {list(allowed)} (the published splits), "
                          f"got {num_tasks}")
    return num_classes // num_tasks


@register_benchmark("split-cifar100")
def split_cifar100(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    num_tasks: int = 10, train_per_class: int | None = None, test_per_class: int | None = None,
    image_size: int = 224, sample_seed: int = 0, scenario: str = "cil",
) -> TaskStream:
    """CIFAR-100 (50k / 10k, 100 classes) as 10 tasks of 10 classes (or 20 of 5), from the
    python version's folder (``cifar-100-python``; read without unpickling)."""
    root = _need_root("split-cifar100", data_root)
    per_task = _classes_per_task("split-cifar100", 100, num_tasks, (10, 20))
    check_image_size(image_size, "benchmark 'split-cifar100'")
    splits = {}
    for split, per_class, offset in (("train", train_per_class, 0), ("test", test_per_class, 1)):
        images, labels, names = load_cifar100_split(root, split)
        splits[split] = image_examples(ImageArrays(images, labels), per_class, sample_seed + offset, image_size,
                                       what=f"split-cifar100.{split}_per_class")
    if len(names) != 100:
        raise DataError(f"{root}: meta lists {len(names)} fine classes; CIFAR-100 has 100")
    stream = split_by_class(splits["train"], splits["test"], names, name=f"split-cifar100-{num_tasks}x{per_task}",
                            classes_per_task=per_task, num_tasks=num_tasks, seed=seed, class_order=class_order,
                            scenario=scenario, input_kind="tensor")  # type: ignore[arg-type]
    stream.meta.update(source=str(root), image_size=image_size, train_per_class=train_per_class,
                       test_per_class=test_per_class, sample_seed=sample_seed)
    return stream


def _folder_stream(
    name: str, root: Path, files: list[str], class_of: dict[str, str], split_of: dict[str, str], *,
    num_tasks: int, seed: int | None, class_order: list[int] | None, train_per_class: int | None,
    test_per_class: int | None, image_size: int, sample_seed: int, scenario: str, rule: str,
) -> TaskStream:
    """Decode the chosen files of a class-folder dataset and split its classes into tasks."""
    check_image_size(image_size, f"benchmark {name!r}")
    class_names = sorted(set(class_of.values()))
    if len(class_names) % num_tasks:
        raise ConfigError(f"benchmark {name!r}: {len(class_names)} classes do not split into {num_tasks} equal tasks")
    index = {c: i for i, c in enumerate(class_names)}
    parts: dict[str, list[Example]] = {}
    for split, per_class, offset in (("train", train_per_class, 0), ("test", test_per_class, 1)):
        chosen = [f for f in files if split_of[f] == split]
        if not chosen:
            raise DataError(f"benchmark {name!r}: the {split} split of {root} is empty (rule: {rule})")
        labels = np.array([index[class_of[f]] for f in chosen])
        keep = pick_per_class(labels, per_class, sample_seed + offset, what=f"{name}.{split}_per_class")
        parts[split] = [Example(decode_image(root / chosen[i], image_size), int(labels[i])) for i in keep]
    stream = split_by_class(parts["train"], parts["test"], class_names, name=f"{name}-{num_tasks}",
                            classes_per_task=len(class_names) // num_tasks, num_tasks=num_tasks, seed=seed,
                            class_order=class_order, scenario=scenario, input_kind="tensor")  # type: ignore[arg-type]
    train = [f for f in files if split_of[f] == "train"]
    test = [f for f in files if split_of[f] == "test"]
    stream.meta.update(source=str(root), image_size=image_size, train_per_class=train_per_class,
                       test_per_class=test_per_class, sample_seed=sample_seed, split_rule=rule,
                       split_files={"train": len(train), "test": len(test)},
                       manifest_sha256=manifest_digest(train, test))
    return stream


def _split_by_rule_or_manifest(root: Path, files: list[str], manifest: str | None) -> tuple[dict[str, str], str]:
    if manifest is None:
        return {f: "train" if in_train_split(f) else "test" for f in files}, "sha256-80/20"
    train, test = read_manifest(manifest)
    present = set(files)
    missing = [f for f in train + test if f not in present]
    if missing:
        raise DataError(f"manifest {manifest}: {missing[0]!r} is not an image under {root}")
    split_of = {f: "train" for f in train} | {f: "test" for f in test}
    files[:] = [f for f in files if f in split_of]
    return split_of, f"manifest {manifest}"


@register_benchmark("imagenet-r")
def imagenet_r(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    num_tasks: int = 10, train_per_class: int | None = None, test_per_class: int | None = None,
    image_size: int = 224, sample_seed: int = 0, manifest: str | None = None, scenario: str = "cil",
) -> TaskStream:
    """ImageNet-R (200 classes, 30k images; ``imagenet-r/<wnid>/<file>``) as 5, 10 or 20 tasks,
    80/20 train/test by the pinned sha256 rule (``sources/images.py``) or a JSON ``manifest``."""
    root = _need_root("imagenet-r", data_root)
    _classes_per_task("imagenet-r", 200, num_tasks, (5, 10, 20))
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    files = [f for d in class_dirs for f in list_images(d, root)]
    if not files:
        raise DataError(f"imagenet-r: no images under {root}; expected <data_root>/<class>/<image> (ImageFolder)")
    class_of = {f: f.split("/", 1)[0] for f in files}
    split_of, rule = _split_by_rule_or_manifest(root, files, manifest)
    return _folder_stream("imagenet-r", root, files, class_of, split_of, num_tasks=num_tasks, seed=seed,
                          class_order=class_order, train_per_class=train_per_class, test_per_class=test_per_class,
                          image_size=image_size, sample_seed=sample_seed, scenario=scenario, rule=rule)


def _official_domainnet_split(root: Path, domains: Sequence[str]) -> dict[str, str] | None:
    """``<domain>_train.txt`` / ``<domain>_test.txt`` (lines ``domain/class/file label``) where all exist."""
    lists = [(root / f"{d}_{s}.txt", s) for d in domains for s in ("train", "test")]
    if not all(path.is_file() for path, _ in lists):
        return None
    split_of: dict[str, str] = {}
    for path, split in lists:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                rel = line.split()[0]
                if rel.count("/") != 2:
                    raise DataError(f"{path}, line {i + 1}: expected 'domain/class/file label', got {line!r}")
                split_of[rel] = split
    return split_of


@register_benchmark("domainnet")
def domainnet(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    num_tasks: int = 5, domains: list[str] | None = None, train_per_class: int | None = None,
    test_per_class: int | None = None, image_size: int = 224, sample_seed: int = 0, manifest: str | None = None,
    scenario: str = "cil",
) -> TaskStream:
    """DomainNet (345 classes over 6 domains; ``<domain>/<class>/<file>``) as 5 tasks of 69
    classes, all domains pooled. Split: the official ``<domain>_train/test.txt`` lists when all
    sit in ``data_root``, else a JSON ``manifest``, else the pinned sha256 80/20 rule."""
    root = _need_root("domainnet", data_root)
    domains = list(domains or DOMAINNET_DOMAINS)
    unknown = [d for d in domains if d not in DOMAINNET_DOMAINS]
    if unknown:
        raise ConfigError(f"benchmark 'domainnet': unknown domains {unknown}; known: {list(DOMAINNET_DOMAINS)}")
    missing = [d for d in domains if not (root / d).is_dir()]
    if missing:
        raise DataError(f"domainnet: domain folders {missing} not found in {root}")
    files = [f for d in domains for f in list_images(root / d, root)]
    if not files:
        raise DataError(f"domainnet: no images under {root}/<domain>/<class>/")
    class_of = {f: f.split("/")[1] for f in files}
    official = _official_domainnet_split(root, domains) if manifest is None else None
    if official is not None:
        files = [f for f in files if f in official]
        split_of, rule = official, "official <domain>_train/test.txt"
    else:
        split_of, rule = _split_by_rule_or_manifest(root, files, manifest)
    return _folder_stream("domainnet", root, files, class_of, split_of, num_tasks=num_tasks, seed=seed,
                          class_order=class_order, train_per_class=train_per_class, test_per_class=test_per_class,
                          image_size=image_size, sample_seed=sample_seed, scenario=scenario, rule=rule)
