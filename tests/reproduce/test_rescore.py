"""reproduce/rescore.py scores a suite's finished runs on a larger test set, pairs every row with
the host by seed, resumes from what an earlier pass scored, and reaches the results page."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "reproduce"))
import rescore  # noqa: E402
from render_evidence import section_rescored  # noqa: E402
from run_experiments import expand, train_command  # noqa: E402

sys.path.remove(str(ROOT / "reproduce"))


def _scored(group: str, seed: int, acc: float) -> dict:
    return {"group": group, "seed": seed, "final_acc": acc, "own_final_acc": acc + 0.01, "test_examples": 100}


def test_rows_pair_with_the_host_on_the_seeds_both_ran() -> None:
    scored = [_scored("host", 0, 0.80), _scored("host", 1, 0.70), _scored("host", 2, 0.90),
              _scored("gate", 0, 0.75), _scored("gate", 2, 0.92)]
    summary = rescore.summarize({"suite": "s"}, scored, "host", 40)
    gate = summary["rescored_groups"]["gate"]
    assert gate["vs_host"]["seeds"] == [0, 2]
    assert gate["vs_host"]["by_seed"] == pytest.approx([-0.05, 0.02])
    assert gate["vs_host"]["mean"] == pytest.approx(-0.015)
    assert summary["rescored_groups"]["host"]["rescored"]["mean"] == pytest.approx(0.8)
    assert "vs_host" not in summary["rescored_groups"]["host"]


def test_a_suite_is_rescored_resumed_and_rendered(tmp_path: Path) -> None:
    from litelora.cli.main import main as litelora

    spec = {"suite": "tiny", "seeds": [0],
            "common": ["benchmark.name=families", "benchmark.options.tasks=[bbc-topics-a, rt-sentiment-a]",
                       "benchmark.options.train_per_class=2", "benchmark.options.test_per_class=1",
                       "model.name=tiny-bert", "model.max_length=16", "train.max_steps_per_task=1",
                       "train.num_threads=1", "method.name=inclora"],
            "experiments": [{"name": "inclora", "set": ["gate.kind=none"]},
                            {"name": "closed", "set": ["gate.kind=random", "gate.budget=0.001"]}]}
    (tmp_path / "tiny.yaml").write_text(json.dumps(spec))
    for run in expand(spec):
        assert litelora(train_command(run, tmp_path / "runs" / "tiny" / run["name"])) == 0
    args = [str(tmp_path / "tiny.yaml"), "--test-extra", "2", "--root", str(tmp_path / "runs"),
            "--results", str(tmp_path), "--threads", "1"]
    assert rescore.main(args) == 0
    out = json.loads((tmp_path / "rescored_tiny.json").read_text())
    assert out["host"] == "inclora" and out["test_extra"] == 2
    own = json.loads((tmp_path / "runs" / "tiny" / "inclora_s0" / "results.json").read_text())
    assert [r["test_examples"] for r in out["runs"]] == [3 * sum(own["train_info"]["n_test"])] * 2
    closed = out["rescored_groups"]["closed"]
    assert closed["vs_host"]["by_seed"] == pytest.approx([out["runs"][1]["final_acc"] - out["runs"][0]["final_acc"]])
    # A second pass reads what the first scored: an edited score comes back as written.
    cache = tmp_path / "runs" / "tiny" / "rescored" / "closed_s0_extra2.json"
    kept = json.loads(cache.read_text())
    cache.write_text(json.dumps({**kept, "final_acc_sample": 0.123}))
    assert rescore.main(args) == 0
    again = json.loads((tmp_path / "rescored_tiny.json").read_text())
    assert again["rescored_groups"]["closed"]["rescored"]["mean"] == pytest.approx(0.123)
    # A run trained again (a new run id) is scored again.
    run_json = tmp_path / "runs" / "tiny" / "closed_s0" / "run.json"
    run_json.write_text(json.dumps({**json.loads(run_json.read_text()), "run_id": "retrained"}))
    assert rescore.main(args) == 0
    third = json.loads((tmp_path / "rescored_tiny.json").read_text())
    assert third["rescored_groups"]["closed"]["rescored"]["mean"] == pytest.approx(out["runs"][1]["final_acc"])
    assert json.loads(cache.read_text())["run_id"] == "retrained"
    table = "\n".join(section_rescored(tmp_path))
    assert "| tiny | inclora | 1 |" in table and "| tiny | closed | 1 |" in table and " vs inclora (" in table
    # Rows left out by --only keep their committed scores.
    assert rescore.main([*args, "--only", "inclora"]) == 0
    assert json.loads((tmp_path / "rescored_tiny.json").read_text()) == third
    # A checkout without the run directories keeps the committed scores; another --test-extra does not.
    elsewhere = [*args[:4], str(tmp_path / "elsewhere"), *args[5:]]
    assert rescore.main(elsewhere) == 0
    assert json.loads((tmp_path / "rescored_tiny.json").read_text()) == third
    elsewhere[2] = "3"
    assert rescore.main(elsewhere) == 0
    assert json.loads((tmp_path / "rescored_tiny.json").read_text())["runs"] == []


def test_a_committed_score_of_an_earlier_run_is_dropped(tmp_path: Path) -> None:
    """Where the run directory is gone, a committed score stands only while the suite's summary
    still records the run it scored (the same accuracy on the run's own test set)."""
    spec = {"suite": "s", "seeds": [0], "experiments": [{"name": "host"}, {"name": "gate"}]}
    (tmp_path / "s.yaml").write_text(json.dumps(spec))
    scored = [_scored("host", 0, 0.80), _scored("gate", 0, 0.75)]
    (tmp_path / "rescored_s.json").write_text(json.dumps(rescore.summarize(spec, scored, "host", 40)))
    trained = [{"group": r["group"], "seed": 0, "metrics": {"final_acc_sample": r["own_final_acc"]}} for r in scored]
    trained[1]["metrics"]["final_acc_sample"] = 0.70  # the gate row was trained again since
    (tmp_path / "s.json").write_text(json.dumps({"suite": "s", "runs": trained}))
    args = [str(tmp_path / "s.yaml"), "--test-extra", "40", "--root", str(tmp_path / "gone"), "--results", str(tmp_path)]
    assert rescore.main(args) == 0
    out = json.loads((tmp_path / "rescored_s.json").read_text())
    assert [r["group"] for r in out["runs"]] == ["host"] and "gate" not in out["rescored_groups"]


def test_a_row_pairs_with_the_row_its_name_extends() -> None:
    groups = ["olora", "inflora", "inflora+litelora-b0.5", "inflora+uniform-r1", "closed-after-task-0",
              "olora-2x-epochs", "inflora+gradient-init", "inflora+litelora-v3+gradient-init"]
    assert rescore.host_of("inflora+litelora-b0.5", groups, "olora") == "inflora"
    assert rescore.host_of("inflora+uniform-r1", groups, "olora") == "inflora"
    # as the results page pairs it: the host with the same settings, so the two differ by the gate alone
    assert rescore.host_of("inflora+litelora-v3+gradient-init", groups, "olora") == "inflora+gradient-init"
    assert rescore.host_of("olora-2x-epochs", groups, "inflora") == "olora"
    assert rescore.host_of("closed-after-task-0", groups, "olora") == "olora"


def test_test_extra_below_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(json.dumps({"suite": "s", "experiments": [{"name": "h"}]}))
    with pytest.raises(SystemExit, match="--test-extra must be >= 1"):
        rescore.main([str(tmp_path / "s.yaml"), "--test-extra", "0"])
