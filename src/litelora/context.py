"""TaskContext: what the trainer (or a user's loop, through ``LiteLoRA``) shows a method or a
gate about the task in progress. A leaf: methods and gates both read it, neither knows the other."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from litelora.adapters.bank import AdapterBank


@dataclass
class TaskContext:
    """What a method sees of the run at a task boundary or step (explicit, no god object).

    ``train_inputs`` yields the task's training batches as model inputs (for methods that
    pass over the data before training, like InfLoRA); ``run_model`` runs the model on one.
    ``steps`` is the number of training steps the task will take. ``rehearse(n, on_step,
    keep=False)`` trains what requires gradients for ``n`` steps and then undoes it (parameters,
    buffers, random state; with ``keep`` only the random state), calling ``on_step(step, loss)``
    after each; it returns the losses (a gate measures with it before it decides). A step whose
    loss requires no gradient trains nothing: skip its backward (a probe pulls the model into the
    backward pass only over the steps it measures).
    ``consumed``: steps of the task a gate already took by keeping its probe; the trainer starts
    the task's loop there (an own loop may skip them too). ``num_classes``: the task's classes
    (a generative task's label words), ``None`` where the caller did not say. ``lrs``: learning
    rates by ``id(parameter)`` for what trains at a rate other than the adapters' (a gate's reuse
    paths at ``gate.reuse_lr``), which a rehearsal honours as the task's optimizer does.
    """

    task_id: int
    num_tasks: int
    bank: AdapterBank
    train_inputs: Callable[[], Iterable[Any]] | None = None
    run_model: Callable[[Any], torch.Tensor] | None = None
    steps: int = 0
    rehearse: Callable[..., list[float]] | None = None
    consumed: int = 0
    num_classes: int | None = None
    lrs: dict[int, float] = field(default_factory=dict)
