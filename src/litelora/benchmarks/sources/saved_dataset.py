"""A Hugging Face ``DatasetDict`` saved with ``save_to_disk``, read as a task folder of ``files``.

The folder's own JSON names the files ``datasets`` opens (``dataset_dict.json`` the split
folders, each ``state.json`` its arrow files); they are checked to be plain names of real files
inside the folder before anything is read, so a copied or edited folder cannot make a run train
on data from elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litelora.benchmarks.sources.records import json_document, read_text
from litelora.errors import DataError

Records = list[tuple[str, Any]]


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def _inside(folder: Path, name: object, what: str, source: Path, *, is_dir: bool) -> Path:
    """``folder / name``, required to be a plain name of a real (not linked) file or folder."""
    if not _plain_name(name):
        raise DataError(f"{source}: {what} {name!r} is not a plain name inside {folder}; a saved dataset "
                        "reads only its own files (save it again with save_to_disk)")
    path = folder / str(name)
    if path.is_symlink() or not (path.is_dir() if is_dir else path.is_file()):
        raise DataError(f"{source}: {what} {path} is missing or a link; a saved dataset reads only its own "
                        "files (save it again with save_to_disk)")
    return path


def check_saved_layout(task_dir: Path) -> list[str]:
    """The split names of a saved dataset, after checking that every file it names lies inside it."""
    index = task_dir / "dataset_dict.json"
    meta = json_document(read_text(index), index)
    splits = meta.get("splits") if isinstance(meta, dict) else None
    if not isinstance(splits, list):
        raise DataError(f"{index}: expected an object with a 'splits' list (save the dataset with save_to_disk)")
    for split in splits:
        folder = _inside(task_dir, split, "split folder", index, is_dir=True)
        state_file = _inside(folder, "state.json", "state file", index, is_dir=False)
        _inside(folder, "dataset_info.json", "info file", index, is_dir=False)
        state = json_document(read_text(state_file), state_file)
        files = state.get("_data_files") if isinstance(state, dict) else None
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
            raise DataError(f"{state_file}: expected '_data_files', a list of {{'filename': ...}} objects")
        for entry in files:
            _inside(folder, entry.get("filename"), "data file", state_file, is_dir=False)
    return [str(s) for s in splits]


def saved_dataset_records(task_dir: Path, label_column: str) -> tuple[Records, Records, list[str] | None]:
    """The ``train`` and ``test`` records of a saved dataset (needs the ``datasets`` extra), each
    named ``task_dir[split], record i``, and the label names when the label is a ``ClassLabel``
    (whose ids are turned into their names; ``-1``, "no label", is refused)."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"{task_dir} is a saved Hugging Face dataset; reading it needs the datasets package: "
                        "pip install 'litelora[datasets]'") from None
    splits = check_saved_layout(task_dir)
    if not {"train", "test"} <= set(splits):
        raise DataError(f"{task_dir}: a saved dataset needs 'train' and 'test' splits, found {sorted(splits)}")
    try:
        saved = datasets.load_from_disk(str(task_dir))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{task_dir}: not a readable saved dataset ({err})") from None
    if not isinstance(saved, datasets.DatasetDict):
        raise DataError(f"{task_dir}: expected a saved DatasetDict with 'train' and 'test' splits")
    feature = saved["train"].features.get(label_column)
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    out = []
    for split in ("train", "test"):
        records = []
        for i, record in enumerate(saved[split].to_list()):
            where = f"{task_dir}[{split}], record {i}"
            label = record.get(label_column)
            if names is not None and isinstance(label, int) and not isinstance(label, bool):
                if not 0 <= label < len(names):
                    raise DataError(f"{where}: label {label} is not a class id of the ClassLabel "
                                    f"(0..{len(names) - 1}); -1 means no label: drop unlabelled rows")
                record = {**record, label_column: names[label]}
            records.append((where, record))
        out.append(records)
    return out[0], out[1], names
