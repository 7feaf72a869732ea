"""Build task streams from a labelled pool: class-, task- and domain-incremental splits."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from litelora.benchmarks.stream import Example, Scenario, Task, TaskStream
from litelora.errors import ConfigError


def resolve_class_order(
    num_classes: int, seed: int | None, class_order: Sequence[int] | None
) -> list[int]:
    """The class order: given explicitly, or a permutation drawn from ``seed``.

    Giving both is ambiguous (Avalanche's rule), so it is an error.
    """
    if class_order is not None:
        if seed is not None:
            raise ConfigError("give either class_order or seed (which draws the order), not both")
        order = list(class_order)
        if sorted(order) != sorted(set(order)) or not all(0 <= c < num_classes for c in order):
            raise ConfigError(f"class_order {order} must list distinct class ids in 0..{num_classes - 1}")
        return order
    order = list(range(num_classes))
    random.Random(seed).shuffle(order)
    return order


def split_by_class(
    train: Sequence[Example],
    test: Sequence[Example],
    class_names: Sequence[str],
    *,
    name: str,
    classes_per_task: int,
    num_tasks: int | None = None,
    seed: int | None = 0,
    class_order: Sequence[int] | None = None,
    scenario: Scenario = "cil",
    input_kind: str = "text",
) -> TaskStream:
    """Split a labelled pool into tasks of ``classes_per_task`` classes each.

    Labels are remapped so the stream's class ``c`` is source class ``class_order[c]``;
    tasks therefore own contiguous label ranges, which is what a growing head expects.
    """
    if scenario not in ("cil", "til"):
        raise ConfigError(f"split_by_class builds 'cil' or 'til' streams, not {scenario!r}")
    if classes_per_task <= 0:
        raise ConfigError(f"classes_per_task must be > 0, got {classes_per_task}")
    order = resolve_class_order(len(class_names), seed, class_order)
    max_tasks = len(order) // classes_per_task
    num_tasks = max_tasks if num_tasks is None else num_tasks
    if not 1 <= num_tasks <= max_tasks:
        raise ConfigError(
            f"num_tasks={num_tasks} needs {num_tasks * classes_per_task} classes; "
            f"the pool has {len(order)} (at most {max_tasks} tasks of {classes_per_task})"
        )
    used = order[: num_tasks * classes_per_task]
    remap = {src: new for new, src in enumerate(used)}
    by_class_train = _group(train, remap)
    by_class_test = _group(test, remap)
    tasks = []
    for t in range(num_tasks):
        classes = tuple(range(t * classes_per_task, (t + 1) * classes_per_task))
        tasks.append(
            Task(
                task_id=t,
                name=f"task_{t:03d}",
                classes=classes,
                train=[ex for c in classes for ex in by_class_train.get(c, [])],
                test=[ex for c in classes for ex in by_class_test.get(c, [])],
            )
        )
    return TaskStream(
        name=name,
        scenario=scenario,
        tasks=tasks,
        class_names=[class_names[c] for c in used],
        input_kind=input_kind,  # type: ignore[arg-type]
        class_order=used,
        seed=seed,
    ).validate()


def _group(examples: Sequence[Example], remap: dict[int, int]) -> dict[int, list[Example]]:
    out: dict[int, list[Example]] = defaultdict(list)
    for ex in examples:
        if ex.label in remap:
            out[remap[ex.label]].append(Example(ex.input, remap[ex.label]))
    return out


def merge_tasks(stream: TaskStream) -> TaskStream:
    """One task holding every task's data and classes: the joint-training upper bound."""
    tasks = stream.tasks
    classes = tuple(dict.fromkeys(c for t in tasks for c in t.classes))
    merged = Task(0, "joint", classes, [ex for t in tasks for ex in t.train], [ex for t in tasks for ex in t.test])
    return TaskStream(
        name=f"{stream.name}-joint", scenario="cil" if stream.scenario != "dil" else "dil", tasks=[merged],
        class_names=list(stream.class_names), input_kind=stream.input_kind, class_order=list(stream.class_order),
        seed=stream.seed, meta={**stream.meta, "merged_from": [t.name for t in tasks]},
    ).validate()
