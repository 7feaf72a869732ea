"""What a run was started on, and the checks that a resume continues that run and no other.

``run.json`` is written once, when a run starts: a random run id, the resolved config and the
stream's fingerprint (task order, class ids and names, a digest of each task's examples). Every
checkpoint records the run id. ``--resume`` then refuses, by field name, a config or stream that
differs from the recorded one (unless ``--allow-change FIELD``), and skips a checkpoint that
belongs to another run or whose progress does not fit this run (task and step ranges, the
accuracy matrix's shape), as it skips a damaged one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from litelora._config import lookup
from litelora.benchmarks.stream import Task, TaskStream
from litelora.errors import ConfigError, DataError
from litelora.reporting import RunDirectory
from litelora.training.checkpoint import list_checkpoints
from litelora.gates.config import DEFAULT_KIND
from litelora.gates.registry import params_with_defaults
from litelora.training.config import RunConfig, TrainConfig
from litelora.training.pairing import resolve_gate
from litelora.training.progress import ALWAYS_MUTABLE, changed_fields

RUN_FILE = "run.json"
# Stream differences --allow-change may accept: new data for the same tasks and classes, and
# renamed classes. A changed task order or class set cannot be continued by the trained model.
STREAM_ALLOWABLE = ("stream.data", "stream.class_names")


def _feed(h: Any, value: Any) -> None:
    """Add ``value`` to digest ``h`` unambiguously (type and length before content)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, np.ndarray):
        h.update(f"N{value.dtype}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (str, bytes)):
        data = value.encode() if isinstance(value, str) else value
        h.update(f"{type(value).__name__[0]}{len(data)}:".encode() + data)
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, dict):
        h.update(f"D{len(value)}".encode())
        for key in sorted(value, key=str):
            _feed(h, str(key))
            _feed(h, value[key])
    else:
        h.update(f"R{value!r}".encode())


def task_digest(task: Task) -> str:
    """SHA-256 over a task's train and test examples, in order (inputs and labels)."""
    h = hashlib.sha256()
    for split in (task.train, task.test):
        h.update(f"split{len(split)}".encode())
        for example in split:
            _feed(h, example.input)
            _feed(h, example.label)
    return h.hexdigest()


def stream_fingerprint(stream: TaskStream) -> dict[str, Any]:
    """What identifies a stream's content: task order, class ids and names, data digests."""
    return {
        "name": stream.name,
        "scenario": stream.scenario,
        "task_order": [t.name for t in stream.tasks],
        "classes": [list(t.classes) for t in stream.tasks],
        "class_order": list(stream.class_order),
        "class_names": list(stream.class_names),
        "data": {t.name: task_digest(t) for t in stream.tasks},
    }


def start_identity(run_dir: RunDirectory, config: dict[str, Any], stream: TaskStream) -> dict[str, Any]:
    """Record a new run's identity in ``run.json`` and return it."""
    identity = {"schema_version": 1, "run_id": uuid.uuid4().hex, "config": config,
                "stream": stream_fingerprint(stream), "changes": []}
    run_dir.write_json(RUN_FILE, identity)
    return identity


def read_identity(run_dir: RunDirectory) -> dict[str, Any] | None:
    """The run's ``run.json``; ``None`` when the run has none (started by litelora before it
    recorded one, or killed before writing it)."""
    path = run_dir.path(RUN_FILE)
    if not path.is_file():
        return None
    try:
        identity = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        identity = None
    if not (isinstance(identity, dict) and isinstance(identity.get("run_id"), str)
            and isinstance(identity.get("config"), dict) and isinstance(identity.get("stream"), dict)):
        raise DataError(f"{path}: unreadable (it records what the run was started on); restore it, or pass --force "
                        "to delete the run and start over")
    return identity


def _covered(field: str, allowed: Sequence[str]) -> bool:
    return any(field == a or field.startswith(a + ".") for a in allowed)


def _known_fields(config: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in config.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _known_fields(value, f"{prefix}{key}.")
    return out


def check_allowed_names(allow_changes: Sequence[str], config: dict[str, Any]) -> None:
    """Every ``--allow-change`` name must be a config field (or section; a gate param left at its
    default counts, as a refusal may name it) or a stream field."""
    known = _known_fields(_gate_defaults(config)) | set(STREAM_ALLOWABLE)
    for name in allow_changes:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"--allow-change {name!r}: not a config field{hint} (or one of {list(STREAM_ALLOWABLE)})")


def stream_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted names of the fingerprint fields that differ (``stream.data.TASK`` per task)."""
    out = [f"stream.{key}" for key in ("name", "scenario", "task_order", "classes", "class_order", "class_names")
           if old.get(key) != new.get(key)]
    old_data, new_data = old.get("data") or {}, new.get("data") or {}
    out += [f"stream.data.{name}" for name in new_data if name in old_data and old_data[name] != new_data[name]]
    return out


def _added_since(recorded: dict[str, Any]) -> dict[str, Any]:
    """The recorded config with each field added to litelora since the run started, at the value
    that reproduces what the run did (so adding a field does not refuse every older run)."""
    adapter = recorded.get("adapter")
    if isinstance(adapter, dict) and "autocast_adapter_dtype" not in adapter:
        # Adapters then took their layer's dtype: for a float32 model, what either value gives.
        half = (recorded.get("model") or {}).get("dtype") in ("bfloat16", "float16")
        recorded = {**recorded, "adapter": {**adapter, "autocast_adapter_dtype": not half}}
    gate = recorded.get("gate")
    if isinstance(gate, dict) and gate.get("kind") == DEFAULT_KIND:
        # A trainer built without build_trainer recorded auto, which then never looked at the model.
        recorded = {**recorded, "gate": _resolved_gate(recorded.get("method"), gate)}
    return recorded


def _resolved_gate(method: Any, gate: dict[str, Any]) -> dict[str, Any]:
    """A recorded ``auto`` gate section as it ran, read with its method section only: a field
    retired since elsewhere in the record is then named by the comparison, not failed on here."""
    try:
        config = RunConfig.from_dict({"method": method or {}, "gate": gate})
    except ConfigError:
        return gate  # a method or gate setting since retired: the comparison names what differs
    return resolve_gate(config).to_dict()["gate"]


def _gate_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the gate's defaults written into ``gate.params``, so that a default left out
    and the same value written out compare equal."""
    gate = config.get("gate")
    if not isinstance(gate, dict) or not isinstance(gate.get("params") or {}, dict):
        return config  # a hand-edited record: compared as written
    return {**config, "gate": {**gate, "params": params_with_defaults(str(gate.get("kind")), gate.get("params") or {})}}


