"""reproduce/carried.py reads what the host's earlier adapters give each task before it trains, per
kind of task, resumes from what an earlier pass scored, and reaches the results page."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "reproduce"))
import carried  # noqa: E402
from render_evidence import section_carried  # noqa: E402
from run_experiments import expand, train_command  # noqa: E402

sys.path.remove(str(ROOT / "reproduce"))


def _task(t: int, kind: str, base: float, before: float, after: float) -> dict:
    return {"task": t, "name": f"t{t}", "kind": kind, "base": base, "before": before, "after": after}


def test_readings_are_averaged_per_kind_after_the_first_task() -> None:
    tasks = [_task(0, "first", 0.1, 0.1, 0.9), _task(1, "first", 0.2, 0.3, 0.8), _task(2, "recurring", 0.2, 0.6, 0.8),
             _task(3, "recurring", 0.4, 0.6, 1.0), _task(4, "repeat", 0.5, 0.5, 0.5)]
    kinds = carried.by_kind(tasks)
    assert kinds["first"] == pytest.approx({"tasks": 1, "base": 0.2, "before": 0.3, "after": 0.8,
                                            "carried_share": 1 / 6})
    assert kinds["recurring"]["before"] == pytest.approx(0.6)
    assert kinds["recurring"]["carried_share"] == pytest.approx((0.6 - 0.3) / (0.9 - 0.3))
    assert kinds["repeat"]["carried_share"] is None  # training gained nothing over the base model


def test_a_suite_is_read_resumed_and_rendered(tmp_path: Path) -> None:
    from litelora.cli.main import main as litelora

    spec = {"suite": "tiny", "seeds": [0],
            "common": ["benchmark.name=families", "benchmark.options.tasks=[bbc-topics-a, rt-sentiment-a, "
                       "bbc-topics-a-repeat]", "benchmark.options.train_per_class=2",
                       "benchmark.options.test_per_class=1", "model.name=tiny-llama", "model.max_length=160",
                       "train.max_steps_per_task=1", "train.num_threads=1", "gate.kind=none"],
            "experiments": [{"name": "inclora", "set": ["method.name=inclora"]},
                            {"name": "seqlora", "set": ["method.name=seqlora"]}]}
    (tmp_path / "tiny.yaml").write_text(json.dumps(spec))
    for run in expand(spec):
        if run["group"] == "inclora":
            assert litelora(train_command(run, tmp_path / "runs" / "tiny" / run["name"])) == 0
    args = [str(tmp_path / "tiny.yaml"), "--root", str(tmp_path / "runs"), "--results", str(tmp_path),
            "--threads", "1"]
    assert carried.main(args) == 0
    out = json.loads((tmp_path / "carried_tiny.json").read_text())
    [run] = out["runs"]
    assert [t["kind"] for t in run["tasks"]] == ["first", "first", "repeat"]
    R = json.loads((tmp_path / "runs" / "tiny" / "inclora_s0" / "results.json").read_text())["train_info"][
        "accuracy_matrix"]
    assert [t["after"] for t in run["tasks"]] == [R[t][t] for t in range(3)]
    assert run["tasks"][0]["before"] == run["tasks"][0]["base"]
    assert out["carried_groups"]["inclora"]["kinds"]["repeat"]["before"] == run["tasks"][2]["before"]
    # A second pass reads what the first scored.
    cache = tmp_path / "runs" / "tiny" / "carried" / "inclora_s0.json"
    kept = json.loads(cache.read_text())
    kept["carried"]["tasks"][2]["before"] = 0.5
    cache.write_text(json.dumps(kept))
    assert carried.main(args) == 0
    again = json.loads((tmp_path / "carried_tiny.json").read_text())
    assert again["carried_groups"]["inclora"]["kinds"]["repeat"]["before"] == 0.5
    table = "\n".join(section_carried(tmp_path))
    assert "| tiny | inclora | 1 | repeat | 1 |" in table
    # A checkout without the run directory (a fresh clone) keeps the committed reading.
    assert carried.main([*args[:2], str(tmp_path / "elsewhere"), *args[3:]]) == 0
    assert json.loads((tmp_path / "carried_tiny.json").read_text()) == again
    with pytest.raises(SystemExit, match="--rows: nope not in tiny"):
        carried.main([*args, "--rows", "nope"])
    [seqlora] = [r for r in expand(spec) if r["group"] == "seqlora"]
    assert litelora(train_command(seqlora, tmp_path / "runs" / "tiny" / seqlora["name"])) == 0
    with pytest.raises(SystemExit, match="seqlora_s0: `litelora eval --carried` failed"):
        carried.main([*args, "--rows", "seqlora"])
