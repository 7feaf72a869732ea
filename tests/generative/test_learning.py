"""Tiny T5 and LLaMA learn the 2-task toy stream under inclora, with and without the gate; the
frozen base never gets gradients or optimizer state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from gen_helpers import toy_config, toy_stream

from litelora.training.callbacks import Callback
from litelora.training.backbones import build_backbone
from litelora.training.config import RunConfig
from litelora.training.trainer import ContinualTrainer

TARGETS = {"tiny-t5": ["q", "v"], "tiny-llama": ["q_proj", "v_proj"]}


@pytest.mark.parametrize("gate", ["none", "hard_concrete", "litelora"])
@pytest.mark.parametrize("model", ["tiny-t5", "tiny-llama"])
def test_exact_match_rises_on_each_task(model: str, gate: str, tmp_path: Path) -> None:
    cfg = RunConfig.from_dict(toy_config(model, str(tmp_path / "run"), gate={"kind": gate}))
    stream = toy_stream()
    trainer = ContinualTrainer(cfg, stream, build_backbone(cfg.model))
    assert sorted({t.rsplit(".", 1)[-1] for t in trainer.bank.targets}) == TARGETS[model]  # the model's defaults
    start = [trainer.evaluate(t) for t in stream.tasks]
    result = trainer.run()
    R = result.accuracy_matrix
    assert start == [0.0, 0.0]  # a random model never spells a label word
    assert R[0][0] >= 0.6 and R[1][1] >= 0.6, R
    assert result.metrics["active_adapters"] >= 1


class Optimized(Callback):
    """Every parameter any optimizer of the run steps."""

    def __init__(self) -> None:
        self.params: list[torch.nn.Parameter] = []

    def on_step_end(self, task, step, loss, examples, optimizer) -> None:  # noqa: ANN001
        self.params.extend(p for g in optimizer.param_groups for p in g["params"])


def test_frozen_base_gets_no_gradient_and_no_optimizer_state(tmp_path: Path) -> None:
    cfg = RunConfig.from_dict(toy_config("tiny-llama", str(tmp_path / "run"), train={"max_steps_per_task": 2}))
    stream = toy_stream(train_per_class=4, test_per_class=1)
    recorder = Optimized()
    trainer = ContinualTrainer(cfg, stream, build_backbone(cfg.model), callbacks=[recorder])
    optimized = recorder.params
    trainer.run()
    base = [p for n, p in trainer.model.named_parameters() if ".slots." not in n]
    assert len(base) > 10 and all(not p.requires_grad and p.grad is None for p in base)
    base_ids = {id(p) for p in base}
    assert optimized and not any(id(p) in base_ids for p in optimized)
    adapters = {id(p) for n, p in trainer.model.named_parameters() if ".slots." in n}
    assert all(id(p) in adapters for p in optimized)
