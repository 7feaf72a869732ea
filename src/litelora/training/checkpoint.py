"""Crash-safe checkpoints: a folder per checkpoint, a manifest of checksums written last.

A checkpoint is written into a temp folder, every file fsynced, the manifest added, and
only then renamed into place; the previous checkpoint is deleted after that. Loading
takes the newest checkpoint whose manifest exists and whose files match their checksums;
a damaged one is reported by name and the previous one is used. Tensors go to
safetensors and everything else to JSON: nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from litelora._io import named_os_errors, write_safetensors
from litelora._paths import plain_name
from litelora.errors import ConfigError, PathError

MANIFEST = "manifest.json"
PREFIX = "ckpt-"


@dataclass
class Checkpoint:
    """One loaded checkpoint: JSON state and named tensor groups (``{"bank": {...}, ...}``)."""

    path: Path
    seq: int
    state: dict[str, Any]
    tensors: dict[str, dict[str, torch.Tensor]]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def save_checkpoint(root: Path, seq: int, state: dict[str, Any], tensors: dict[str, dict[str, torch.Tensor]],
                    keep: int = 2) -> Path:
    """Write checkpoint ``seq`` under ``root`` atomically; keep the newest ``keep``."""
    root.mkdir(parents=True, exist_ok=True)
    newer = [other for other in _checkpoint_dirs(root) if _seq(other) > seq]
    if newer:
        # Pruning keeps the newest: writing below an existing sequence number would delete the new one.
        raise PathError(f"{root} already holds {newer[-1].name}, newer than checkpoint {seq}; that folder belongs "
                        "to another run: resume it, or start over with --force")
    final = root / f"{PREFIX}{seq:08d}"
    tmp = root / f".tmp-{PREFIX}{seq:08d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    files = {}
    for group, tensor_dict in tensors.items():
        name = f"{group}.safetensors"
        data = {k: v.detach().to("cpu").contiguous() for k, v in tensor_dict.items()}
        write_safetensors(tmp / name, data, name=final / name)
        files[name] = _sha256(tmp / name)
    with named_os_errors(final / "state.json"):
        _fsync_write(tmp / "state.json", json.dumps(state).encode())
    files["state.json"] = _sha256(tmp / "state.json")
    with named_os_errors(final / MANIFEST):
        _fsync_write(tmp / MANIFEST, json.dumps({"seq": seq, "files": files}).encode())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    for old in _checkpoint_dirs(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _seq(path: Path) -> int:
    suffix = path.name[len(PREFIX):]
    return int(suffix) if suffix.isdigit() else -1


def _checkpoint_dirs(root: Path) -> list[Path]:
    """``root``'s checkpoint folders, oldest first; links and stray names are not checkpoints."""
    found = [p for p in root.glob(f"{PREFIX}*") if p.is_dir() and not p.is_symlink() and _seq(p) >= 0]
    return sorted(found, key=_seq)


def newest_seq(root: Path) -> int:
    """The highest sequence number of any checkpoint folder under ``root`` (0 when none)."""
    return max([_seq(p) for p in list_checkpoints(root)] + [0])


def list_checkpoints(root: Path) -> list[Path]:
    """Every entry under ``root`` that claims to be a checkpoint (intact or not), oldest first."""
    return sorted(root.glob(f"{PREFIX}*"), key=lambda p: p.name) if root.is_dir() else []


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify(path: Path) -> str | None:
    """``None`` when the checkpoint is complete and intact, else what is wrong with it."""
    if path.is_symlink() or _seq(path) < 0:
        return f"{path.name}: not a checkpoint folder (a link, or not named {PREFIX}NNNNNNNN)"
    manifest = path / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return f"{path.name}: no {MANIFEST} (incomplete checkpoint)"
    try:
        content = json.loads(manifest.read_text())
        files = content["files"]
        if not isinstance(files, dict) or content.get("seq") != _seq(path):
            raise TypeError
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return f"{manifest}: unreadable manifest"
    if "state.json" not in files:
        return f"{manifest}: lists no state.json"
    for name, digest in files.items():
        try:
            plain_name(name, str(manifest))
        except PathError as err:
            return str(err)
        f = path / name
        if f.is_symlink() or not f.is_file():
            return f"{f}: missing"
        if _sha256(f) != digest:
            return f"{f}: checksum mismatch (file damaged)"
    return None


