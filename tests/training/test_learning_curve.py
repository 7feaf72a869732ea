"""train.curve_points: the task's test accuracy inside its training, read without changing it."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from litelora.errors import ConfigError
from litelora.reporting import RunDirectory
from litelora.training.build import build_trainer
from litelora.training.config import RunConfig
from crash_helpers import crash_then_resume

SETS = {
    "benchmark": {"name": "tiny-text", "options": {"num_tasks": 2}},
    "model": {"name": "tiny-bert", "max_length": 16},
    "train": {"max_steps_per_task": 6, "batch_size": 4, "lr": 5e-3, "progress": False, "num_threads": 1,
              "checkpoint_every": 2},
}


def _run(out, **train) -> dict:
    build_trainer(RunConfig.from_dict({**SETS, "train": {**SETS["train"], **train}, "output_dir": str(out)})).run()
    return json.loads((out / "results.json").read_text())["train_info"]


def _adapters(out) -> dict:
    return load_file(str(out / "adapters" / "adapters.safetensors"))


def test_a_curve_reads_the_task_without_changing_its_training(tmp_path) -> None:
    plain, curved = _run(tmp_path / "plain"), _run(tmp_path / "curved", curve_points=2)
    assert curved["accuracy_matrix"] == plain["accuracy_matrix"] and "task_curves" not in plain
    a, b = _adapters(tmp_path / "plain"), _adapters(tmp_path / "curved")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    losses = {name: [e["loss"] for e in RunDirectory(tmp_path / name).events() if e["event"] == "train"]
              for name in ("plain", "curved")}
    assert losses["plain"] == losses["curved"]
    curves = curved["task_curves"]
    assert [c["steps"] for c in curves] == [6, 6] and all(c["seconds"] > 0 for c in curves)
    assert [[step for step, _ in c["points"]] for c in curves] == [[2, 4], [2, 4]]
    # Constant rate and the same shuffling: task 0 at step 2 is the model a 2-step run ends with.
    short = _run(tmp_path / "short", max_steps_per_task=2)
    assert curves[0]["points"][0][1] == short["accuracy_matrix"][0][0]
    events = [(e["task"], e["step"]) for e in RunDirectory(tmp_path / "curved").events() if e["event"] == "curve"]
    assert events == [(0, 2), (0, 4), (1, 2), (1, 4)]


@pytest.mark.parametrize(("every", "crash_at"), [(2, 1), (2, 2), (2, 4), (3, 1), (3, 3)])
def test_a_run_killed_after_a_point_resumes_with_the_same_curve(tmp_path, monkeypatch, every: int,
                                                                crash_at: int) -> None:
    """Checkpoints on a point (every 2 steps) and between points (every 3: step 3, between 2 and 4)."""
    reference = _run(tmp_path / "ref", curve_points=2)
    out = tmp_path / "run"
    crash_then_resume(monkeypatch, lambda: RunConfig.from_dict(
        {**SETS, "train": {**SETS["train"], "curve_points": 2, "checkpoint_every": every}, "output_dir": str(out)}),
        crash_at)
    resumed = json.loads((out / "results.json").read_text())["train_info"]
    points = [[step for step, _ in c["points"]] for c in resumed["task_curves"]]
    assert points == [[2, 4], [2, 4]]
    assert [c["points"] for c in resumed["task_curves"]] == [c["points"] for c in reference["task_curves"]]
    assert resumed["accuracy_matrix"] == reference["accuracy_matrix"]
    curve_events = [(e["task"], e["step"]) for e in RunDirectory(out).events() if e["event"] == "curve"]
    assert curve_events == [(0, 2), (0, 4), (1, 2), (1, 4)]  # the events after the checkpoint were dropped


def test_few_steps_take_fewer_points_at_floored_steps(tmp_path) -> None:
    curves = _run(tmp_path / "odd", curve_points=3, max_steps_per_task=7)["task_curves"]
    assert [[s for s, _ in c["points"]] for c in curves] == [[1, 3, 5], [1, 3, 5]]  # 7 * i // 4
    curves = _run(tmp_path / "few", curve_points=3, max_steps_per_task=2)["task_curves"]
    assert [[s for s, _ in c["points"]] for c in curves] == [[1], [1]]  # steps 0, 1, 1: one point


def test_curve_points_out_of_range_fail_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"train\.curve_points must be between 0 \(off\) and 16, got 17"):
        RunConfig.from_dict({**SETS, "train": {"curve_points": 17}})
