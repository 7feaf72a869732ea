"""Accuracy of a continual model on one task, by scenario."""

from __future__ import annotations

import torch

from litelora.benchmarks.stream import Task
from litelora.training.data import iter_task_batches
from litelora.training.task_model import TaskModel


@torch.no_grad()
def evaluate_task(model: TaskModel, task: Task, scenario: str, batch_size: int = 64) -> float:
    """Fraction of ``task``'s test set predicted right (``TaskModel.count_correct``).

    A classifier takes the argmax over every seen class in CIL and DIL (no task id at test
    time) and over the task's own classes in TIL; a generative model scores exact match.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for batch, labels in iter_task_batches(model, task, task.test, batch_size, device=device):
        correct += model.count_correct(batch, labels, task, scenario)
    model.train(was_training)
    return correct / len(task.test)
