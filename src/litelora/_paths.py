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
