"""Planted redundancy: a synthetic stream where the right recruit/reuse decision is known.

Inputs are two halves ``a`` and ``b`` of ``HALF`` coordinates. In each half the first
``VISIBLE`` coordinates carry noise the frozen model sees; the rest form hidden 2-d blocks
(``a0``, ``a1``, ``b0``, ``b1``) that the matching ``planted-mlp`` backbone's input layer
(``in_a`` / ``in_b``) cannot see (its weights there are zero). A task's classes live in
one hidden block, so a module must recruit an adapter exactly when the task's block has
not been read by an earlier adapter of that module; the shared ``fc`` never needs one. A plan
entry ``copy:<t>`` repeats task ``t`` verbatim (the same inputs and labels, under its own task
name and class ids): nothing needs recruiting for it.
"""

from __future__ import annotations

import math
import random

import torch

from litelora.benchmarks.registry import check_synthetic_size, register_benchmark
from litelora.benchmarks.stream import Example, Task, TaskStream
from litelora.errors import ConfigError

HALF, VISIBLE, BLOCK = 8, 4, 2
BLOCKS = {"a0": ("a", 0), "a1": ("a", 1), "b0": ("b", 0), "b1": ("b", 1)}
DEFAULT_PLAN = ("a0", "b0", "a0", "a1", "b0")
MODULES = ("in_a", "in_b", "fc")


def block_coords(block: str) -> list[int]:
    half, k = BLOCKS[block]
    start = (0 if half == "a" else HALF) + VISIBLE + k * BLOCK
    return list(range(start, start + BLOCK))


def _block(plan: tuple[str, ...] | list[str], t: int) -> str:
    """Task ``t``'s block, following ``copy:<s>`` entries to the task they repeat."""
    entry = plan[t]
    return _block(plan, int(entry.split(":", 1)[1])) if entry.startswith("copy:") else entry


def planted_truth(plan: tuple[str, ...] | list[str]) -> list[dict[str, bool]]:
    """Per task, module -> must recruit. Task 0 recruits everywhere (nothing to reuse)."""
    truth, read = [], set()
    for t in range(len(plan)):
        block = _block(plan, t)
        half = BLOCKS[block][0]
        if t == 0:
            truth.append(dict.fromkeys(MODULES, True))
        else:
            truth.append({"in_a": half == "a" and block not in read, "in_b": half == "b" and block not in read,
                          "fc": False})
        read.add(block)
    return truth


@register_benchmark("planted-redundancy")
def planted_redundancy(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    plan: list[str] | None = None, classes_per_task: int = 4, train_per_class: int = 64, test_per_class: int = 32,
    noise: float = 0.3, scenario: str = "til",
) -> TaskStream:
    """Use with ``model.name=planted-mlp`` and ``adapter.target_modules=[in_a, in_b, fc]``.

    Task-incremental by default: the decisions are the point, not cross-task calibration.
    """
    plan = list(plan or DEFAULT_PLAN)
    for t, entry in enumerate(plan):
        source = entry.split(":", 1)[1] if isinstance(entry, str) and entry.startswith("copy:") else None
        if source is not None and not (source.isdigit() and int(source) < t):
            raise ConfigError(f"planted-redundancy: plan[{t}]={entry!r} must copy an earlier task: copy:<0..{t - 1}>")
        if source is None and entry not in BLOCKS:
            raise ConfigError(f"planted-redundancy: unknown block {entry!r} in plan; known: {list(BLOCKS)} "
                              "or copy:<earlier task>")
    if class_order is not None:
        raise ConfigError("planted-redundancy: classes are built per task; class_order does not apply")
    if scenario not in ("til", "cil"):
        raise ConfigError(f"planted-redundancy: scenario must be 'til' or 'cil', got {scenario!r}")
    check_synthetic_size("planted-redundancy", len(plan) * classes_per_task, train_per_class + test_per_class)
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed or 0)
    tasks: list[Task] = []
    for t, block in enumerate(plan):
        classes = tuple(range(t * classes_per_task, (t + 1) * classes_per_task))
        if block.startswith("copy:"):
            source = tasks[int(block.split(":", 1)[1])]
            relabel = dict(zip(source.classes, classes))
            tasks.append(Task(t, f"task_{t:03d}_{block.replace(':', '')}", classes,
                              [Example(e.input, relabel[e.label]) for e in source.train],
                              [Example(e.input, relabel[e.label]) for e in source.test]))
            continue
        coords = block_coords(block)
        phase = rng.uniform(0, 2 * math.pi)
        splits: dict[str, list[Example]] = {"train": [], "test": []}
        for k, c in enumerate(classes):
            angle = phase + 2 * math.pi * k / classes_per_task
            mean = torch.tensor([3.0 * math.cos(angle), 3.0 * math.sin(angle)])
            for split, n in (("train", train_per_class), ("test", test_per_class)):
                x = torch.zeros(n, 2 * HALF)
                x[:, :VISIBLE] = torch.randn(n, VISIBLE, generator=gen)
                x[:, HALF : HALF + VISIBLE] = torch.randn(n, VISIBLE, generator=gen)
                x[:, coords] = mean + noise * torch.randn(n, BLOCK, generator=gen)
                splits[split] += [Example(row, c) for row in x]
        tasks.append(Task(t, f"task_{t:03d}_{block}", classes, splits["train"], splits["test"]))
    return TaskStream(
        name="planted-redundancy", scenario=scenario, tasks=tasks,  # type: ignore[arg-type]
        class_names=[f"t{t}c{k}" for t in range(len(plan)) for k in range(classes_per_task)],
        input_kind="tensor", class_order=list(range(len(plan) * classes_per_task)), seed=seed,
        meta={"input_dim": 2 * HALF, "plan": plan, "truth": planted_truth(plan)},
    ).validate()
