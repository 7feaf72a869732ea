"""Paths confined to a directory: what litelora reads or writes inside a run directory never
leaves it, whatever links or names a damaged or hostile folder holds."""

from __future__ import annotations

import os
import re
from pathlib import Path

from litelora.errors import PathError

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def plain_name(name: object, what: str) -> str:
    """``name`` if it is one plain file name (no separator, no ``..``, not hidden), else ``PathError``."""
    if not isinstance(name, str) or _PLAIN.fullmatch(name) is None or ".." in name:
        raise PathError(f"{what}: {name!r} is not a plain file name; the file may have been tampered with")
    return name


def confined(root: str | os.PathLike[str], *parts: str) -> Path:
    """``root/parts...``, refusing any part that is absolute or ``..``, or that exists as a
    symbolic link: litelora never follows a link inside a directory it owns.

    ``root`` itself may be a link (the user named it).
    """
    path = Path(root)
    for part in parts:
        for piece in Path(part).parts:
            if piece in ("..", ".") or Path(piece).is_absolute():
                raise PathError(f"{Path(root) / part}: {piece!r} would leave {root}")
            path = path / piece
            if path.is_symlink():
                raise PathError(f"{path} is a symbolic link; files inside {root} must be its own (remove the link "
                                "and restore the file, or start the run over)")
    return path


def refuse_inside(out: str | os.PathLike[str], run: str | os.PathLike[str], verb: str,
                  allowed: str | None = None, *, is_file: bool = False, replaces: bool = False) -> None:
    """Refuse an output ``out`` that would write over the run directory ``run`` a command reads
    (``PathError``): ``run`` itself or anything inside it other than the ``allowed`` sub-folder
    (the command's own output there, as ``report/``); with ``replaces`` (an output folder that is
    swapped in whole) also a folder holding the run. ``is_file``: ``out`` is a file, and the files
    written beside it go to its folder. Links are resolved first, so a link to the run is the run."""
    root = Path(run).resolve()
    folder = Path(out).resolve().parent if is_file else Path(out).resolve()
    if (folder == root and not is_file) or (replaces and folder in root.parents):
        raise PathError(f"{out} holds the run being {verb}; write to another folder")
    if folder == root or root in folder.parents:
        own = root / allowed if allowed else None
        if own is None or not (folder == own or own in folder.parents):
            default = f" (or leave the default, {Path(run) / allowed})" if allowed else ""
            raise PathError(f"{out} is inside the run being {verb} ({run}); write to a folder outside it{default}")
