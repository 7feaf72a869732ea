"""The O-LoRA continual text-classification benchmark, read from a folder the user provides.

Layout: ``<root>/<task>/train.json`` and ``test.json`` (``dev.json`` may sit beside them and
is not read), each a JSON list of ``{"sentence": str, "label": str}``; an optional
``labels.json`` lists the label strings in order (else: the sorted train labels).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from litelora.benchmarks.sources.records import json_document, json_list_records, read_text
from litelora.errors import DataError

# Published task orders (Wang et al., 2023, "Orthogonal Subspace Learning for Language Model
# Continual Learning"): 1-3 are the 4-task standard benchmark, 4-6 the 15-task long one.
OLORA_ORDERS: dict[int, list[str]] = {
    1: ["dbpedia", "amazon", "yahoo", "agnews"],
    2: ["dbpedia", "amazon", "agnews", "yahoo"],
    3: ["yahoo", "amazon", "agnews", "dbpedia"],
    4: ["mnli", "cb", "wic", "copa", "qqp", "boolqa", "rte", "imdb",
        "yelp", "amazon", "sst-2", "dbpedia", "agnews", "multirc", "yahoo"],
    5: ["multirc", "boolqa", "wic", "mnli", "cb", "copa", "qqp", "rte",
        "imdb", "sst-2", "dbpedia", "agnews", "yelp", "amazon", "yahoo"],
    6: ["yelp", "amazon", "mnli", "cb", "copa", "qqp", "rte", "imdb",
        "sst-2", "dbpedia", "agnews", "yahoo", "multirc", "boolqa", "wic"],
}


# Two published names are spelled as the O-LoRA repository's folders are; other copies of the
# data (the Hugging Face GLUE / SuperGLUE names) call those folders sst2 and boolq.
TASK_ALIASES: dict[str, tuple[str, ...]] = {"sst-2": ("sst2",), "boolqa": ("boolq",)}


def load_olora_task(
    root: str | os.PathLike[str], task_name: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """One task's ``(train, test, labels)``: (sentence, label) pairs and the label strings."""
    root_dir = Path(root).expanduser()
    if not root_dir.is_dir():
        raise DataError(
            f"O-LoRA data root {root_dir} is not a folder; pass the folder that holds one "
            f"sub-folder per task (e.g. {root_dir / 'dbpedia'})"
        )
    task_dir = find_task_dir(root_dir, task_name)
    if task_dir.name.lower() != task_name.lower():
        warnings.warn(f"O-LoRA task {task_name!r} is read from folder {task_dir} (another spelling of its name)",
                      stacklevel=2)
    train = _read_split(task_dir / "train.json")
    test = _read_split(task_dir / "test.json")
    labels_file = task_dir / "labels.json"
    labels = _read_labels(labels_file) if labels_file.exists() else sorted({label for _, _, label in train})
    known = set(labels)
    for where, _, label in train + test:
        if label not in known:
            raise DataError(f"{where}: label {label!r} is not among the task's labels {labels} "
                            f"(add it to {labels_file} or fix the record)")
    return [(s, y) for _, s, y in train], [(s, y) for _, s, y in test], labels


def find_task_dir(root: Path, task_name: str) -> Path:
    """``root/<task>``, matched without regard to case, directly or one category folder down:
    the O-LoRA repository keeps ``CL_Benchmark/TC/dbpedia``, ``CL_Benchmark/NLI/MNLI``, ``BoolQA``.
    A name in ``TASK_ALIASES`` not found so is looked for under its other spellings."""
    for name in (task_name, *TASK_ALIASES.get(task_name.lower(), ())):
        found = _find_dir(root, name)
        if found is not None:
            return found
    present = sorted(p.name for p in root.iterdir() if p.is_dir())
    raise DataError(f"O-LoRA task folder {root / task_name} not found; tasks present: {present or 'none'} "
                    f"(names match in any case, directly or one category folder down)")


def _find_dir(root: Path, task_name: str) -> Path | None:
    if (root / task_name).is_dir():
        return root / task_name
    for parent in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        for child in sorted(parent.iterdir()):
            if child.is_dir() and child.name.lower() == task_name.lower() and (child / "train.json").exists():
                return child
    return None


def _load_text(file: Path) -> str:
    if not file.is_file():
        raise DataError(f"{file} not found; every O-LoRA task folder needs train.json and test.json")
    return read_text(file)


def _read_split(file: Path) -> list[tuple[str, str, str]]:
    """(where, sentence, label) of every record; ``where`` names the file, line and record."""
    data = json_list_records(_load_text(file), file)
    if not data:
        raise DataError(f"{file}: the split is empty")
    records = []
    for where, record in data:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object, got {type(record).__name__}")
        for key in ("sentence", "label"):
            if key not in record:
                raise DataError(f"{where}: missing {key!r} (keys: {sorted(record)})")
            if not isinstance(record[key], str):
                raise DataError(f"{where}: {key!r} must be a string, got {type(record[key]).__name__}")
        records.append((where, record["sentence"], record["label"]))
    return records


def _read_labels(file: Path) -> list[str]:
    data = json_document(_load_text(file), file)
    if not isinstance(data, list) or not data:
        raise DataError(f"{file}: expected a non-empty JSON list of label strings")
    for i, label in enumerate(data):
        if not isinstance(label, str):
            raise DataError(f"{file}, record {i}: labels must be strings, got {type(label).__name__}")
    if len(set(data)) != len(data):
        raise DataError(f"{file}: labels must be distinct, got {data}")
    return list(data)
