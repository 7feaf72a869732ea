"""What the earlier adapters carry: each task scored by the model as it stood before the task
trained (``litelora eval RUN_DIR --carried``).

Task t is scored with the adapters and reuse structures of tasks < t only, as in
:mod:`litelora.workflows.snapshots` (the base model for task 0), and with every adapter disabled
(the base model). The first is ``R[t-1][t]``, the entry just above the accuracy matrix's
diagonal that training never measures: the accuracy a gate that closed every module of task t
would start the task from. Forward transfer (GEM) is its mean gain over the base model.

This needs a model that can answer a task it has not trained on (a generative model: its label
words are text; a classifier head gets a task's classes only when the task trains), at least two
tasks, and a method whose tasks leave earlier adapters as they were
(``ContinualMethod.keeps_old_adapters``), so that the final bank rebuilds the earlier models
exactly. Where the run's own test sets are scored, that is checked on the last task: the model
rebuilt before it must score the task before it exactly as the run did right after training it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from litelora.benchmarks import Task
from litelora.errors import ConfigError, DataError
from litelora.generative.lm import GenerativeModel
from litelora.methods import METHODS, create_method
from litelora.models.task_model import TaskModel
from litelora.training.evaluation import evaluate_task
from litelora.workflows.runs import LoadedRun
from litelora.workflows.snapshots import drop_tasks_from


def rebuildable_methods() -> list[str]:
    """Registered methods whose final bank rebuilds the model before every task."""
    classes = {name: METHODS.get(name) for name in METHODS.list()}  # ContinualMethod subclasses (the registry checks)
    return [name for name, cls in classes.items()
            if cls.keeps_old_adapters and not cls.wants_joint_stream]  # type: ignore[attr-defined]


def check_carried(loaded: LoadedRun, where: str) -> None:
    """Refuse a run whose earlier models cannot be rebuilt, or cannot score a task before it."""
    if not isinstance(loaded.model, GenerativeModel):
        raise ConfigError(f"{where}: --carried scores each task before it trained, which needs a model that can answer "
                          "a task it has not trained on (a generative model); this run's classifier head gets a "
                          "task's classes only when the task trains")
    method = create_method(loaded.config.method.name, loaded.config.method.params)
    if not method.keeps_old_adapters:
        raise ConfigError(f"{where}: method {method.name!r} changes earlier tasks' adapters in later tasks, so the "
                          "model before a task cannot be rebuilt from the final one; --carried applies to "
                          f"{', '.join(rebuildable_methods())}")
    if len(loaded.stream.tasks) < 2:
        raise ConfigError(f"{where}: --carried needs at least two tasks (nothing trains before the only task of this "
                          f"{'joint ' if method.wants_joint_stream else ''}run)")


def models_before_tasks(loaded: LoadedRun) -> Iterator[tuple[Task, TaskModel]]:
    """Each task of the run after the first, with ``loaded.model`` as it stood before that task
    trained, last task first. Consumes ``loaded.bank``: a task's adapters are removed before its
    own turn."""
    for task in reversed(list(loaded.stream.tasks)[1:]):
        drop_tasks_from(loaded.bank, task.task_id)
        yield task, loaded.model


def carried_report(loaded: LoadedRun, batch_size: int, scenario: str,
                   R: Sequence[Sequence[float]] | None = None) -> dict[str, Any]:
    """Per task (in stream order): accuracy with the base model (``base``) and before the task
    (``before``; the base model for task 0), as fractions of its test set; ``forward_transfer``:
    mean over tasks t >= 1 of ``before - base`` (fraction). ``R``: the run's accuracy matrix, where
    the test sets are the run's own: the model rebuilt before the last task must score the task
    before it at ``R[T-2][T-2]`` (a ``DataError`` otherwise). Consumes ``loaded.bank``."""
    tasks = list(loaded.stream.tasks)
    with loaded.bank.disable_adapters():
        base = [evaluate_task(loaded.model, task, scenario, batch_size) for task in tasks]
    before = {tasks[0].task_id: base[0]}
    for task, model in models_before_tasks(loaded):
        before[task.task_id] = evaluate_task(model, task, scenario, batch_size)
        if R is not None and task.task_id == tasks[-1].task_id:
            _check_rebuilt(model, tasks[-2], R, scenario, batch_size)
    gains = [before[t.task_id] - b for t, b in zip(tasks[1:], base[1:])]
    return {"forward_transfer": sum(gains) / len(gains),
            "tasks": [{"task": t.task_id, "name": t.name, "n": len(t.test), "base": b, "before": before[t.task_id]}
                      for t, b in zip(tasks, base)]}


def _check_rebuilt(model: TaskModel, task: Task, R: Sequence[Sequence[float]], scenario: str, batch_size: int) -> None:
    """The model rebuilt after ``task`` scores it as the run did right after training it: the same
    number of correct test examples (the matrix file keeps 6 decimals, so fractions like 59/60
    differ from a fresh score in the last digit)."""
    expected = R[task.task_id][task.task_id]
    got = evaluate_task(model, task, scenario, batch_size)
    n = len(task.test)
    if round(got * n) != round(expected * n):
        raise DataError(f"the model rebuilt after task {task.task_id} ({task.name}) scores {got:.4f} on it, the run "
                        f"scored {expected:.4f} right after training it: a later task changed its adapters, so the "
                        "method's keeps_old_adapters is wrong and --carried cannot rebuild this run")


__all__ = ["carried_report", "check_carried", "models_before_tasks", "rebuildable_methods"]