def load_latest(root: Path, check: Callable[[dict[str, Any]], str | None] | None = None) -> Checkpoint | None:
    """The newest intact checkpoint under ``root`` (warning about each damaged one); ``None``
    when there is none at all; ``PathError`` when every checkpoint there is damaged.

    ``check(state)`` names what makes an intact checkpoint unfit for the run resuming it (another
    run's, progress out of range): such a checkpoint is skipped like a damaged one, since its
    manifest only proves it is as written, not that it belongs here.
    """
    problems = []
    for path in reversed(list_checkpoints(root)):
        problem = verify(path)
        if problem is None:
            try:
                files = json.loads((path / MANIFEST).read_text())["files"]
                tensors = {n[: -len(".safetensors")]: load_file(str(path / n))
                           for n in files if n.endswith(".safetensors")}
                state = json.loads((path / "state.json").read_text())
                if not isinstance(state, dict):
                    problem = f"{path / 'state.json'}: not a mapping"
                elif check is not None and (unfit := check(state)) is not None:
                    problem = f"{path.name}: {unfit}"
                else:
                    return Checkpoint(path, _seq(path), state, tensors)
            except (SafetensorError, OSError, ValueError) as err:
                # Digests match what was written, so this is a file written damaged or forged.
                problem = f"{path.name}: unreadable ({err})"
        warnings.warn(f"skipping checkpoint: {problem}", stacklevel=2)
        problems.append(problem)
    if problems:
        raise PathError(f"no intact checkpoint under {root} ({'; '.join(problems)}); nothing was deleted. Restore "
                        "a checkpoint folder, or pass --force to delete the run and start over")
    return None


def seed_everything(seed: int) -> None:
    """Seed the three RNGs a checkpoint carries (Python, NumPy, torch)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Python, NumPy and torch RNG states as (JSON, tensors)."""
    py = random.getstate()
    np_state = np.random.get_state()
    return (
        {"python": [py[0], list(py[1]), py[2]],
         "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]},
        {"torch": torch.get_rng_state()},
    )


def set_rng_state(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npv = state["numpy"]
    np.random.set_state((npv[0], np.array(npv[1], dtype=np.uint32), npv[2], npv[3], npv[4]))
    torch.set_rng_state(tensors["torch"])


def optimizer_to_checkpoint(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """An optimizer's state dict split into JSON (hyper-parameters) and tensors (moments)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{idx}/{k}"] = v
            else:
                scalars[f"{idx}/{k}"] = v
    return {"param_groups": sd["param_groups"], "scalars": scalars}, tensors


def optimizer_from_checkpoint(optimizer: torch.optim.Optimizer, state: dict[str, Any],
                              tensors: dict[str, torch.Tensor]) -> None:
    """Restore ``optimizer_to_checkpoint``'s output into an optimizer over the same groups."""
    saved = [len(g["params"]) for g in state["param_groups"]]
    now = [len(g["params"]) for g in optimizer.param_groups]
    if saved != now:
        # torch's own error names neither cause nor fix. A litelora that grouped the task's
        # parameters otherwise wrote it (SD-LoRA's alphas got a group of their own, say).
        raise ConfigError(f"the mid-task checkpoint's optimizer holds groups of {saved} parameters where this "
                          f"task trains groups of {now}: it was written by a litelora that grouped them "
                          "otherwise; resume from the task's start (remove the ckpt-* folders written during this task) "
                          "or start over with --force")
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *state["scalars"].items()]:
        idx, name = key.split("/", 1)
        per_param.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
