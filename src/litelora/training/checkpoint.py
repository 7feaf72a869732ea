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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

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
    final = root / f"{PREFIX}{seq:08d}"
    tmp = root / f".tmp-{PREFIX}{seq:08d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    files = {}
    for group, tensor_dict in tensors.items():
        name = f"{group}.safetensors"
        data = {k: v.detach().to("cpu").contiguous() for k, v in tensor_dict.items()}
        save_file(data, str(tmp / name), metadata={"format": "pt"})
        with open(tmp / name, "rb") as fh:
            os.fsync(fh.fileno())
        files[name] = _sha256(tmp / name)
    _fsync_write(tmp / "state.json", json.dumps(state).encode())
    files["state.json"] = _sha256(tmp / "state.json")
    _fsync_write(tmp / MANIFEST, json.dumps({"seq": seq, "files": files}).encode())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    for old in sorted(root.glob(f"{PREFIX}*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify(path: Path) -> str | None:
    """``None`` when the checkpoint is complete and intact, else what is wrong with it."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return f"{path.name}: no {MANIFEST} (incomplete checkpoint)"
    try:
        files = json.loads(manifest.read_text())["files"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return f"{manifest}: unreadable manifest"
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            return f"{f}: missing"
        if _sha256(f) != digest:
            return f"{f}: checksum mismatch (file damaged)"
    return None


def load_latest(root: Path) -> Checkpoint | None:
    """The newest intact checkpoint under ``root`` (warning about each damaged one), or None."""
    if not root.is_dir():
        return None
    for path in sorted(root.glob(f"{PREFIX}*"), reverse=True):
        problem = verify(path)
        if problem is not None:
            warnings.warn(f"skipping checkpoint: {problem}", stacklevel=2)
            continue
        files = json.loads((path / MANIFEST).read_text())["files"]
        tensors = {n[: -len(".safetensors")]: load_file(str(path / n)) for n in files if n.endswith(".safetensors")}
        state = json.loads((path / "state.json").read_text())
        return Checkpoint(path, int(path.name[len(PREFIX):]), state, tensors)
    return None


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
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *state["scalars"].items()]:
        idx, name = key.split("/", 1)
        per_param.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
