"""gate.kind auto as a run resolves it: the LiteLoRA gate on a host with candidates, reading the
unsolved share against chance where the model trains no head."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from litelora.training.backbones import build_backbone
from litelora.training.config import RunConfig
from litelora.training.pairing import resolve_gate
from litelora.training.trainer import ContinualTrainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generative"))
from gen_helpers import toy_config, toy_stream  # noqa: E402


@pytest.mark.parametrize(("gate", "headless", "params"), [
    ({}, True, {"unsolved": "chance"}),
    ({}, False, {}),
    ({"params": {"unsolved": "carried"}}, True, {"unsolved": "carried"}),  # a reading the run names wins
    ({"params": {"novelty": 0.2}}, True, {"unsolved": "chance", "novelty": 0.2}),
    ({"kind": "litelora-v3"}, True, {}),  # an explicit kind keeps the gate's own defaults
])
def test_auto_reads_against_chance_only_without_a_head(gate, headless: bool, params) -> None:
    config = resolve_gate(RunConfig.from_dict({"gate": gate}), headless)
    assert config.gate.kind == "litelora-v3"
    assert config.gate.params == params


def test_auto_on_a_host_without_candidates_stays_none_without_a_head() -> None:
    config = resolve_gate(RunConfig.from_dict({"method": {"name": "seqlora"}}), headless=True)
    assert (config.gate.kind, config.gate.params) == ("none", {})


def test_a_generative_run_records_and_uses_the_chance_reading(tmp_path) -> None:
    cfg = RunConfig.from_dict(toy_config("tiny-llama", str(tmp_path / "run"),
                                         train={"max_steps_per_task": 2, "num_threads": 1}))
    trainer = ContinualTrainer(cfg, toy_stream(4, 2), build_backbone(cfg.model))
    assert trainer.config.gate.params == {"unsolved": "chance"}
    trainer.run()
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["gate"]
    assert (recorded["kind"], recorded["params"]) == ("litelora-v3", {"unsolved": "chance"})
    later = [row for row in json.loads((tmp_path / "run" / "gates.json").read_text()) if row["task"] == 1]
    assert later and all("chance_loss" in row and "base_loss" not in row for row in later)


def test_a_classifier_run_keeps_the_carried_reading(tmp_path) -> None:
    cfg = RunConfig.from_dict({"model": {"name": "tiny-bert", "max_length": 16},
                               "train": {"progress": False}, "output_dir": str(tmp_path / "run")})
    trainer = ContinualTrainer(cfg, toy_stream(4, 2), build_backbone(cfg.model))
    assert (trainer.config.gate.kind, trainer.config.gate.params) == ("litelora-v3", {})
