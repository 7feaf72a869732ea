"""Accuracy of a continual model on one task, by scenario."""

from __future__ import annotations

import torch

from litelora.benchmarks.stream import Task
from litelora.training.data import iter_task_batches
from litelora.training.distributed import Distributed
from litelora.models.task_model import TaskModel


@torch.no_grad()
def evaluate_task(model: TaskModel, task: Task, scenario: str, batch_size: int = 64,
                  dist: Distributed | None = None) -> float:
    """Fraction of ``task``'s test set predicted right (``TaskModel.count_correct``).

    A classifier takes the argmax over every seen class in CIL and DIL (no task id at test
    time) and over the task's own classes in TIL; a generative model scores exact match.
    With ``dist`` each process scores a disjoint share of the test set and the counts are summed.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    examples = model.eval_order(task, dist.eval_shard(task.test) if dist is not None else task.test)
    for batch, labels in iter_task_batches(model, task, examples, batch_size, device=device):
        correct += model.count_correct(batch, labels, task, scenario)
    model.train(was_training)
    if dist is not None:
        correct = int(dist.reduce_sum(correct))
    return correct / len(task.test)
