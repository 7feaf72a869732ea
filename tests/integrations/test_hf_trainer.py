"""LiteLoRA through transformers' own Trainer: two tasks on a tiny BERT classifier, a gate that
closes modules (before training and during it), and a PEFT export that reproduces the model."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_bert_cls import assert_export_reproduces, assert_pruned, band_rows, candidate_ids, tiny_classifier
from transformers import TrainerCallback, TrainingArguments

from litelora import AdapterConfig, GateConfig, LiteLoRA
from litelora.errors import ConfigError
from litelora.integrations.hf_trainer import LiteLoRATrainer


class _Task(torch.utils.data.Dataset):
    def __init__(self, classes: list[int], n: int = 32, seed: int = 0) -> None:
        self.rows = band_rows(classes, n, seed)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.rows[i]


def _args(tmp_path, steps: int) -> TrainingArguments:
    return TrainingArguments(output_dir=str(tmp_path / "hf"), max_steps=steps, per_device_train_batch_size=8, warmup_steps=0,
                             learning_rate=2e-2, report_to=[], save_strategy="no", logging_steps=4,
                             use_cpu=True, disable_tqdm=True, seed=0)


def test_two_tasks_through_the_transformers_trainer_with_the_litelora_gate(tmp_path) -> None:
    model = tiny_classifier()
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), method="inclora",
                    gate=GateConfig(kind="litelora", budget=0.5), num_tasks=2, lr=2e-2, modules_to_save=["classifier"])
    tasks = [_Task([0, 1], seed=0), _Task([2, 3], seed=1)]
    decisions = []
    for t, data in enumerate(tasks):
        trainer = LiteLoRATrainer(args=_args(tmp_path, 24), train_dataset=data, lite=lite, task_id=t)
        trainer.train()
        decisions.append(trainer.decisions)
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        assert losses[-1] < 0.8 * losses[0]  # the task was learned through the Trainer
    assert [d.decision for d in decisions[0]] == ["recruit"] * 4  # task 0 recruits everywhere
    assert sorted(d.decision for d in decisions[1]) == ["recruit", "recruit", "reuse", "reuse"]
    assert lite.bank.num_active(1) == 2
    assert not [n for n, p in model.named_parameters() if p.requires_grad and "lora" in n]  # all frozen after

    assert_export_reproduces(lite, model, tmp_path / "peft")


class _Candidates(TrainerCallback):
    """Reads task ``task``'s candidates as training begins, before the gate decides."""

    def __init__(self, lite: LiteLoRA, task: int) -> None:
        self.lite, self.task = lite, task
        self.ids: dict[str, set[int]] = {}

    def on_train_begin(self, args, state, control, **kwargs) -> None:  # noqa: ANN001
        self.ids = candidate_ids(self.lite, self.task)


def test_a_gate_that_decides_during_training_prunes_the_optimizer(tmp_path) -> None:
    model = tiny_classifier()
    gate = GateConfig(kind="hard_concrete", params={"lam": 2.0, "lr": 2.0, "decide_at": 0.5})
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), gate=gate, num_tasks=2, lr=5e-3,
                    modules_to_save=["classifier"])
    LiteLoRATrainer(args=_args(tmp_path, 8), train_dataset=_Task([0, 1]), lite=lite, task_id=0).train()
    trainer = LiteLoRATrainer(args=_args(tmp_path, 8), train_dataset=_Task([2, 3], seed=1), lite=lite, task_id=1)
    seen = _Candidates(lite, 1)
    trainer.add_callback(seen)
    trainer.train()
    assert len(trainer.decisions) == 4 and len(seen.ids) == 4
    assert_pruned(lite, trainer.decisions, seen.ids, trainer.optimizer)
    assert lite.bank.num_active(1) == 4 - sum(d.decision == "reuse" for d in trainer.decisions)


