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
    out, rvg = tmp_path / "r.json", _module()
    assert rvg.main([str(tmp_path), "--out", str(out)]) == 0
    row = json.loads(out.read_text())["per_seed"]["0"]
    assert row["pairs"] == 8  # 4 targets x tasks 1 and 2
    assert row["recruited"] == 4 and row["reused"] == 4
    assert set(row["spearman_rho_need_per_task"]) == {"1", "2"}
    # Each module's rho beside the same module's need and decision, rebuilt from the two runs.
    from litelora.analysis import analyze_factors, factors_from_saved_bank

    modules = analyze_factors(factors_from_saved_bank(tmp_path / "inclora_s0" / "adapters"))["modules"]
    rho = {(m, t): r for m, info in modules.items() for t, r in zip(info["tasks"], info["rho"])}
    gates = json.loads((tmp_path / "inclora+litelora_s0" / "gates.json").read_text())
    pairs = [(rho[d["target"], d["task"]], d["need"], d["task"], d["decision"]) for d in gates if d.get("need") is not None]
    for task in (1, 2):
        mine = [(r, n) for r, n, t, _ in pairs if t == task]
        expected = rvg.spearman([r for r, _ in mine], [n for _, n in mine])
        got = row["spearman_rho_need_per_task"][str(task)]
        assert (got is None and expected is None) or got == pytest.approx(expected)
    for decision, key in (("recruit", "mean_rho_recruited"), ("reuse", "mean_rho_reused")):
        rhos = [r for r, _, _, d in pairs if d == decision]
        assert row[key] == pytest.approx(sum(rhos) / len(rhos))
