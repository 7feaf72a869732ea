"""Your own task data without code: one folder per task holding ``train`` and ``test`` files in
JSON Lines, CSV/TSV or JSON (a list of records), with the columns named in the config.

Layout: ``<root>/<task>/train.jsonl`` (or ``.csv``, ``.tsv``, ``.json``) and ``test.<same>``;
an optional ``labels.json`` (a JSON list) or ``labels.txt`` (one label per line) fixes the label
order, else the sorted train labels do. Labels may be strings or integers (read as their text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litelora.benchmarks.sources.records import (
    json_document,
    json_list_records,
    jsonl_records,
    read_text,
    table_records,
)
from litelora.benchmarks.sources.saved_dataset import saved_dataset_records
from litelora.errors import DataError

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv", ".json": "json"}


@dataclass(frozen=True)
class Columns:
    """Which record fields hold the text, an optional second text, and the label."""

    text: str = "text"
    label: str = "label"
    text_pair: str | None = None
    pair_separator: str = " [SEP] "


def split_file(task_dir: Path, split: str) -> Path:
    """The one ``<split>.<ext>`` file of the task folder (two formats for one split is ambiguous)."""
    found = [task_dir / f"{split}{ext}" for ext in FORMATS if (task_dir / f"{split}{ext}").is_file()]
    if not found:
        raise DataError(f"{task_dir}: no {split} file; expected one of "
                        f"{', '.join(split + ext for ext in FORMATS)}")
    if len(found) > 1:
        raise DataError(f"{task_dir}: {', '.join(f.name for f in found)} all hold the {split} split; keep one")
    return found[0]


def _records(file: Path) -> list[tuple[str, Any]]:
    """Each record of a split file with where it starts (file and line)."""
    fmt = FORMATS[file.suffix]
    text = read_text(file)
    if fmt == "jsonl":
        return jsonl_records(text, file)
    if fmt == "json":
        return json_list_records(text, file)
    return table_records(text, file, tsv=fmt == "tsv")


def read_split(file: Path, columns: Columns) -> list[tuple[str, str]]:
    """(text, label text) of every record of a file, each field checked."""
    return check_records(_records(file), str(file), columns)


def check_records(records: list[tuple[str, Any]], file: str, columns: Columns) -> list[tuple[str, str]]:
    """(text, label text) of every (where, record), each field checked; ``where`` names the file
    and line (or record) in errors, ``file`` the split when it is empty."""
    if not records:
        raise DataError(f"{file}: the split is empty")
    wanted = [columns.text, columns.label] + ([columns.text_pair] if columns.text_pair else [])
    out = []
    for where, record in records:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object of fields, got {type(record).__name__}")
        missing = [c for c in wanted if c not in record]
        if missing:
            raise DataError(f"{where}: no column {missing[0]!r} (columns: {sorted(record)}); set "
                            "benchmark.options.text_column / label_column / text_pair_column")
        texts = [record[columns.text]] + ([record[columns.text_pair]] if columns.text_pair else [])
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise DataError(f"{where}: the text columns must hold non-empty strings, got {texts!r:.80}")
        label = record[columns.label]
        if isinstance(label, bool) or not isinstance(label, (str, int)) or (isinstance(label, str) and not label):
            raise DataError(f"{where}: label {label!r} must be a non-empty string or an integer")
        out.append((columns.pair_separator.join(texts), str(label)))
    return out


def read_labels(task_dir: Path) -> list[str] | None:
    """The label order from ``labels.json`` or ``labels.txt``, if the task folder has one."""
    for name in ("labels.json", "labels.txt"):
        file = task_dir / name
        if not file.is_file():
            continue
        text = read_text(file)
        if name == "labels.json":
            labels = json_document(text, file)
        else:  # one label per line: only a line end splits, as in the data files
            labels = [line.strip() for line in text.split("\n") if line.strip()]
        if not isinstance(labels, list) or not labels or not all(isinstance(x, (str, int)) for x in labels):
            raise DataError(f"{file}: expected a non-empty list of label strings")
        labels = [str(x) for x in labels]
        if len(set(labels)) != len(labels):
            raise DataError(f"{file}: labels must be distinct, got {labels}")
        return labels
    return None


def load_table_task(root: Path, task: str, columns: Columns) -> tuple[list[tuple[str, str]], list[tuple[str, str]],
                                                                        list[str]]:
    """One task folder's ``(train, test, labels)``; every test label must be a known label."""
    task_dir = root / task
    if not task_dir.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise DataError(f"task folder {task_dir} not found; folders present: {present or 'none'}")
    if (task_dir / "dataset_dict.json").is_file():
        train_records, test_records, names = saved_dataset_records(task_dir, columns.label)
        train = check_records(train_records, f"{task_dir}[train]", columns)
        test = check_records(test_records, f"{task_dir}[test]", columns)
    else:
        train = read_split(split_file(task_dir, "train"), columns)
        test = read_split(split_file(task_dir, "test"), columns)
        names = None
    labels = read_labels(task_dir) or names or sorted({y for _, y in train})
    known = set(labels)
    for split, records in (("train", train), ("test", test)):
        unknown = sorted({y for _, y in records} - known)
        if unknown:
            raise DataError(f"{task_dir}: {split} labels {unknown[:5]} are not among the task's labels {labels[:10]}")
    return train, test, labels
