"""LiteLoRA inside Lightning: a callback that trains one task of a stream per ``Trainer.fit``.

    lite = LiteLoRA(backbone, AdapterConfig(target_modules=["query", "value"]), method="inclora",
                    gate=GateConfig(kind="litelora"), num_tasks=3, lr=1e-3, modules_to_save=["classifier"])

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = lite.model
        def training_step(self, batch, batch_idx):
            return task_loss(self.net, batch)             # the task loss only
        def configure_optimizers(self):
            groups = lite.param_groups()
            return torch.optim.AdamW(groups) if groups else None

    module = Module()
    for t, loader in enumerate(task_loaders):
        callback = LiteLoRACallback(lite, task_id=t)
        lightning.Trainer(max_epochs=2, callbacks=[callback]).fit(module, loader)
        print(callback.decisions)

The callback opens the task before Lightning builds the optimizer (the LiteLoRA gate rehearses
on the task's training batches through ``training_step`` and decides there), adds the gradient
of the method's and the gate's loss terms after each backward (so ``training_step`` returns the
task loss alone), drops from the optimizer what a gate closes during training, and closes the
task when ``fit`` ends. It puts the module in train mode for ``fit`` (a ``from_pretrained`` model
arrives in eval mode, with dropout off). ``configure_optimizers`` returning ``None`` covers a task where nothing
trains (every candidate closed, frozen reuse, no head).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import lightning.pytorch as pl
import torch

from litelora.errors import ConfigError
from litelora.gates import GateDecision
from litelora.integrations.heads import continual_head
from litelora.models.continual_classifier import ContinualClassifier
from litelora.training.controller import LiteLoRA


class LiteLoRACallback(pl.Callback):
    """Train task ``task_id`` of ``lite``'s stream in one ``Trainer.fit``; ``decisions`` holds the
    gate's decisions for it afterwards. ``num_classes``: the task's number of classes (>= 2),
    which a gate with ``unsolved: chance`` reads; ``None`` where no gate needs it."""

    def __init__(self, lite: LiteLoRA, task_id: int, num_classes: int | None = None) -> None:
        lite.refuse_kept_probe("Lightning takes every step it plans, so the task would train longer than its host")
        self.lite, self.task_id, self.num_classes = lite, task_id, num_classes
        self.decisions: list[GateDecision] = []
        self._open = False
        self._head: ContinualClassifier | None = None
        self._batches: Callable[[], Iterator[tuple[Any, None]]] | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        # Lightning keeps the mode a module arrives in, and from_pretrained returns models in eval
        # mode: the task would train with dropout off. Every submodule trains, as in the run's loop.
        pl_module.train()
        if trainer.accumulate_grad_batches != 1:
            raise ConfigError("LiteLoRACallback: accumulate_grad_batches must be 1 (the gate counts optimizer "
                              "steps as batches)")
        trainer.fit_loop.setup_data()
        steps = int(trainer.estimated_stepping_batches)

        def batches() -> Iterator[tuple[Any, None]]:
            for batch in trainer.train_dataloader:
                yield pl_module.transfer_batch_to_device(batch, pl_module.device, 0), None

        def loss_fn(batch: Any, _: Any) -> torch.Tensor:
            out = pl_module.training_step(batch, 0)
            return out["loss"] if isinstance(out, dict) else out

        self._head = continual_head(self.lite)
        if self._head is not None:
            self._head.start_task(self.task_id)
        self.lite.start_task(self.task_id, steps, batches=batches, loss_fn=loss_fn, num_classes=self.num_classes)
        self._batches = batches
        self._open = True

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The gradient of (task loss + terms) is the task loss's plus the terms': add the second.
        terms = self.lite.loss_terms()
        if terms:
            torch.stack([t.reshape(()) for t in terms]).sum().backward()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.lite.after_step(trainer.global_step):
            for optimizer in trainer.optimizers:
                self.lite.prune_optimizer(optimizer)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self._open:
            self.decisions = self.lite.end_task()
            batches = self._batches
            if self._head is not None and batches is not None:
                self._head.end_task(self.task_id, lambda: (batch for batch, _ in batches()))
            self._open = False
