"""reproduce/convergence.py reads a suite summary's host and doubled-epoch runs and writes the verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "reproduce"))
import convergence  # noqa: E402

sys.path.remove(str(ROOT / "reproduce"))


def _run(group: str, seed: int, diag: list[float]) -> dict:
    T = len(diag)
    R = [[diag[i] if i == j else (0.3 if j < i else 0.0) for j in range(T)] for i in range(T)]
    return {"run": f"{group}_s{seed}", "group": group, "seed": seed, "accuracy_matrix": R}


def test_the_script_pairs_host_and_doubled_runs_by_seed(tmp_path: Path) -> None:
    runs = [_run("inclora", 0, [0.6, 0.7, 0.8]), _run("inclora-2x-epochs", 0, [0.7, 0.7, 0.8]),
            _run("inclora", 1, [0.5, 0.5, 0.5]), _run("inclora-2x-epochs", 1, [0.5, 0.5, 0.5]),
            _run("closed-after-task-0", 0, [0.0, 0.0, 0.0])]
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps({"suite": "s", "groups": {}, "runs": runs}))
    out = tmp_path / "convergence_s.json"
    assert convergence.main([str(summary), "--out", str(out)]) == 0
    verdict = json.loads(out.read_text())
    # seed 0 rises 10 points on its first task: (10 + 0 + 0 + 0 + 0 + 0) / 6 tasks = 1.67 points
    assert verdict["converged"] is False and abs(verdict["mean_rise"] - 0.1 / 6) < 1e-9
    assert verdict["host"] == "inclora" and verdict["doubled"] == "inclora-2x-epochs" and verdict["seeds"] == [0, 1]


def test_a_suite_without_the_doubled_group_names_it(tmp_path: Path, capsys) -> None:
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps({"suite": "s", "groups": {}, "runs": [_run("inclora", 0, [0.5])]}))
    assert convergence.main([str(summary), "--out", str(tmp_path / "o.json")]) == 2
    assert "no runs of group 'inclora-2x-epochs'" in capsys.readouterr().err


def test_host_runs_with_learning_curves_answer_without_a_doubled_run(tmp_path: Path) -> None:
    runs = []
    for seed, halfway in ((0, [0.6, 0.6, 0.8]), (1, [0.5, 0.5, 0.5])):
        run = _run("inclora", seed, [0.6, 0.7, 0.8] if seed == 0 else [0.5, 0.5, 0.5])
        run["task_curves"] = [{"steps": 10, "points": [[5, a]]} for a in halfway]
        runs.append(run)
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps({"suite": "s", "groups": {}, "runs": runs}))
    out = tmp_path / "convergence_s.json"
    assert convergence.main([str(summary), "--out", str(out)]) == 0
    verdict = json.loads(out.read_text())
    # seed 0's second task rose 10 points over its second half: 10 / 6 tasks = 1.67 points
    assert verdict["rule"] == "late rise" and verdict["converged"] is False and "mean_rise" not in verdict
    assert abs(verdict["late_rise"]["mean_late_rise"] - 0.1 / 6) < 1e-9 and verdict["late_rise"]["seeds"] == [0, 1]
    runs += [_run("inclora-2x-epochs", 0, [0.6, 0.7, 0.8])]  # doubling moves nothing: it decides
    summary.write_text(json.dumps({"suite": "s", "groups": {}, "runs": runs}))
    assert convergence.main([str(summary), "--out", str(out)]) == 0
    verdict = json.loads(out.read_text())
    assert verdict["rule"] == "doubling" and verdict["converged"] is True and verdict["late_rise"]["plateaued"] is False
