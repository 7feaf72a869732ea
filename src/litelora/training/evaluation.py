"""Accuracy of a continual model on one task, by scenario."""

from __future__ import annotations

import torch

from litelora.benchmarks.stream import Task
from litelora.training.data import iter_batches
from litelora.training.model import ContinualModel


@torch.no_grad()
def evaluate_task(model: ContinualModel, task: Task, scenario: str, batch_size: int = 64) -> float:
    """Fraction of ``task``'s test set predicted right.

    CIL and DIL take the argmax over every seen class (no task id at test time); TIL
    restricts it to the task's own classes.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    columns = model.head.columns(task.classes).to(device) if scenario == "til" else None
    class_ids = torch.tensor(model.head.class_ids, device=device)
    correct = 0
    for batch, labels in iter_batches(model.backbone, task.test, batch_size, device=device):
        logits = model(batch)
        pred = columns[logits[:, columns].argmax(-1)] if columns is not None else logits.argmax(-1)
        correct += int((class_ids[pred] == labels).sum())
    model.train(was_training)
    return correct / len(task.test)
