"""The run directory layout and its writers (every file atomic)."""

from __future__ import annotations

import csv
import io
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Protocol

import yaml

from litelora import __version__
from litelora._io import append_jsonl, read_json, read_jsonl, write_json, write_text

SCHEMA_VERSION = 1


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

    @property
    def adapters(self) -> Path:
        return self.root / "adapters"

    @property
    def head(self) -> Path:
        return self.root / "head"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def write_config(self, config: dict[str, Any]) -> None:
        """Record the run's config, and open the event sinks it asks for (once per process)."""
        if (config.get("train") or {}).get("tensorboard") and not self.sinks:
            from litelora.reporting.tensorboard import TensorBoardSink

            history = self.events() if (self.root / "events.jsonl").is_file() else []
            self.sinks.append(TensorBoardSink(self.tensorboard, history))
        write_text(self.root / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    def close(self) -> None:
        """Flush and close the event sinks."""
        for sink in self.sinks:
            sink.close()
        self.sinks = []

    def reset_events(self) -> None:
        write_text(self.root / "events.jsonl", "")

    def event(self, kind: str, **fields: Any) -> None:
        append_jsonl(self.root / "events.jsonl", {"event": kind, **fields})
        for sink in self.sinks:
            sink.write(kind, fields)

    def events(self) -> list[dict[str, Any]]:
        return read_jsonl(self.root / "events.jsonl")

    def write_matrix(self, R: list[list[float]]) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["after_task"] + [f"task_{j}" for j in range(len(R))])
        for i, row in enumerate(R):
            # R[i][j] for j > i is not measured yet: an empty cell, not an accuracy of 0.
            writer.writerow([i] + [f"{v:.6f}" if j <= i else "" for j, v in enumerate(row)])
        write_text(self.root / "accuracy_matrix.csv", buf.getvalue())

    def read_matrix(self) -> list[list[float | None]]:
        """R as written; cells not yet evaluated (after task i, tasks j > i) read as ``None``."""
        rows = list(csv.reader((self.root / "accuracy_matrix.csv").read_text().splitlines()))
        return [[float(v) if v != "" else None for v in row[1:]] for row in rows[1:]]

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.root / name, obj)
        if name == "gates.json":
            for sink in self.sinks:
                sink.gates(obj)

    def read_json(self, name: str) -> Any:
        return read_json(self.root / name)


class ReadOnlyRunDirectory(RunDirectory):
    """A run directory that reads but never writes: what the non-zero ranks of a distributed
    run hold, so that one process alone writes every file."""

    def create(self) -> None:
        pass

    def write_config(self, config: dict[str, Any]) -> None:
        pass

    def reset_events(self) -> None:
        pass

    def event(self, kind: str, **fields: Any) -> None:
        pass

    def write_matrix(self, R: list[list[float]]) -> None:
        pass

    def write_json(self, name: str, obj: Any) -> None:
        pass


def environment_info() -> dict[str, Any]:
    """Package versions and system facts for ``results.json``'s ``meta_info``."""
    import torch

    versions = {"litelora": __version__, "torch": torch.__version__, "python": platform.python_version()}
    for pkg in ("transformers", "peft", "safetensors", "numpy", "accelerate", "timm"):
        try:
            versions[pkg] = __import__(pkg).__version__
        except ImportError:
            continue
    return {
        "package_versions": versions,
        "system": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
        },
        "git_hash": _git_hash(),
    }


def _git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class RunLock:
    """``<run>/.lock`` holding the writer's pid: a second live run on one directory fails.

    A lock left by a killed process (its pid no longer runs) is taken over.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / ".lock"

    def __enter__(self) -> RunLock:
        from litelora.errors import LiteLoraError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise LiteLoraError(
                        f"{self.path.parent} is being written by another run (pid {pid}); "
                        f"wait for it, or use another output_dir"
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return self
        raise LiteLoraError(f"could not take the lock {self.path}")

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
