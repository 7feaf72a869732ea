"""Callbacks see every task start, optimizer step and task end, in order, with the step's loss."""

from __future__ import annotations

import math

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
