"""One experiment listed in two suites (a later suite repeats an earlier one's host and gate runs
beside new rows) counts once in the evidence: the verdict table marks the repeat, and the
counts take the pair in the first suite only."""

from __future__ import annotations

import json
from pathlib import Path

from test_reproduce import _load

HOST = "litelora train --set gate.kind=none --set train.seed={s}"
GATE = HOST + " --set gate.kind=litelora-v2"


def _suite(name: str, rows: dict[str, tuple[str, float]]) -> dict:
    """Three seeds per row (final accuracies acc - 0.01, acc, acc + 0.01), with commands and a
    flat learning curve (so the host reads converged, in-run)."""
    runs = [{"group": g, "seed": s, "command": cmd.format(s=s), "accuracy_matrix": [[0.8]],
             "task_curves": [{"steps": 4, "points": [[2, 0.8]], "seconds": 1.0}],
             "metrics": {"final_acc_sample": acc + 0.01 * (s - 1), "adapter_reduction": 0.5}}
            for g, (cmd, acc) in rows.items() for s in range(3)]
    groups = {g: {"final_acc_sample": {"mean": acc, "std": 0.01, "n": 3},
                  "adapter_reduction": {"mean": 0.5, "std": 0.0, "n": 3}} for g, (_, acc) in rows.items()}
    return {"suite": name, "spec": {}, "groups": groups, "runs": runs}


def test_a_pair_whose_runs_another_suite_lists_counts_once(tmp_path: Path) -> None:
    render = _load("render_results")
    closed = (HOST + " --set gate.kind=random --set gate.budget=0.001", 0.6)
    first = {"inclora": (HOST, 0.8), "inclora+litelora": (GATE, 0.8), "closed-after-task-0": closed}
    # the later suite repeats the host and the gate, and adds a row of its own at another budget
    second = {**first, "inclora+litelora-b0.34": (GATE + " --set gate.budget=0.34", 0.8)}
    for name, rows in (("a", first), ("b", second)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_suite(name, rows)))
    results = render.load_results(tmp_path)
    table = "\n".join(render.section_verdict(results))
    assert "| a | yes (in-run) | inclora (litelora) | 3 |" in table
    assert table.count("(the same runs as a's: counted there)") == 1
    assert "| b | yes (in-run) | inclora (litelora-b0.34) | 3 |" in table
    text = render.render(tmp_path, tmp_path)
    assert "held for 2 of 2 host/stream pairs" in text and "for 2 of the 2 pairs over 3 task orders" in text

    # One seed run with another command: a different experiment, counted in both suites.
    suite = json.loads((tmp_path / "b.json").read_text())
    suite["runs"][3]["command"] += " --set train.epochs=2"  # inclora+litelora, seed 0
    assert suite["runs"][3]["group"] == "inclora+litelora"
    (tmp_path / "b.json").write_text(json.dumps(suite))
    text = render.render(tmp_path, tmp_path)
    assert "counted there" not in text and "for 3 of the 3 pairs over 3 task orders" in text
