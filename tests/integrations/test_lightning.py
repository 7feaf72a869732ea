"""LiteLoRA through Lightning's own Trainer: two tasks on a tiny BERT classifier, a gate that
closes modules (before training and during it), and a PEFT export that reproduces the model."""

from __future__ import annotations

import math

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch", reason="Lightning is not installed (pip install lightning)")

from tiny_bert_cls import assert_export_reproduces, assert_pruned, band_rows, candidate_ids, tiny_classifier  # noqa: E402

from litelora import AdapterConfig, GateConfig, LiteLoRA  # noqa: E402
from litelora.errors import ConfigError  # noqa: E402
from litelora.integrations.lightning import LiteLoRACallback  # noqa: E402


def _loader(classes: list[int], seed: int = 0) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(band_rows(classes, seed=seed), batch_size=8, shuffle=False)


class Classifier(pl.LightningModule):
    def __init__(self, lite: LiteLoRA) -> None:
        super().__init__()
        self.lite, self.net = lite, lite.model
        self.losses: list[float] = []

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.net(**batch).loss
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self):  # noqa: ANN201
        groups = self.lite.param_groups()
        return torch.optim.AdamW(groups, lr=2e-2) if groups else None


def _fit(module: Classifier, lite: LiteLoRA, task: int, loader, steps: int,
         num_classes: int | None = None) -> LiteLoRACallback:
    callback = LiteLoRACallback(lite, task_id=task, num_classes=num_classes)
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", callbacks=[callback], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, loader)
    return callback


def test_two_tasks_through_lightning_with_the_litelora_gate(tmp_path) -> None:
    model = tiny_classifier()
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), method="inclora",
                    gate=GateConfig(kind="litelora", budget=0.5), num_tasks=2, lr=2e-2, modules_to_save=["classifier"])
    module = Classifier(lite)
    decisions = []
    for t, loader in enumerate([_loader([0, 1]), _loader([2, 3], seed=1)]):
        module.losses.clear()
        decisions.append(_fit(module, lite, t, loader, steps=24).decisions)
        assert module.losses[-1] < 0.8 * module.losses[0]  # the task was learned through Lightning
    assert [d.decision for d in decisions[0]] == ["recruit"] * 4
    assert sorted(d.decision for d in decisions[1]) == ["recruit", "recruit", "reuse", "reuse"]
    assert lite.bank.num_active(1) == 2
    assert not [n for n, p in model.named_parameters() if p.requires_grad and "lora" in n]

    assert_export_reproduces(lite, model, tmp_path / "peft")


class WithoutTerms(LiteLoRACallback):
    """The callback minus the loss terms: the control that shows they reach the gradient."""

    def on_after_backward(self, trainer, pl_module) -> None:  # noqa: ANN001
        return None


class Candidates(pl.Callback):
    """Reads task ``task``'s candidates as training starts, before the gate decides."""

    def __init__(self, lite: LiteLoRA, task: int) -> None:
        self.lite, self.task = lite, task
        self.ids: dict[str, set[int]] = {}

    def on_train_start(self, trainer, pl_module) -> None:  # noqa: ANN001
        self.ids = candidate_ids(self.lite, self.task)


@pytest.mark.parametrize("callback_class", [LiteLoRACallback, WithoutTerms])
def test_the_loss_terms_reach_the_gradient_and_a_mid_task_decision_prunes_the_optimizer(callback_class) -> None:
    model = tiny_classifier()
    gate = GateConfig(kind="hard_concrete", params={"lam": 2.0, "lr": 2.0, "decide_at": 0.5})
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), gate=gate, num_tasks=2, lr=5e-3,
                    modules_to_save=["classifier"])
    module = Classifier(lite)
    _fit(module, lite, 0, _loader([0, 1]), steps=8)
    callback, seen = callback_class(lite, task_id=1), Candidates(lite, 1)
    trainer = pl.Trainer(max_steps=8, accelerator="cpu", callbacks=[callback, seen], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, _loader([2, 3], seed=1))
    closed = [d for d in callback.decisions if d.decision == "reuse"]
    assert len(callback.decisions) == 4
    if callback_class is WithoutTerms:
        assert not closed  # without its penalty no gate closes in 4 search steps
        return
    assert closed  # the penalty, added by the callback and not by training_step, closed some
    assert len(seen.ids) == 4
    assert_pruned(lite, callback.decisions, seen.ids, trainer.optimizers[0])
    assert lite.bank.num_active(1) == 4 - len(closed)


class RecordsMode(Classifier):
    """Records, at every training step, the modes of the network's modules."""

    def __init__(self, lite: LiteLoRA) -> None:
        super().__init__(lite)
        self.modes: list[set[bool]] = []

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.modes.append({m.training for m in self.net.modules()})
        return super().training_step(batch, batch_idx)


def test_fit_trains_a_model_that_arrives_in_eval_mode(recwarn) -> None:
    model = tiny_classifier().eval()  # as from_pretrained returns it
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), num_tasks=1, lr=2e-2,
                    modules_to_save=["classifier"])
    module = RecordsMode(lite)
    _fit(module, lite, 0, _loader([0, 1]), steps=3)
    assert len(module.modes) == 3 and all(mode == {True} for mode in module.modes)  # dropout on in every step
    assert not [w for w in recwarn if "eval mode" in str(w.message)]


def test_the_callback_passes_the_number_of_classes_that_unsolved_at_chance_reads() -> None:
    gate = GateConfig(kind="litelora-v3", params={"unsolved": "chance"})
    lite = LiteLoRA(tiny_classifier(), AdapterConfig(target_modules=["query", "value"], r=4), gate=gate, num_tasks=3,
                    lr=2e-2, modules_to_save=["classifier"])
    module = Classifier(lite)
    _fit(module, lite, 0, _loader([0, 1]), steps=8, num_classes=2)
    decisions = _fit(module, lite, 1, _loader([2, 3], seed=1), steps=8, num_classes=2).decisions
    assert decisions and all(d.scores["chance_loss"] == pytest.approx(math.log(2)) for d in decisions)
    assert not any("base_loss" in d.scores for d in decisions)  # the chance reading takes no base reading
    with pytest.raises(ConfigError, match=r"LiteLoRATrainer and LiteLoRACallback take num_classes=K"):
        _fit(module, lite, 2, _loader([0, 3], seed=2), steps=8)


def test_a_kept_probe_is_refused_since_lightning_takes_every_planned_step() -> None:
    gate = GateConfig(kind="litelora-v3", params={"probe_counts": True})
    lite = LiteLoRA(tiny_classifier(), AdapterConfig(target_modules=["query"]), gate=gate, num_tasks=2)
    with pytest.raises(ConfigError, match=r"probe_counts=true cannot apply: Lightning takes every step"):
        LiteLoRACallback(lite, task_id=0)
