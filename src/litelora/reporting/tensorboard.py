"""TensorBoard scalars of a run, mirrored from the run directory's events (``train.tensorboard``).

Tags (global step in brackets):
- ``train/loss``, ``train/samples_per_s`` [optimizer steps since the run began];
- ``accuracy/task_<j>`` [after task i] (one curve per task: R[i][j]) and ``accuracy/seen_mean``
  (the mean of row i);
- ``adapters/active`` [task]: (task, target) adapters in the bank after the task;
- ``gate/open_fraction``, ``gate/mean_value`` and ``gate_value/<target>`` [task]: the share of
  recruited candidates, the rank they kept against the host's, and the gate value at the decision.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from litelora.errors import ConfigError

EXTRA_HINT = "pip install 'litelora[tensorboard]' (or pip install tensorboard)"


def require_tensorboard() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, or a ConfigError naming the extra to install."""
    try:
        import tensorboard  # noqa: F401  (torch's writer needs the package's protobufs)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"train.tensorboard=true needs the 'tensorboard' package: {EXTRA_HINT}; "
                          "or set train.tensorboard=false") from None
    return SummaryWriter


class TensorBoardSink:
    """Writes the scalars of the run's events under ``log_dir`` (one event file per process)."""

    def __init__(self, log_dir: str | os.PathLike[str], history: Iterable[dict[str, Any]] = ()) -> None:
        writer_cls = require_tensorboard()
        self.log_dir = Path(log_dir)
        self._writer = writer_cls(log_dir=str(self.log_dir))
        self._steps: dict[int, int] = {}  # task -> its optimizer steps
        self._gates_logged: set[int] = set()
        self._history = list(history)

    def write(self, kind: str, fields: dict[str, Any]) -> None:
        """Log the scalars of one ``events.jsonl`` record (other kinds are ignored)."""
        w = self._writer
        if kind == "task_start":
            self._start_task(int(fields["task"]), int(fields["steps"]))
        elif kind == "resume":
            self._replay_offsets(int(fields["task"]))
        elif kind == "train":
            step = self._offset(int(fields["task"])) + int(fields["step"])
            w.add_scalar("train/loss", float(fields["loss"]), step)
            w.add_scalar("train/samples_per_s", float(fields["samples_per_s"]), step)
        elif kind == "eval":
            w.add_scalar(f"accuracy/task_{int(fields['task'])}", float(fields["accuracy"]), int(fields["after_task"]))
        elif kind == "task_end":
            task, row = int(fields["task"]), list(fields.get("row") or [])
            w.add_scalar("adapters/active", float(fields["active_adapters"]), task)
            if row:
                w.add_scalar("accuracy/seen_mean", sum(row) / len(row), task)
        else:
            return
        w.flush()

    def gates(self, decisions: list[dict[str, Any]]) -> None:
        """Log the gate decisions of every task not logged yet (``gates.json`` holds them all)."""
        by_task: dict[int, list[dict[str, Any]]] = {}
        for d in decisions:
            by_task.setdefault(int(d["task"]), []).append(d)
        for task, rows in sorted(by_task.items()):
            if task in self._gates_logged:
                continue
            self._gates_logged.add(task)
            recruited = sum(r["decision"] == "recruit" for r in rows)
            self._writer.add_scalar("gate/open_fraction", recruited / len(rows), task)
            full = sum(int(r.get("full_rank") or 0) for r in rows)
            if full:  # rows written before decisions carried ranks have none
                self._writer.add_scalar("gate/rank_fraction", sum(int(r.get("rank") or 0) for r in rows) / full, task)
            self._writer.add_scalar("gate/mean_value", sum(float(r["gate"]) for r in rows) / len(rows), task)
            for r in rows:
                self._writer.add_scalar(f"gate_value/{r['target']}", float(r["gate"]), task)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def _start_task(self, task: int, steps: int) -> None:
        self._steps[task] = steps

    def _offset(self, task: int) -> int:
        """Optimizer steps of the tasks before ``task``: its steps start after theirs."""
        return sum(n for t, n in self._steps.items() if t < task)

    def _replay_offsets(self, resumed_task: int) -> None:
        # A resumed process starts mid-stream: rebuild the step offsets from the earlier events,
        # and leave the finished tasks' gate scalars to the event file that already holds them.
        for event in self._history:
            if event.get("event") == "task_start":
                self._start_task(int(event["task"]), int(event["steps"]))
        self._gates_logged.update(range(resumed_task))
