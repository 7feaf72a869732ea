"""Callbacks see every task start, optimizer step and task end, in order, with the step's loss."""

from __future__ import annotations

import math

import pytest

from litelora.benchmarks import build_benchmark
from litelora.reporting import RunDirectory
from litelora.training.backbones import build_backbone
from litelora.training.callbacks import Callback
from litelora.training.config import RunConfig
from litelora.training.trainer import ContinualTrainer


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_task_start(self, task, steps, step, elapsed) -> None:
        self.calls.append(("start", task.task_id, steps, step))

    def on_step_end(self, task, step, loss, examples, optimizer) -> None:
        assert math.isfinite(loss) and examples > 0 and optimizer.param_groups
        self.calls.append(("step", task.task_id, step))

    def on_task_end(self, task) -> None:
        self.calls.append(("end", task.task_id))


def test_a_recording_callback_sees_the_whole_loop(tmp_path) -> None:
    cfg = RunConfig.from_dict({"benchmark": {"name": "tiny-text", "options": {"num_tasks": 2}},
                               "model": {"name": "tiny-bert", "max_length": 16},
                               "train": {"max_steps_per_task": 3, "progress": False, "log_every": 2},
                               "output_dir": str(tmp_path / "run")})
    stream = build_benchmark("tiny-text", num_tasks=2, seed=0)
    recorder = Recorder()
    ContinualTrainer(cfg, stream, build_backbone(cfg.model), callbacks=[recorder]).run()
    expected = []
    for t in range(2):
        expected += [("start", t, 3, 0), *[("step", t, s) for s in (1, 2, 3)], ("end", t)]
    assert recorder.calls == expected
    train_events = [(e["task"], e["step"]) for e in RunDirectory(tmp_path / "run").events() if e["event"] == "train"]
    assert train_events == [(0, 2), (0, 3), (1, 2), (1, 3)]  # the built-in log: every 2 steps and the last


class StepCounter(Callback):
    """Counts every optimizer step of the run; stops the process (an exception) at one step."""

    def __init__(self, stop_at: tuple[int, int] | None = None) -> None:
        self.count, self.stop_at = 0, stop_at

    def on_step_end(self, task, step, loss, examples, optimizer) -> None:
        self.count += 1
        if (task.task_id, step) == self.stop_at:
            raise KeyboardInterrupt

    def state_dict(self) -> dict:
        return {"count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"]


def _three_tasks(tmp_path, every: int = 0) -> tuple[RunConfig, object]:
    cfg = RunConfig.from_dict({"benchmark": {"name": "tiny-text"}, "model": {"name": "tiny-bert", "max_length": 16},
                               "train": {"max_steps_per_task": 4, "progress": False, "checkpoint_every": every},
                               "output_dir": str(tmp_path / "run")})
    return cfg, build_benchmark("tiny-text", seed=0)


def test_callback_state_comes_back_on_resume(tmp_path) -> None:
    cfg, stream = _three_tasks(tmp_path)
    first = StepCounter(stop_at=(1, 2))
    try:
        ContinualTrainer(cfg, stream, build_backbone(cfg.model), callbacks=[first]).run()
    except KeyboardInterrupt:
        pass
    assert first.count == 6  # task 0's 4 steps, then 2 of task 1
    resumed = StepCounter()
    ContinualTrainer(cfg, stream, build_backbone(cfg.model), callbacks=[resumed]).run(resume=True)
    # back to the checkpoint at the end of task 0 (count 4), then tasks 1 and 2 in full
    assert resumed.count == 4 + 4 + 4


def test_callback_state_resumes_mid_task_and_a_new_callback_starts_afresh(tmp_path) -> None:
    cfg, stream = _three_tasks(tmp_path, every=2)
    try:
        ContinualTrainer(cfg, stream, build_backbone(cfg.model), callbacks=[StepCounter(stop_at=(1, 3))]).run()
    except KeyboardInterrupt:
        pass
    resumed, extra = StepCounter(), StepCounter()
    with pytest.warns(UserWarning, match=r"callback StepCounter#1 has no state in the checkpoint"):
        ContinualTrainer(cfg, stream, build_backbone(cfg.model), callbacks=[resumed, extra]).run(resume=True)
    assert resumed.count == 4 + 2 + 2 + 4  # the mid-task checkpoint after task 1's step 2
    assert extra.count == 2 + 4
