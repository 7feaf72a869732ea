"""TensorBoard scalars mirrored from the run directory's events (train.tensorboard)."""

import builtins
import json

import pytest

from litelora.errors import ConfigError
from litelora.reporting import RunDirectory

pytest.importorskip("tensorboard")


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _config(on: bool) -> dict:
    return {"train": {"tensorboard": on}}


def test_events_become_scalars_with_global_steps(tmp_path) -> None:
    run = RunDirectory(tmp_path)
    run.create()
    run.write_config(_config(True))
    run.reset_events()
    run.event("task_start", task=0, steps=4, trainable_params=10, classes=[0, 1])
    run.event("train", task=0, step=2, loss=0.75, samples_per_s=10.0)
    run.event("train", task=0, step=4, loss=0.5, samples_per_s=12.0)
    run.event("eval", after_task=0, task=0, accuracy=0.9, n=10)
    run.event("task_end", task=0, seconds=1.0, active_adapters=2, row=[0.9])
    run.event("task_start", task=1, steps=6, trainable_params=10, classes=[2, 3])
    run.event("train", task=1, step=3, loss=0.25, samples_per_s=11.0)
    run.event("eval", after_task=1, task=0, accuracy=0.6, n=10)
    run.event("eval", after_task=1, task=1, accuracy=0.8, n=10)
    run.event("task_end", task=1, seconds=1.0, active_adapters=3, row=[0.6, 0.8])
    decisions = [{"task": 1, "target": "a", "gate": 0.9, "decision": "recruit"},
                 {"task": 1, "target": "b", "gate": 0.1, "decision": "reuse"}]
    run.write_json("gates.json", decisions)
    run.write_json("gates.json", decisions)  # re-written at every task end: logged once
    run.close()
    s = _scalars(tmp_path / "tensorboard")
    # Task 1's steps continue after task 0's 4 steps.
    assert s["train/loss"] == [(2, 0.75), (4, 0.5), (7, 0.25)]
    assert s["accuracy/task_0"] == [(0, pytest.approx(0.9)), (1, pytest.approx(0.6))]
    assert s["accuracy/task_1"] == [(1, pytest.approx(0.8))]
    assert s["accuracy/seen_mean"][1] == (1, pytest.approx(0.7))
    assert s["adapters/active"] == [(0, 2.0), (1, 3.0)]
    assert s["gate/open_fraction"] == [(1, 0.5)]
    assert s["gate/mean_value"] == [(1, pytest.approx(0.5))]
    assert s["gate_value/b"] == [(1, pytest.approx(0.1))]
    # The JSON record is unchanged by the mirror.
    assert [e["event"] for e in run.events()][:2] == ["task_start", "train"]


def test_resume_continues_the_global_step(tmp_path) -> None:
    first = RunDirectory(tmp_path)
    first.create()
    first.write_config(_config(True))
    first.reset_events()
    first.event("task_start", task=0, steps=5, trainable_params=1, classes=[0])
    first.event("task_start", task=1, steps=5, trainable_params=1, classes=[1])
    first.event("train", task=1, step=2, loss=1.0, samples_per_s=1.0)
    first.close()
    resumed = RunDirectory(tmp_path)  # a new process: only events.jsonl tells where task 1 starts
    resumed.write_config(_config(True))
    resumed.event("resume", checkpoint="ckpt-00000002", task=1, step=2)
    resumed.event("train", task=1, step=4, loss=0.5, samples_per_s=1.0)
    resumed.write_json("gates.json", [{"task": 0, "target": "a", "gate": 1.0, "decision": "recruit"}])
    resumed.close()
    s = _scalars(tmp_path / "tensorboard")
    assert sorted(s["train/loss"]) == [(7, 1.0), (9, 0.5)]
    assert "gate/open_fraction" not in s  # task 0 finished before the resume: its process logged it


def test_off_by_default_writes_nothing(tmp_path) -> None:
    run = RunDirectory(tmp_path)
    run.create()
    run.write_config(_config(False))
    run.event("train", task=0, step=1, loss=1.0, samples_per_s=1.0)
    assert not (tmp_path / "tensorboard").exists()
    assert json.loads((tmp_path / "events.jsonl").read_text())["loss"] == 1.0


def test_missing_package_is_a_config_error_naming_the_extra(tmp_path, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard" or name.startswith("torch.utils.tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    run = RunDirectory(tmp_path)
    with pytest.raises(ConfigError, match=r"litelora\[tensorboard\].*train.tensorboard=false"):
        run.write_config(_config(True))


def test_training_run_writes_loss_accuracy_gate_and_adapters(tmp_path) -> None:
    from litelora.cli.main import main

    argv = ["train", "--no-progress", "-o", str(tmp_path / "run"), "--set", "benchmark.name=tiny-text",
            "--set", "model.name=tiny-bert", "--set", "train.epochs=1", "--set", "train.batch_size=8",
            "--set", "train.log_every=2", "--set", "gate.kind=hard_concrete", "--set", "train.tensorboard=true"]
    assert main(argv) == 0
    run = tmp_path / "run"
    s = _scalars(run / "tensorboard")
    R = json.loads((run / "results.json").read_text())["train_info"]["accuracy_matrix"]
    T = len(R)
    for j in range(T):
        assert [v for _, v in s[f"accuracy/task_{j}"]] == pytest.approx([R[i][j] for i in range(j, T)], abs=1e-6)
    decisions = json.loads((run / "gates.json").read_text())
    assert [step for step, _ in s["gate/open_fraction"]] == sorted({d["task"] for d in decisions})
    assert len(s["adapters/active"]) == T
    losses = [e["loss"] for e in map(json.loads, (run / "events.jsonl").read_text().splitlines())
              if e["event"] == "train"]
    assert [v for _, v in s["train/loss"]] == pytest.approx(losses, rel=1e-6)
    steps = [step for step, _ in s["train/loss"]]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
