"""reproduce/redundancy_vs_gate.py: Spearman on hand-computed cases, and the comparison on a
real host / gated pair of tiny runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from litelora.cli.main import main

SCRIPT = Path(__file__).resolve().parents[2] / "reproduce" / "redundancy_vs_gate.py"


def _module():
    spec = importlib.util.spec_from_file_location("redundancy_vs_gate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spearman_on_hand_computed_rankings() -> None:
    rvg = _module()
    assert rvg.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert rvg.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6*2 / (4*15)
    assert rvg.spearman([1, 2], [2, 1]) is None
    assert rvg.spearman([1, 1, 1], [1, 2, 3]) == pytest.approx(1.0)  # ties broken by position


def test_compare_reads_a_host_and_gated_pair(tmp_path) -> None:
    base = ["--no-progress", "--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert",
            "--set", "train.max_steps_per_task=4", "--set", "method.name=inclora"]
    assert main(["train", "-o", str(tmp_path / "inclora_s0"), *base, "--set", "gate.kind=none"]) == 0
    assert main(["train", "-o", str(tmp_path / "inclora+litelora_s0"), *base, "--set", "gate.kind=litelora",
                 "--set", "gate.budget=0.5"]) == 0
    out = tmp_path / "r.json"
    assert _module().main([str(tmp_path), "--out", str(out)]) == 0
    row = json.loads(out.read_text())["per_seed"]["0"]
    assert row["pairs"] == 8  # 4 targets x tasks 1 and 2
    assert row["recruited"] == 4 and row["reused"] == 4
    assert set(row["spearman_rho_need_per_task"]) == {"1", "2"}
