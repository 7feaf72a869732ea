"""The run directory layout and its writers (every file atomic)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from pathlib import Path
from typing import Any, Protocol

import yaml

from litelora._io import append_jsonl, read_json, read_jsonl, write_json, write_text
from litelora._paths import confined
from litelora.errors import ConfigError, PathError

SCHEMA_VERSION = 1
LOCK_NAME = ".lock"
# What a run killed before its first checkpoint leaves: nothing trained, safe to start over.
_EARLY_FILES = {"config.yaml", "run.json", "events.jsonl", "stream.json", "accuracy_matrix.csv", "gates.json",
                "checkpoints", "tensorboard"}
# The temp names of the atomic writers (``.NAME.XXXXXXXX.tmp`` / ``.old``, random part from
# ``tempfile``) and of a checkpoint being written: what a killed write leaves behind.
_LEFTOVER = re.compile(r"\.[^/]+\.[a-z0-9_]{8}\.(tmp|old)|\.tmp-ckpt-\d{8}")


class EventSink(Protocol):
    """Somewhere else the run's events go besides ``events.jsonl`` (TensorBoard)."""

    def write(self, kind: str, fields: dict[str, Any]) -> None: ...

    def gates(self, decisions: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class RunDirectory:
    """``config.yaml``, ``events.jsonl``, ``accuracy_matrix.csv``, ``results.json``,
    ``stream.json``, ``gates.json``, ``adapters/`` (bank) and ``head/`` under ``root``.

    Events and gate decisions are mirrored to ``sinks``; the config a run records decides
    them (``train.tensorboard: true`` adds TensorBoard under ``root/tensorboard``), so the
    trainer needs no logging code of its own.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.sinks: list[EventSink] = []

    def path(self, *parts: str) -> Path:
        """``root/parts...``; a symbolic link or ``..`` on the way is refused (``PathError``)."""
        return confined(self.root, *parts)

    @property
    def adapters(self) -> Path:
        return self.path("adapters")

    @property
    def head(self) -> Path:
        return self.path("head")

    @property
    def checkpoints(self) -> Path:
        return self.path("checkpoints")

    @property
    def analysis(self) -> Path:
        return self.path("analysis")

    @property
    def tensorboard(self) -> Path:
        return self.path("tensorboard")

    def is_run(self) -> bool:
        """Whether ``root`` holds a litelora run (its ``config.yaml``)."""
        return self.root.is_dir() and self.path("config.yaml").is_file()

    def require_finished(self) -> None:
        """``ConfigError`` unless ``root`` holds a run that has finished (its ``results.json``)."""
        if not self.is_run():
            raise ConfigError(f"{self.root} holds no config.yaml: not a litelora run directory")
        if not self.path("results.json").is_file():
            raise ConfigError(f"{self.root} has not finished (no results.json), so it has no final model; continue "
                              f"it with litelora train --resume {self.root}")

    def create(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise PathError(f"output directory {self.root} is a file; choose a folder (-o / output_dir)")
        self.root.mkdir(parents=True, exist_ok=True)

    def start_fresh(self, force: bool = False, after_crash: bool = False) -> None:
        """Make ``root`` an empty run directory, refusing to overwrite a run unless ``force``.

        ``after_crash``: files a run killed before its first checkpoint leaves (config, stream,
        events) may be overwritten, since nothing was trained yet. ``force`` deletes an earlier
        run's files, but only in a folder that holds a run: never an arbitrary non-empty folder.
        """
        self.create()
        present = sorted(p.name for p in self.root.iterdir() if p.name != LOCK_NAME)
        if not present:
            return
        if after_crash and set(present) <= _EARLY_FILES and not _has_checkpoint_dirs(self.root / "checkpoints"):
            return
        if not force:
            listed = ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
            raise PathError(f"{self.root} is not empty ({listed}); continue that run with --resume, choose another "
                            "output directory, or pass --force to delete it and start over")
        if not self.is_run():
            raise PathError(f"{self.root} is not empty and holds no litelora run (no config.yaml); --force only "
                            "clears run directories: choose an empty or new output directory")
        for name in present:
            entry = self.root / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def remove_leftovers(self) -> None:
        """Delete the temp files and folders of writes a kill interrupted, in the run directory
        and its sub-folders (the caller holds the run's lock, so no live write owns them). A
        folder that is not a run is cleaned only when it holds nothing else: a run killed while
        writing its first file; any other folder is the user's."""
        if not self.root.is_dir():
            return
        entries = list(self.root.iterdir())
        if not self.is_run():
            if all(_LEFTOVER.fullmatch(p.name) or p.name == LOCK_NAME for p in entries):
                self._remove_leftovers_in([self.root])
            return
        self._remove_leftovers_in([self.root, *(p for p in entries if p.is_dir() and not p.is_symlink())])

    @staticmethod
    def _remove_leftovers_in(folders: list[Path]) -> None:
        for folder in folders:
            for entry in folder.iterdir():
                if not _LEFTOVER.fullmatch(entry.name):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def events_size(self) -> int:
        """The byte length of ``events.jsonl`` (0 before it exists): where a checkpoint's events end."""
        path = self.path("events.jsonl")
        return path.stat().st_size if path.is_file() else 0

    def truncate_events(self, size: int) -> None:
        """Cut ``events.jsonl`` back to ``size`` bytes: the events logged after the checkpoint a
        run resumes from are logged again as it retrains those steps."""
        path = self.path("events.jsonl")
        if path.is_file() and 0 <= size < path.stat().st_size:
            with open(path, "r+b") as fh:
                fh.truncate(size)
                fh.flush()
                os.fsync(fh.fileno())

    def write_config(self, config: dict[str, Any]) -> None:
        """Record the run's config, and open the event sinks it asks for (once per process)."""
        if (config.get("train") or {}).get("tensorboard") and not self.sinks:
            from litelora.reporting.tensorboard import TensorBoardSink

            history = self.events() if self.path("events.jsonl").is_file() else []
            self.sinks.append(TensorBoardSink(self.tensorboard, history))
        write_text(self.path("config.yaml"), yaml.safe_dump(config, sort_keys=False))

    def close(self) -> None:
        """Flush and close the event sinks."""
        for sink in self.sinks:
            sink.close()
        self.sinks = []

    def reset_events(self) -> None:
        write_text(self.path("events.jsonl"), "")

    def event(self, kind: str, **fields: Any) -> None:
        append_jsonl(self.path("events.jsonl"), {"event": kind, **fields})
        for sink in self.sinks:
            sink.write(kind, fields)

    def events(self) -> list[dict[str, Any]]:
        """Every intact event; a line torn by a kill (anywhere, as a resumed run appends after
        it) is skipped."""
        return [e for e in read_jsonl(self.path("events.jsonl")) if isinstance(e, dict)]

    def write_matrix(self, R: list[list[float]]) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["after_task"] + [f"task_{j}" for j in range(len(R))])
        for i, row in enumerate(R):
            # R[i][j] for j > i is not measured yet: an empty cell, not an accuracy of 0.
            writer.writerow([i] + [f"{v:.6f}" if j <= i else "" for j, v in enumerate(row)])
        write_text(self.path("accuracy_matrix.csv"), buf.getvalue())

    def read_matrix(self) -> list[list[float | None]]:
        """R as written; cells not yet evaluated (after task i, tasks j > i) read as ``None``."""
        rows = list(csv.reader(self.path("accuracy_matrix.csv").read_text().splitlines()))
        return [[float(v) if v != "" else None for v in row[1:]] for row in rows[1:]]

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.path(name), obj)
        if name == "gates.json":
            for sink in self.sinks:
                sink.gates(obj)

    def read_json(self, name: str) -> Any:
        return read_json(self.path(name))


