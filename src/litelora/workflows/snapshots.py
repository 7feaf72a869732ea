"""The model as it stood after each task, rebuilt from a finished run and exported as PEFT folders.

Snapshot t = the adapters of tasks <= t and the reuse structures (scale, core) those tasks
created, plus the head blocks of the classes seen by task t. Old adapters are frozen and
head rows never change after their task, so for a method whose tasks never touch earlier
adapters (``ContinualMethod.keeps_old_adapters``) this is exactly the model after task t.
Methods that retrain earlier adapters (``sdlora``'s alphas, ``seqlora``'s single adapter)
keep only the final values, so their snapshots carry the final values of tasks <= t and are
marked ``"exact": false`` in ``snapshot.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from litelora._io import save_tensors, write_json
from litelora.adapters import AdapterBank, adapter_name, export_peft
from litelora.methods import create_method
from litelora.workflows.head_meta import head_record, model_pooling

SNAPSHOT_JSON = "snapshot.json"
HEAD_DIR = "litelora_head"


def snapshot_name(task: int) -> str:
    return f"after_{adapter_name(task)}"


def drop_task(bank: AdapterBank, task: int) -> None:
    """Remove task ``task``'s adapters and reuse structures from every target of ``bank``."""
    name = adapter_name(task)
    for target in bank.targets:
        slot = bank.slot(target)
        if name in slot.adapters:
            bank.remove_candidate(target, task)
        if name in slot.reuse:  # reuse modules are keyed like the task that made them
            del slot.reuse[name]
    bank.tasks = [t for t in bank.tasks if t != task]


def drop_tasks_from(bank: AdapterBank, first: int) -> None:
    """Remove task ``first`` and every later task from ``bank`` (``drop_task``): what is left is the
    model before task ``first`` trained, for a method that never changes earlier adapters."""
    for t in [t for t in bank.tasks if t >= first]:
        drop_task(bank, t)


def head_snapshot(structure: list[list[int]], tensors: dict[str, torch.Tensor],
                  seen: set[int]) -> tuple[list[list[int]], dict[str, torch.Tensor]]:
    """The leading head blocks whose classes were all seen (blocks are appended task by task)."""
    kept = 0
    while kept < len(structure) and set(structure[kept]) <= seen:
        kept += 1
    keys = {f"blocks.{i}.{p}" for i in range(kept) for p in ("weight", "bias")}
    return structure[:kept], {k: v for k, v in tensors.items() if k in keys}


def export_snapshots(loaded: Any, out_dir: str | os.PathLike[str], *, base_model_name_or_path: str | None = None,
                     overwrite: bool = False, on_written: Callable[[Path], None] | None = None) -> list[Path]:
    """Write ``out_dir/after_task_NNN/`` for every task of a loaded run (``build.LoadedRun``).

    Each holds a PEFT LoRA folder, ``litelora_head/`` and ``snapshot.json`` (tasks, exactness).
    ``loaded.bank`` is consumed: tasks are removed from it, last first. ``on_written(folder)`` runs
    after each snapshot (a progress bar).
    """
    out_dir = Path(out_dir)
    bank: AdapterBank = loaded.bank
    method = create_method(loaded.config.method.name, loaded.config.method.params)
    structure, tensors = loaded.model.head.structure(), dict(loaded.model.head.state_tensors())
    tasks = list(loaded.stream.tasks)
    written: list[Path] = []
    for position in range(len(tasks) - 1, -1, -1):
        task = tasks[position].task_id
        folder = out_dir / snapshot_name(task)
        bank_tasks = [t for t in bank.tasks if t <= task]
        if any(bank.slot(t).adapters or bank.slot(t).reuse for t in bank.targets):
            export_peft(bank, folder, base_model_name_or_path=base_model_name_or_path, overwrite=overwrite)
        else:
            folder.mkdir(parents=True, exist_ok=True)  # no adapter so far: the base model alone
        seen = {c for t in tasks[: position + 1] for c in t.classes}
        blocks, head_tensors = head_snapshot(structure, tensors, seen)
        save_tensors(folder / HEAD_DIR / "head.safetensors", head_tensors)
        write_json(folder / HEAD_DIR / "head.json", {
            "feature_dim": loaded.model.head.feature_dim, "blocks": blocks,
            **head_record([c for block in blocks for c in block], loaded.stream, model_pooling(loaded.model))})
        write_json(folder / SNAPSHOT_JSON, {
            "after_task": task, "tasks": bank_tasks, "classes": sorted(seen), "method": method.name,
            "exact": method.keeps_old_adapters,
            "note": None if method.keeps_old_adapters else (
                f"{method.name} changes earlier tasks' adapters in later tasks; this snapshot holds their final "
                "values, not the values they had after this task"),
        })
        written.append(folder)
        if on_written is not None:
            on_written(folder)
        drop_tasks_from(bank, task)
    return written[::-1]
