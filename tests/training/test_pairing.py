"""gate.kind auto as a run resolves it: the LiteLoRA gate on a host with candidates, reading the
unsolved share against chance where the model trains no head."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from litelora.benchmarks.stream import Task, TaskStream
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
    identity = json.loads((tmp_path / "run" / "run.json").read_text())["config"]["gate"]
    assert identity["params"] == {"unsolved": "chance"}  # what a resume compares with
    later = [row for row in json.loads((tmp_path / "run" / "gates.json").read_text()) if row["task"] == 1]
    assert later and all("chance_loss" in row and "base_loss" not in row for row in later)


def test_a_classifier_run_keeps_the_carried_reading(tmp_path) -> None:
    cfg = RunConfig.from_dict({"model": {"name": "tiny-bert", "max_length": 16},
                               "train": {"progress": False}, "output_dir": str(tmp_path / "run")})
    trainer = ContinualTrainer(cfg, toy_stream(4, 2), build_backbone(cfg.model))
    assert (trainer.config.gate.kind, trainer.config.gate.params) == ("litelora-v3", {})


def test_a_task_of_one_class_keeps_the_carried_reading(tmp_path) -> None:
    """ln K needs K >= 2 classes in every task: a stream with a one-class task stays on carried
    rather than failing at that task."""
    stream = toy_stream(4, 2)
    moods = stream.tasks[1]
    glad = Task(1, moods.name, (2,), [e for e in moods.train if e.label == 2], [e for e in moods.test if e.label == 2])
    stream = TaskStream("toy-one-class", "cil", [stream.tasks[0], glad], stream.class_names,
                        class_order=list(range(4)))
    cfg = RunConfig.from_dict(toy_config("tiny-llama", str(tmp_path / "run"), train={"num_threads": 1}))
    trainer = ContinualTrainer(cfg, stream, build_backbone(cfg.model))
    assert (trainer.config.gate.kind, trainer.config.gate.params) == ("litelora-v3", {})
