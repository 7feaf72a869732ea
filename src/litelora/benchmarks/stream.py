"""Task streams: what a continual benchmark hands to the trainer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from litelora.errors import DataError

Scenario = Literal["cil", "til", "dil"]
SCENARIOS: tuple[str, ...] = ("cil", "til", "dil")


@dataclass(frozen=True)
class Example:
    """One labelled input. ``input`` is a string (text) or a tensor (images, features);
    ``label`` is the global class id in the stream's label space."""

    input: Any
    label: int


@dataclass
class Task:
    """One experience: its id, its classes (global ids) and its train and test examples.

    ``family``: the kind of task (``topic``, ``sentiment``, ...) where the benchmark groups its
    tasks into recurring families; ``None`` elsewhere.
    """

    task_id: int
    name: str
    classes: tuple[int, ...]
    train: list[Example]
    test: list[Example]
    family: str | None = None


@dataclass
class TaskStream:
    """A sequence of tasks sharing one label space.

    ``class_names[c]`` names global class ``c``; ``class_order`` records the source's class
    ids in the order the stream presents them (the stream's class ``c`` is source class
    ``class_order[c]``), so a run can be reproduced and compared across seeds.
    """

    name: str
    scenario: Scenario
    tasks: list[Task]
    class_names: list[str]
    input_kind: Literal["text", "tensor"] = "text"
    class_order: list[int] = field(default_factory=list)
    seed: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    shared_labels: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def validate(self) -> TaskStream:
        """Raise ``DataError`` naming the task and the problem; return self when sound."""
        if self.scenario not in SCENARIOS:
            raise DataError(f"stream {self.name!r}: scenario {self.scenario!r} is not one of {SCENARIOS}")
        if not self.tasks:
            raise DataError(f"stream {self.name!r} has no tasks")
        seen: set[int] = set()
        for i, task in enumerate(self.tasks):
            where = f"stream {self.name!r}, task {i} ({task.name!r})"
            if task.task_id != i:
                raise DataError(f"{where}: task_id is {task.task_id}, expected {i} (tasks are numbered in order)")
            if not task.classes:
                raise DataError(f"{where}: declares no classes")
            if not task.train:
                raise DataError(f"{where}: the training set is empty")
            if not task.test:
                raise DataError(f"{where}: the test set is empty")
            bad = [c for c in task.classes if not 0 <= c < self.num_classes]
            if bad:
                raise DataError(f"{where}: classes {bad} are outside 0..{self.num_classes - 1}")
            allowed = set(task.classes)
            for split, examples in (("train", task.train), ("test", task.test)):
                labels = Counter(ex.label for ex in examples)
                stray = sorted(set(labels) - allowed)
                if stray:
                    raise DataError(
                        f"{where}: {split} labels {stray[:5]} are not among the task's classes {list(task.classes)}"
                    )
            if self.scenario != "dil" and not self.shared_labels:
                overlap = seen & allowed
                if overlap:
                    raise DataError(
                        f"{where}: classes {sorted(overlap)} already appeared in an earlier task; "
                        f"scenario {self.scenario!r} needs disjoint classes (use 'dil' for a shared label set)"
                    )
            seen |= allowed
        return self

    def problems(self) -> list[str]:
        """Soundness issues that do not stop a run but cap what it can learn: a class with test
        examples and no training examples (its task can never reach full accuracy)."""
        out = []
        for task in self.tasks:
            trained = {ex.label for ex in task.train}
            tested = Counter(ex.label for ex in task.test)
            for c in sorted(set(tested) - trained):
                out.append(f"task {task.task_id} ({task.name!r}): class {c} ({self.class_names[c]!r}) has "
                           f"{tested[c]} test examples but no training examples")
        return out

    def summary(self) -> dict[str, Any]:
        """What ``stream.json`` records: scenario, order, class names, per-task counts (and family,
        where the benchmark names one), the meta."""
        return {
            "name": self.name,
            "scenario": self.scenario,
            "shared_labels": self.shared_labels,
            "num_tasks": len(self.tasks),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "class_order": list(self.class_order),
            "seed": self.seed,
            "meta": self.meta,
            "tasks": [
                {"task_id": t.task_id, "name": t.name, "classes": list(t.classes),
                 "class_names": [self.class_names[c] for c in t.classes],
                 "train": len(t.train), "test": len(t.test),
                 "train_per_class": dict(sorted(Counter(ex.label for ex in t.train).items())),
                 "test_per_class": dict(sorted(Counter(ex.label for ex in t.test).items())),
                 **({"family": t.family} if t.family is not None else {})}
                for t in self.tasks
            ],
        }
