"""A kill at every write point of ``train`` (enumerated by counting the writes of an uninterrupted
run: each atomic file write, each event line, each checkpoint), then the documented recovery
command: ``--resume`` when the run recorded its ``config.yaml``, else the same ``train`` again.
The final adapters, head, accuracy matrix, results and events equal the uninterrupted run's,
and no temp file of the killed write is left behind.

The writes up to the first checkpoint run by default; the later ones are ``slow``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import litelora._io as io_module
from litelora.cli.main import main
from litelora.reporting import run_dir as run_dir_module
from litelora.training import trainer as trainer_module

ARGS = ["--no-progress", "--set", "benchmark.name=tiny-text", "--set", "benchmark.options.num_tasks=2",
        "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=3", "--set", "train.checkpoint_every=1",
        "--set", "train.log_every=2"]
# Fields that measure time or the machine, not what was trained.
CLOCK = {"seconds", "samples_per_s", "created_at", "total_time_s", "task_seconds", "train_seconds"}
FIRST_WRITES = 7  # config.yaml, stream.json, run.json, events.jsonl, the first events, the first checkpoint
MAX_WRITES = 40  # the run below has 29


class Kill(BaseException):
    """A SIGKILL in the middle of a write: nothing after it runs, no handler sees it."""


class Writes:
    """Counts the run's writes; the ``kill_at``-th is interrupted as a kill would interrupt it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, kill_at: int | None = None) -> None:
        self.kill_at, self.names = kill_at, []
        real_atomic, real_append, real_ckpt = io_module.atomic_path, run_dir_module.append_jsonl, \
            trainer_module.save_checkpoint

        @contextmanager
        def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
            if not self._count(f"write {Path(path).name}"):
                with real_atomic(path) as tmp:
                    yield tmp
                return
            with real_atomic(path) as tmp:
                yield tmp
                os.link(tmp, tmp.with_name(tmp.name.replace(".tmp", "").rsplit(".", 1)[0] + ".zzzzzzzz.tmp"))
                raise Kill  # written, not yet renamed into place: the temp file stays

        def append_jsonl(path: str | os.PathLike[str], obj: object) -> None:
            if self._count(f"event {obj['event']}"):  # type: ignore[index]
                with open(path, "a") as fh:
                    fh.write(json.dumps(obj)[:10])  # a torn line
                raise Kill
            real_append(path, obj)

        def save_checkpoint(root: Path, seq: int, *args: object, **kwargs: object) -> Path:
            if self._count(f"checkpoint {seq}"):
                (root / f".tmp-ckpt-{seq:08d}").mkdir(parents=True)
                (root / f".tmp-ckpt-{seq:08d}" / "state.json").write_text("{")
                raise Kill
            return real_ckpt(root, seq, *args, **kwargs)

        monkeypatch.setattr(io_module, "atomic_path", atomic_path)
        monkeypatch.setattr(run_dir_module, "append_jsonl", append_jsonl)
        monkeypatch.setattr(trainer_module, "save_checkpoint", save_checkpoint)

    def _count(self, name: str) -> bool:
        self.names.append(name)
        return len(self.names) == self.kill_at


def _events(run: Path) -> list[dict]:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return [{k: v for k, v in e.items() if k not in CLOCK} for e in events if e["event"] != "resume"]


def _outputs(run: Path) -> dict[str, object]:
    results = json.loads((run / "results.json").read_text())
    results["run_info"] = {k: v for k, v in results["run_info"].items() if k not in CLOCK | {"config"}}
    results["train_info"] = {k: v for k, v in results["train_info"].items() if k not in CLOCK}
    results["metrics"] = {k: v for k, v in results["metrics"].items() if k not in CLOCK}
    results.pop("meta_info")
    files = {str(p.relative_to(run)): p.read_bytes() for folder in ("adapters", "head")
             for p in sorted((run / folder).iterdir())}
    return {"results": results, "matrix": (run / "accuracy_matrix.csv").read_bytes(), "events": _events(run), **files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict[str, object], list[str]]:
    run = tmp_path_factory.mktemp("ref") / "run"
    with pytest.MonkeyPatch.context() as mp:
        writes = Writes(mp)
        assert main(["train", "-o", str(run), *ARGS]) == 0
    assert len(writes.names) <= MAX_WRITES, writes.names
    return _outputs(run), writes.names


KILL_POINTS = [pytest.param(k, marks=[pytest.mark.slow] if k > FIRST_WRITES else []) for k in range(1, MAX_WRITES + 1)]


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_a_kill_at_any_write_then_the_documented_command_ends_as_an_uninterrupted_run(
        tmp_path, monkeypatch, reference, kill_at: int) -> None:
    expected, names = reference
    if kill_at > len(names):
        pytest.skip(f"the run has {len(names)} write points")
    run = tmp_path / "run"
    with monkeypatch.context() as mp:
        writes = Writes(mp, kill_at)
        with pytest.raises(Kill):
            main(["train", "-o", str(run), *ARGS])
    assert writes.names == names[:kill_at]  # the same writes, in the same order, up to the kill
    (run / ".lock").write_text("999999999")  # a killed process leaves its lock
    recovery = ["train", "--no-progress", "--resume", str(run)] if (run / "config.yaml").is_file() else [
        "train", "-o", str(run), *ARGS]
    assert main(recovery) == 0, f"kill inside {names[kill_at - 1]}"
    assert _outputs(run) == expected, f"kill inside {names[kill_at - 1]}"
    leftovers = [str(p.relative_to(run)) for p in run.rglob("*") if re.search(r"\.tmp$|^\.tmp-", p.name)]
    assert not leftovers, leftovers