def check_resumable(run_dir: RunDirectory, identity: dict[str, Any], config: dict[str, Any], stream: TaskStream,
                    allow_changes: Sequence[str]) -> dict[str, Any]:
    """Refuse a resume whose config or stream differs from the run's record, by field name,
    unless allowed; record the allowed changes in ``run.json`` and return the new identity."""
    where = f"cannot resume {run_dir.root}"
    old, new = _added_since(identity["config"]), config
    if lookup(old, "gate.kind") == lookup(new, "gate.kind"):
        # The same gate: a default left out and written out compare equal. (Across kinds each side's
        # defaults would all read as changed, where gate.kind names the change.)
        old, new = _gate_defaults(old), _gate_defaults(new)
    fields = [f for f in changed_fields(old, new) if f not in ALWAYS_MUTABLE]
    refused = [f for f in fields if not _covered(f, allow_changes)]
    if refused:
        started = ", ".join(f"{f}={lookup(old, f)[1]!r}" for f in refused)
        raise ConfigError(f"{where}: config fields {refused} differ from the config the run was started on "
                          f"({RUN_FILE}: {started}); set them back (--set FIELD=VALUE), allow them explicitly "
                          "(--allow-change FIELD) if that is intended, or start over with --force")
    fingerprint = stream_fingerprint(stream)
    changes = stream_changes(identity["stream"], fingerprint)
    fixed = [f for f in changes if not _covered(f, STREAM_ALLOWABLE)]
    if fixed:
        raise ConfigError(f"{where}: the task stream's {', '.join(fixed)} differ from what the run was started on "
                          f"({RUN_FILE}); the trained model cannot continue on them: restore the data and "
                          "benchmark settings, or start over with --force")
    refused = [f for f in changes if not _covered(f, allow_changes)]
    if refused:
        raise ConfigError(f"{where}: {', '.join(refused)} differ from what the run was started on ({RUN_FILE}): "
                          "the data changed; allow it with --allow-change stream.data (or stream.class_names), "
                          "or restore the data")
    if not fields and not changes:
        return identity
    identity = {**identity, "config": config, "stream": fingerprint,
                "changes": [*identity.get("changes", []), {"fields": fields + changes}]}
    run_dir.write_json(RUN_FILE, identity)
    return identity


def resume_identity(run_dir: RunDirectory, config: dict[str, Any], stream: TaskStream,
                    allow_changes: Sequence[str]) -> dict[str, Any] | None:
    """The record of the run being resumed, after checking that ``config`` and ``stream`` may
    continue it; ``None`` when it has none. A run with no checkpoint yet starts over, so any
    config may."""
    check_allowed_names(allow_changes, config)
    identity = read_identity(run_dir)
    if identity is None or not list_checkpoints(run_dir.checkpoints):
        return identity
    return check_resumable(run_dir, identity, config, stream, allow_changes)


def task_steps(train: TrainConfig, task: Task) -> int:
    """The optimizer steps a task trains for: its epochs over the data, capped by
    ``max_steps_per_task``."""
    total = max(1, round(math.ceil(len(task.train) / train.batch_size) * train.epochs))
    return min(total, train.max_steps_per_task) if train.max_steps_per_task is not None else total


def checkpoint_problem(state: dict[str, Any], identity: dict[str, Any] | None, stream: TaskStream,
                       train: TrainConfig) -> str | None:
    """What makes a checkpoint's content unfit for this run (``None`` when it fits): another
    run's id, or progress outside the run's tasks and steps."""
    run = state.get("run")
    run_id = run.get("id") if isinstance(run, dict) else None
    if identity is None and run_id is not None:
        return f"it records run {run_id}, but the run directory has no {RUN_FILE}"
    if identity is not None and run_id != identity["run_id"]:
        return f"it belongs to another run (run id {run_id}, this run is {identity['run_id']})"
    try:
        progress = state["start"]["progress"]
        done, R = progress["next_task"], progress["R"]
        live = state.get("live")
        T = len(stream.tasks)
        if not (isinstance(done, int) and 0 <= done <= T):
            return f"next_task={done!r} is outside this run's tasks 0..{T}"
        if not (isinstance(R, list) and len(R) == T and all(isinstance(r, list) and len(r) == T for r in R)):
            return f"its accuracy matrix is not {T}x{T}"
        if len(progress["wall"]) != done or len(progress["trainable"]) != done:
            return f"it records {len(progress['wall'])} task times for {done} finished tasks"
        if live is not None:
            step = live["step"]
            steps = task_steps(train, stream.tasks[done]) if done < T else 0
            if done == T or not (isinstance(step, int) and 0 < step < steps):
                return f"mid-task step {step!r} is outside task {done}'s steps 1..{steps - 1}"
    except (KeyError, TypeError, IndexError):
        return "its state lacks the run's progress"
    return None
