"""Your own task data without code: one folder per task holding ``train`` and ``test`` files in
JSON Lines, CSV/TSV or JSON (a list of records), with the columns named in the config.

Layout: ``<root>/<task>/train.jsonl`` (or ``.csv``, ``.tsv``, ``.json``) and ``test.<same>``;
an optional ``labels.json`` (a JSON list) or ``labels.txt`` (one label per line) fixes the label
order, else the sorted train labels do. Labels may be strings or integers (read as their text).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _records(file: Path) -> list[Any]:
    fmt = FORMATS[file.suffix]
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        if fmt == "jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if fmt == "json":
            data = json.loads(text)
            if not isinstance(data, list):
                raise DataError(f"{file}: expected a JSON list of records, got {type(data).__name__}")
            return data
    except json.JSONDecodeError as err:
        raise DataError(f"{file}: broken JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise DataError(f"{file}: JSON nested too deeply; expected records of fields") from None
    try:
        return list(csv.DictReader(text.splitlines(), delimiter="\t" if fmt == "tsv" else ","))
    except csv.Error as err:
        raise DataError(f"{file}: malformed {fmt.upper()} ({err})") from None


def read_split(file: Path, columns: Columns) -> list[tuple[str, str]]:
    """(text, label text) of every record of a file, each field checked."""
    return check_records(_records(file), str(file), columns)


def check_records(records: list[Any], file: str, columns: Columns) -> list[tuple[str, str]]:
    """(text, label text) of every record, each field checked (``file`` names them in errors)."""
    if not records:
        raise DataError(f"{file}: the split is empty")
    wanted = [columns.text, columns.label] + ([columns.text_pair] if columns.text_pair else [])
    out = []
    for i, record in enumerate(records):
        where = f"{file}, record {i}"
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
        if name == "labels.json":
            try:
                labels = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise DataError(f"{file}: not a JSON list of labels ({err})") from None
        else:
            labels = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
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
        train, test, names = read_saved_dataset(task_dir, columns)
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


def read_saved_dataset(task_dir: Path, columns: Columns) -> tuple[list[tuple[str, str]], list[tuple[str, str]],
                                                                   list[str] | None]:
    """A Hugging Face ``DatasetDict`` saved with ``save_to_disk`` (needs the ``datasets`` extra):
    its ``train`` and ``test`` splits, and the label names when the label is a ``ClassLabel``."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"{task_dir} is a saved Hugging Face dataset; reading it needs the datasets package: "
                        "pip install 'litelora[datasets]'") from None
    try:
        saved = datasets.load_from_disk(str(task_dir))
    except (OSError, ValueError) as err:
        raise DataError(f"{task_dir}: not a readable saved dataset ({err})") from None
    if not isinstance(saved, datasets.DatasetDict) or not {"train", "test"} <= set(saved):
        found = sorted(saved) if isinstance(saved, datasets.DatasetDict) else "one split"
        raise DataError(f"{task_dir}: a saved dataset needs 'train' and 'test' splits, found {found}")
    feature = saved["train"].features.get(columns.label)
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    splits = []
    for split in ("train", "test"):
        records = saved[split].to_list()
        if names is not None:  # ClassLabel ids -> their names, so the label names are kept
            records = [{**r, columns.label: names[r[columns.label]]} if isinstance(r.get(columns.label), int) else r
                       for r in records]
        splits.append(check_records(records, f"{task_dir}[{split}]", columns))
    return splits[0], splits[1], names

