"""What the earlier adapters carry: each task scored by the model as it stood before the task
trained (``litelora eval RUN_DIR --carried``).

Task t is scored with the adapters and reuse structures of tasks < t only, as in
:mod:`litelora.workflows.snapshots` (the base model for task 0), and with every adapter disabled
(the base model). The first is ``R[t-1][t]``, the entry just above the accuracy matrix's
diagonal that training never measures: the accuracy a gate that closed every module of task t
would start the task from. Forward transfer (GEM) is its mean gain over the base model.

This needs a model that can answer a task it has not trained on (a generative model: its label
words are text; a classifier head gets a task's classes only when the task trains), and a method
whose tasks leave earlier adapters as they were (``ContinualMethod.keeps_old_adapters``), so
that the final bank rebuilds the earlier models exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from litelora.benchmarks import Task
from litelora.errors import ConfigError
from litelora.methods import create_method
from litelora.metrics.continual import fwt
from litelora.models.task_model import TaskModel
from litelora.training.evaluation import evaluate_task
from litelora.workflows.runs import LoadedRun
from litelora.workflows.snapshots import drop_task


def check_carried(loaded: LoadedRun, where: str) -> None:
    """Refuse a run whose earlier models cannot be rebuilt, or cannot score a task before it."""
    if getattr(loaded.model, "head", None) is not None:
        raise ConfigError(f"{where}: --carried scores each task before it trained, which needs a model that can answer "
                          "a task it has not trained on (a generative model); this run's classifier head gets a "
                          "task's classes only when the task trains")
    method = create_method(loaded.config.method.name, loaded.config.method.params)
    if not method.keeps_old_adapters:
        raise ConfigError(f"{where}: method {method.name!r} changes earlier tasks' adapters in later tasks, so the "
                          "model before a task cannot be rebuilt from the final one; --carried applies to methods "
                          "that leave them as they were (inclora, olora, inflora)")


def models_before_tasks(loaded: LoadedRun) -> Iterator[tuple[Task, TaskModel]]:
    """Each task of the run with ``loaded.model`` as it stood before that task trained, last task
    first. Consumes ``loaded.bank``: a task's adapters are removed before its own turn."""
    bank = loaded.bank
    for task in reversed(list(loaded.stream.tasks)):
        for t in [t for t in bank.tasks if t >= task.task_id]:
            drop_task(bank, t)
        yield task, loaded.model


def carried_report(loaded: LoadedRun, batch_size: int, scenario: str) -> dict[str, Any]:
    """Per task (in stream order): accuracy with the base model (``base``) and before the task
    (``before``; equal to ``base`` for task 0), as fractions of its test set; ``forward_transfer``:
    mean over tasks t >= 1 of ``before - base`` (fraction). Consumes ``loaded.bank``."""
    tasks = list(loaded.stream.tasks)
    with loaded.bank.disable_adapters():
        base = [evaluate_task(loaded.model, task, scenario, batch_size) for task in tasks]
    before = {task.task_id: evaluate_task(model, task, scenario, batch_size)
              for task, model in models_before_tasks(loaded)}
    R = np.zeros((len(tasks), len(tasks)))
    for j in range(1, len(tasks)):
        R[j - 1, j] = before[tasks[j].task_id]
    return {"forward_transfer": fwt(R, base),
            "tasks": [{"task": t.task_id, "name": t.name, "n": len(t.test), "base": b, "before": before[t.task_id]}
                      for t, b in zip(tasks, base)]}


__all__ = ["carried_report", "check_carried", "models_before_tasks"]
