"""Callbacks around the training loop: what happens at a task's start, after each optimizer step
and at its end, apart from the training itself (progress, events, mid-task checkpoints).

The trainer calls every callback in order; a run's own are :func:`default_callbacks`, and
``ContinualTrainer(..., callbacks=[...])`` adds others (a test records the steps with one).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from litelora.benchmarks.stream import Task
from litelora.reporting import RunDirectory
from litelora.reporting.progress_bar import tqdm


class Callback:
    """No-op hooks; override what you need.

    ``on_task_start``: before the first step of ``task`` (``step`` > 0 when a run resumes
    mid-task; ``elapsed``: seconds the task had already trained before the resume).
    ``on_step_end``: after optimizer step ``step`` (1-based) with that step's loss and examples.
    ``state_dict`` / ``load_state_dict``: JSON-able state saved in every checkpoint and given
    back when the run resumes from it, so a callback that counts or accumulates resumes where
    the checkpoint left it.
    """

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None

    def on_task_start(self, task: Task, steps: int, step: int, elapsed: float) -> None:
        return None

    def on_step_end(self, task: Task, step: int, loss: float, examples: int, optimizer: torch.optim.Optimizer) -> None:
        return None

    def on_task_end(self, task: Task) -> None:
        return None


class ProgressLog(Callback):
    """The progress bar, and a ``train`` event (mean loss, samples/s) every ``log_every`` steps."""

    def __init__(self, run_dir: RunDirectory, log_every: int, show: bool) -> None:
        self.run_dir, self.log_every, self.show = run_dir, log_every, show
        self.bar: Any = None
        self.seen, self.losses, self._resumed = 0, [], False

    def state_dict(self) -> dict[str, Any]:
        # The open logging window: a run resumed inside it logs the same mean loss at its end.
        return {"seen": self.seen, "losses": list(self.losses)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen, self.losses = int(state.get("seen", 0)), [float(x) for x in state.get("losses", [])]
        self._resumed = True

    def on_task_start(self, task: Task, steps: int, step: int, elapsed: float) -> None:
        self.total = steps
        self.bar = tqdm(total=steps, initial=step, desc=f"task {task.task_id}", disable=not self.show, leave=False)
        if not (step > 0 and self._resumed):  # a mid-task resume continues the restored window
            self.seen, self.losses = 0, []
        self.t_window, self._resumed = time.perf_counter(), False

    def on_step_end(self, task: Task, step: int, loss: float, examples: int, optimizer: torch.optim.Optimizer) -> None:
        self.seen += examples
        self.losses.append(loss)
        self.bar.update(1)
        if step % self.log_every == 0 or step == self.total:
            dt = time.perf_counter() - self.t_window
            rate = self.seen / dt if dt > 0 else float("nan")
            self.bar.set_postfix(loss=f"{np.mean(self.losses):.3f}", sps=f"{rate:.1f}")
            self.run_dir.event("train", task=task.task_id, step=step, loss=float(np.mean(self.losses)),
                               samples_per_s=rate)
            self.seen, self.t_window, self.losses = 0, time.perf_counter(), []

    def on_task_end(self, task: Task) -> None:
        if self.bar is not None:
            self.bar.close()


class LearningCurve(Callback):
    """The task's test accuracy at up to ``points`` evenly spaced steps inside its training (step
    ``steps * i // (points + 1)``; a step a gate's probe already took, or step 0, is skipped; the
    end's accuracy is the matrix's diagonal), as ``curve`` events and ``curves``: task id ->
    ``{"steps": the task's steps, "points": [[step, accuracy], ...], "seconds": time spent
    evaluating (inside the task's wall time)}``. Evaluation runs in eval mode and reads no random
    stream, so a run with a curve trains exactly as one without."""

    def __init__(self, run_dir: RunDirectory, points: int, evaluate: Callable[[Task], float]) -> None:
        self.run_dir, self.points, self.evaluate = run_dir, points, evaluate
        self.curves: dict[str, dict[str, Any]] = {}
        self.at: set[int] = set()

    def state_dict(self) -> dict[str, Any]:
        # Every checkpoint carries the points taken so far, the current task's included.
        return {"curves": copy.deepcopy(self.curves)} if self.curves else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curves = copy.deepcopy(state.get("curves", {}))

    def on_task_start(self, task: Task, steps: int, step: int, elapsed: float) -> None:
        self.at = {steps * i // (self.points + 1) for i in range(1, self.points + 1)} - {0, steps}
        # Points past ``step`` are (re)taken; a mid-task resume keeps those before it.
        curve = self.curves.get(str(task.task_id), {})
        kept = [p for p in curve.get("points", []) if p[0] <= step]
        self.curves[str(task.task_id)] = {"steps": steps, "points": kept,
                                          "seconds": curve.get("seconds", 0.0) if kept else 0.0}

    def on_step_end(self, task: Task, step: int, loss: float, examples: int, optimizer: torch.optim.Optimizer) -> None:
        if step in self.at:
            t0 = time.perf_counter()
            accuracy = self.evaluate(task)
            curve = self.curves[str(task.task_id)]
            curve["points"].append([step, accuracy])
            curve["seconds"] += time.perf_counter() - t0
            self.run_dir.event("curve", task=task.task_id, step=step, accuracy=accuracy, n=len(task.test))

    def task_curves(self, num_tasks: int) -> list[dict[str, Any]]:
        """Per task in stream order, ``{"steps", "points", "seconds"}`` (no points: not trained
        with a curve)."""
        return [self.curves.get(str(t), {"steps": None, "points": [], "seconds": 0.0}) for t in range(num_tasks)]


class MidTaskCheckpoints(Callback):
    """A checkpoint every ``every`` steps inside a task (the one at its end is the trainer's):
    ``save(step, optimizer, elapsed)`` writes it."""

    def __init__(self, every: int, save: Callable[[int, torch.optim.Optimizer, float], None]) -> None:
        self.every, self.save = every, save

    def on_task_start(self, task: Task, steps: int, step: int, elapsed: float) -> None:
        self.total, self.elapsed, self.t0 = steps, elapsed, time.perf_counter()

    def on_step_end(self, task: Task, step: int, loss: float, examples: int, optimizer: torch.optim.Optimizer) -> None:
        if self.every and step % self.every == 0 and step < self.total:
            self.save(step, optimizer, self.elapsed + time.perf_counter() - self.t0)


def keyed(callbacks: Sequence[Callback]) -> list[tuple[str, Callback]]:
    """``(ClassName#n, callback)``: the n-th callback of its class, the key its checkpoint state has."""
    seen: dict[str, int] = {}
    out = []
    for cb in callbacks:
        name = type(cb).__qualname__
        out.append((f"{name}#{seen.get(name, 0)}", cb))
        seen[name] = seen.get(name, 0) + 1
    return out