class ReadOnlyRunDirectory(RunDirectory):
    """A run directory that reads but never writes: what the non-zero ranks of a distributed
    run hold, so that one process alone writes every file."""

    def create(self) -> None:
        pass

    def start_fresh(self, force: bool = False, after_crash: bool = False) -> None:
        pass

    def write_config(self, config: dict[str, Any]) -> None:
        pass

    def reset_events(self) -> None:
        pass

    def truncate_events(self, size: int) -> None:
        pass

    def event(self, kind: str, **fields: Any) -> None:
        pass

    def write_matrix(self, R: list[list[float]]) -> None:
        pass

    def write_json(self, name: str, obj: Any) -> None:
        pass


class RunLock:
    """``<run>/.lock`` holding the writer's pid and its start time: a second live run on one
    directory fails. A lock left by a killed process is taken over, also when its pid has since
    been given to another process (the start time differs)."""

    def __init__(self, root: Path) -> None:
        self.path = confined(root, LOCK_NAME)

    def __enter__(self) -> RunLock:
        from litelora.errors import LiteLoraError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid, started = _read_lock(self.path)
                if pid and pid != os.getpid() and _alive(pid) and started in (None, _process_start(pid)):
                    raise LiteLoraError(
                        f"{self.path.parent} is being written by another run (pid {pid}); wait for it, or use "
                        f"another output_dir. If no litelora run uses it, delete {self.path}"
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()} {_process_start(os.getpid()) or ''}".strip())
            return self
        raise LiteLoraError(f"could not take the lock {self.path}")

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _read_lock(path: Path) -> tuple[int, int | None]:
    try:
        fields = path.read_text().split()
        return int(fields[0]) if fields else 0, int(fields[1]) if len(fields) > 1 else None
    except (OSError, ValueError):
        return 0, None


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), or None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _has_checkpoint_dirs(root: Path) -> bool:
    return root.is_dir() and any(p.name.startswith("ckpt-") for p in root.iterdir())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