def test_the_model_must_be_the_one_litelora_wraps(tmp_path) -> None:
    lite = LiteLoRA(tiny_classifier(), AdapterConfig(target_modules=["query"]), num_tasks=1)
    with pytest.raises(ConfigError, match=r"model must be the model LiteLoRA was built on"):
        LiteLoRATrainer(model=tiny_classifier(), args=_args(tmp_path, 1), train_dataset=_Task([0]), lite=lite, task_id=0)


def test_the_trainer_passes_the_number_of_classes_that_unsolved_at_chance_reads(tmp_path) -> None:
    gate = GateConfig(kind="litelora-v3", params={"unsolved": "chance"})
    lite = LiteLoRA(tiny_classifier(), AdapterConfig(target_modules=["query", "value"], r=4), gate=gate, num_tasks=3,
                    lr=2e-2, modules_to_save=["classifier"])
    LiteLoRATrainer(args=_args(tmp_path, 8), train_dataset=_Task([0, 1]), lite=lite, task_id=0, num_classes=2).train()
    trainer = LiteLoRATrainer(args=_args(tmp_path, 8), train_dataset=_Task([2, 3], seed=1), lite=lite, task_id=1,
                              num_classes=2)
    trainer.train()
    assert trainer.decisions and all(d.scores["chance_loss"] == pytest.approx(math.log(2)) for d in trainer.decisions)
    assert not any("base_loss" in d.scores for d in trainer.decisions)  # the chance reading takes no base reading
    with pytest.raises(ConfigError, match=r"LiteLoRATrainer and LiteLoRACallback take num_classes=K"):
        LiteLoRATrainer(args=_args(tmp_path, 8), train_dataset=_Task([0, 3], seed=2), lite=lite, task_id=2).train()


def test_a_kept_probe_is_refused_since_the_trainer_takes_every_planned_step(tmp_path) -> None:
    gate = GateConfig(kind="litelora-v3", params={"probe_counts": True})
    lite = LiteLoRA(tiny_classifier(), AdapterConfig(target_modules=["query"]), gate=gate, num_tasks=2)
    with pytest.raises(ConfigError, match=r"probe_counts=true cannot apply: LiteLoRATrainer takes every step"):
        LiteLoRATrainer(args=_args(tmp_path, 1), train_dataset=_Task([0]), lite=lite, task_id=0)


def test_the_trainer_decays_the_adapters_at_args_weight_decay_and_magnitudes_not_at_all(tmp_path) -> None:
    lite = LiteLoRA(tiny_classifier(), AdapterConfig(target_modules=["query", "value"], r=4), method="sdlora",
                    num_tasks=2, lr=2e-2, modules_to_save=["classifier"])
    args = TrainingArguments(**{**_args(tmp_path, 1).to_dict(), "weight_decay": 0.1})
    LiteLoRATrainer(args=_args(tmp_path, 1), train_dataset=_Task([0, 1]), lite=lite, task_id=0).train()
    trainer = LiteLoRATrainer(args=args, train_dataset=_Task([2, 3], seed=1), lite=lite, task_id=1)
    trainer.train()
    decay = {g["name"]: g["weight_decay"] for g in trainer.optimizer.param_groups}
    assert decay == {"adapters": 0.1, "magnitudes": 0.0, "modules_to_save": 0.1}


def test_evaluate_after_the_task_closed_reports_the_task_loss(tmp_path) -> None:
    lite = LiteLoRA(tiny_classifier(), AdapterConfig(target_modules=["query", "value"], r=4), method="olora",
                    num_tasks=2, lr=2e-2, modules_to_save=["classifier"])
    data = _Task([0, 1])
    trainer = LiteLoRATrainer(args=_args(tmp_path, 2), train_dataset=data, eval_dataset=data, lite=lite, task_id=0)
    trainer.train()
    metrics = trainer.evaluate()  # O-LoRA's penalty belongs to training: no running task is needed here
    assert math.isfinite(metrics["eval_loss"]) and metrics["eval_loss"] > 0
