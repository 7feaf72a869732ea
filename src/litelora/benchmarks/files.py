"""``files``: the user's own text tasks, one folder per task, read without code."""

from __future__ import annotations

from pathlib import Path

from litelora.benchmarks.multidomain import _assemble, _cap, _olora_task_names
from litelora.benchmarks.registry import register_benchmark
from litelora.benchmarks.sources.table_files import Columns, load_table_task
from litelora.benchmarks.stream import Example, TaskStream
from litelora.errors import ConfigError, DataError


@register_benchmark("files")
def files(
    seed: int | None = None, class_order: list[int] | None = None, data_root: str | None = None,
    tasks: list[str] | None = None, text_column: str = "text", label_column: str = "label",
    text_pair_column: str | None = None, pair_separator: str = " [SEP] ", train_per_class: int | None = None,
    test_per_class: int | None = None, scenario: str = "cil", shared_labels: bool = False,
) -> TaskStream:
    """Your own text tasks from a local folder (``data_root``): one sub-folder per task with
    ``train`` and ``test`` files in JSON Lines, CSV, TSV or JSON, read with the named columns
    (``text_pair_column``: a second text, joined to the first by ``pair_separator``).

    ``tasks`` gives the task folders in order (default: every sub-folder, sorted by name).
    Label names come from the task's ``labels.json`` / ``labels.txt``, else the sorted train
    labels; ``shared_labels`` makes a label that recurs across tasks one class.
    """
    if data_root is None:
        raise ConfigError("benchmark 'files' reads a local folder: set benchmark.data_root to the folder holding "
                          "one sub-folder per task")
    if class_order is not None:
        raise ConfigError("benchmark 'files': the order is over tasks; list them in benchmark.options.tasks")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError(f"benchmark 'files': data_root {root} is not a folder")
    if (root / "dataset_dict.json").is_file():
        # A saved DatasetDict is one task; its split folders would otherwise be read as tasks.
        raise DataError(f"benchmark 'files': data_root {root} is a saved Hugging Face dataset (one task), not a "
                        f"folder of tasks: set benchmark.data_root={root.resolve().parent} (the folder above it), "
                        f"where {root.name!r} becomes a task")
    names = _olora_task_names(1, tasks) if tasks is not None else sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DataError(f"benchmark 'files': {root} holds no task folders")
    columns = Columns(text_column, label_column, text_pair_column, pair_separator)
    parts = []
    for name in names:
        train, test, labels = load_table_task(root, name, columns)
        index = {label: k for k, label in enumerate(labels)}
        train_ex, test_ex = [Example(s, index[y]) for s, y in train], [Example(s, index[y]) for s, y in test]
        if train_per_class is not None:
            train_ex = _cap(train_ex, train_per_class)
        if test_per_class is not None:
            test_ex = _cap(test_ex, test_per_class)
        parts.append((name, train_ex, test_ex, labels))
    stream = _assemble("files", parts, seed, scenario, shared_labels)
    stream.meta.update(task_order=list(names), data_root=str(root))
    return stream
