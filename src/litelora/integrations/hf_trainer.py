"""LiteLoRA inside a Hugging Face ``transformers.Trainer``: keep your ``Trainer`` and
``TrainingArguments``, train a stream one task at a time.

    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"]), method="inclora",
                    gate=GateConfig(kind="litelora"), num_tasks=3, lr=args.learning_rate,
                    modules_to_save=["classifier"])
    for t, data in enumerate(task_datasets):
        trainer = LiteLoRATrainer(model=model, args=args, train_dataset=data, lite=lite, task_id=t)
        trainer.train()                          # start_task ... steps ... end_task
        print(trainer.decisions)                 # the gate's decisions for task t

The trainer opens the task before its first step (the LiteLoRA gate rehearses on the task's
training batches and decides there), adds the method's and the gate's loss terms to the model's
loss, drops what a gate closes during training from the optimizer (the learning-rate schedule
goes on untouched), and closes the task after the last step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from litelora.errors import ConfigError
from litelora.gates import GateDecision
from litelora.integrations.heads import continual_head
from litelora.training.controller import LiteLoRA


class _AfterStep(TrainerCallback):
    def __init__(self, trainer: LiteLoRATrainer) -> None:
        self.trainer = trainer

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.trainer.lite.after_step(state.global_step):
            self.trainer.prune_optimizer()


class LiteLoRATrainer(Trainer):
    """A ``transformers.Trainer`` that trains task ``task_id`` of ``lite``'s stream (one
    ``Trainer`` per task; the model is ``lite.model``, modified in place). ``num_classes``: the
    task's number of classes (>= 2), which a gate with ``unsolved: chance`` reads; ``None`` where
    no gate needs it.

    The optimizer is AdamW over ``lite``'s groups (adapters, gate, ``modules_to_save``) at their
    rates, with ``args.weight_decay`` where a group sets none (reuse paths and SD-LoRA's magnitudes
    take none); every other ``TrainingArguments`` field keeps its meaning.
    """

    def __init__(self, *args: Any, lite: LiteLoRA, task_id: int, num_classes: int | None = None,
                 **kwargs: Any) -> None:
        if kwargs.get("model") is not None and kwargs["model"] is not lite.model:
            raise ConfigError("LiteLoRATrainer: model must be the model LiteLoRA was built on (lite.model)")
        lite.refuse_kept_probe("LiteLoRATrainer takes every step it plans, so the task would train longer "
                               "than its host")
        kwargs["model"] = lite.model
        super().__init__(*args, **kwargs)
        self.lite, self.task_id, self.num_classes = lite, task_id, num_classes
        self.decisions: list[GateDecision] = []
        self.add_callback(_AfterStep(self))

    def planned_steps(self) -> int:
        """Optimizer steps this task takes: ``args.max_steps``, else epochs x batches / accumulation."""
        if self.args.max_steps and self.args.max_steps > 0:
            return int(self.args.max_steps)
        per_epoch = math.ceil(len(self.get_train_dataloader()) / self.args.gradient_accumulation_steps)
        return max(1, math.ceil(per_epoch * self.args.num_train_epochs))

    def _batches(self) -> Iterator[tuple[dict[str, Any], Any]]:
        for batch in self.get_train_dataloader():
            batch = self._prepare_inputs(batch)
            yield batch, batch.get("labels")

    def _task_loss(self, batch: dict[str, Any], labels: Any) -> torch.Tensor:
        return self.model(**batch).loss

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """Open the task, train it with ``transformers.Trainer.train``, close it (and, when
        ``lite.model`` is a :class:`ContinualClassifier`, its head's task too)."""
        head = continual_head(self.lite)
        if head is not None:
            head.start_task(self.task_id)
        self.lite.start_task(self.task_id, self.planned_steps(), batches=self._batches, loss_fn=self._task_loss,
                             num_classes=self.num_classes)
        output = super().train(*args, **kwargs) if self.lite.param_groups() else None
        # (No groups: every candidate closed with frozen reuse and nothing else trains; the model stays.)
        self.decisions = self.lite.end_task()
        if head is not None:
            head.end_task(self.task_id, lambda: (batch for batch, _ in self._batches()))
        return output

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            # A group that sets its own decay keeps it: reuse paths and SD-LoRA's magnitudes take none.
            groups = [{**g, "weight_decay": g.get("weight_decay", self.args.weight_decay)}
                      for g in self.lite.param_groups()]
            self.optimizer = torch.optim.AdamW(groups, lr=self.args.learning_rate,
                                               betas=(self.args.adam_beta1, self.args.adam_beta2),
                                               eps=self.args.adam_epsilon)
        return self.optimizer

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        out = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        loss, rest = (out[0], out[1]) if return_outputs else (out, None)
        if model.training:  # an evaluation's loss is the task's alone (and may run after the task closed)
            for term in self.lite.loss_terms():
                loss = loss + term
        return (loss, rest) if return_outputs else loss

    def prune_optimizer(self) -> None:
        """Drop the parameters a gate decision removed from the optimizer, with their Adam
        state; the groups (and so the scheduler) stay."""
        if self.optimizer is not None:
            self.lite.prune_optimizer(self.optimizer)
