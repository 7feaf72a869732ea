"""Atomic file writes: a reader never sees a half-written file."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from litelora.errors import DataError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success fsync it and rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with named_os_errors(path):
            yield tmp_path
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


_SAFETENSORS_OS_ERROR = re.compile(r"\(os error (\d+)\)")


@contextmanager
def named_os_errors(path: str | os.PathLike[str], staging: Path | None = None) -> Iterator[None]:
    """An ``OSError`` raised without a file name (a ``write`` into a full disk), or an OS error
    safetensors reports as a ``SafetensorError`` (``... (os error 28) at path <its temp file>``,
    from a transformers ``save_pretrained``), becomes an ``OSError`` naming ``path``: the file
    being written, not the temp file it is written through. One naming a file in the folder
    ``staging`` names the same file under ``path`` instead."""
    try:
        yield
    except OSError as err:
        if err.errno is None:
            raise
        name = Path(path)
        if err.filename is not None:
            if staging is None or not Path(err.filename).is_relative_to(staging):
                raise
            name = name / Path(err.filename).relative_to(staging)
        raise OSError(err.errno, err.strerror, str(name)) from None
    except SafetensorError as err:
        found = _SAFETENSORS_OS_ERROR.search(str(err))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(path)) from None


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temp folder beside ``path``; on success it replaces ``path`` as a whole
    (an existing folder is moved aside first and deleted after), so ``path`` never holds a mix of
    old and new files or a partial write. On failure ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        with named_os_errors(path, staging=tmp):
            yield tmp
            for f in tmp.rglob("*"):
                if f.is_file() and not f.is_symlink():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        if path.is_dir() and any(path.iterdir()):
            # rename() cannot replace a non-empty folder: move the old one aside, then drop it.
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)  # an empty folder is replaced atomically
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def append_jsonl(path: str | os.PathLike[str], obj: Any) -> None:
    """Append one JSON line (a torn last line is tolerated by ``read_jsonl``)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(obj, default=_json_default) + "\n")
        fh.flush()


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Every line that parses; a torn line (a run killed mid-write, then resumed and appended
    to) is skipped, not the end of the file."""
    out = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError):
            continue
    return out


def save_tensors(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Safetensors, written atomically; tensors are made contiguous CPU copies."""
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        write_safetensors(tmp, data, metadata, name=path)


def write_safetensors(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str] | None = None, name: str | os.PathLike[str] | None = None) -> None:
    """``tensors`` (contiguous, on the CPU) as a safetensors file at ``path``, fsynced; a failed
    write is an ``OSError`` naming ``name`` (default ``path``).

    Serialised in memory and written here, so the error is Python's own: safetensors' writer
    reports a failed write as a ``SafetensorError`` naming a temp file of its own.
    """
    blob = save(tensors, metadata=metadata or {"format": "pt"})
    with named_os_errors(name or path), open(path, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())


def load_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors on the CPU; a damaged file is a ``DataError`` naming it.

    The header (names, shapes, offsets) is checked against the file size by safetensors before
    any tensor is allocated, so a forged header cannot ask for more memory than the file holds.
    """
    try:
        return load_file(str(path), device="cpu")
    except SafetensorError as err:
        raise DataError(f"{path}: not a readable safetensors file ({err}); restore or re-export it") from None


def check_tensor(tensors: dict[str, torch.Tensor], key: str, shape: tuple[int, ...], where: str) -> torch.Tensor:
    """``tensors[key]``, required to exist, to have exactly ``shape`` and finite floating values."""
    if key not in tensors:
        raise DataError(f"{where}: tensor {key!r} is missing")
    t = tensors[key]
    if tuple(t.shape) != tuple(shape):
        raise DataError(f"{where}: tensor {key!r} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    if not t.is_floating_point():
        raise DataError(f"{where}: tensor {key!r} has dtype {t.dtype}, expected a floating-point type")
    if not bool(torch.isfinite(t).all()):
        raise DataError(f"{where}: tensor {key!r} holds NaN or infinite values")
    return t


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
