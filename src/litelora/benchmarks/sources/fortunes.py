"""Fortune cookies labelled by their category file (Debian ``fortunes``: 43 files, 15,218 fortunes).

A category is one plain-text file of fortunes separated by lines holding only ``%``; the
``.dat`` index files beside them (made by ``strfile``) and ``.u8`` links are not read.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from litelora.benchmarks.sources.text_packages import read_text_lenient
from litelora.benchmarks.stream import Example
from litelora.errors import ConfigError, DataError

ENV_VAR = "LITELORA_FORTUNES_DIR"
INSTALL_HINT = "`apt-get install fortunes` (Debian/Ubuntu)"

# Searched after LITELORA_FORTUNES_DIR: Debian/Ubuntu, then the other common packagings.
SYSTEM_DIRS: tuple[str, ...] = (
    "/usr/share/games/fortunes",
    "/usr/share/fortune",
    "/usr/local/share/games/fortunes",
    "/opt/homebrew/share/games/fortunes",
)

# Some fortunes underline or embolden by overstriking: "_\bA" prints A underlined.
_OVERSTRIKE = re.compile(r".\x08")


def fortunes_search_dirs() -> list[Path]:
    """The folders searched for category files when no ``data_root`` is given, in order."""
    env = os.environ.get(ENV_VAR)
    dirs = [Path(env).expanduser()] if env else []
    return dirs + [Path(d) for d in SYSTEM_DIRS]


def find_fortunes_dir(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of fortune category files: ``data_root`` if given, else the first search folder found."""
    candidates = [Path(data_root).expanduser()] if data_root is not None else fortunes_search_dirs()
    for folder in candidates:
        if folder.is_dir() and list_categories(folder):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(
        f"no fortune files found; looked in: {looked}. Fix: {INSTALL_HINT}, or set {ENV_VAR} "
        f"(or the loader's data_root) to a folder of '%'-separated fortune files"
    )


def list_categories(folder: Path) -> list[str]:
    """Category names in ``folder``: regular files without a suffix (``food``, ``songs-poems``), sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.is_symlink() and not p.suffix)


def parse_fortunes(text: str) -> list[str]:
    """The fortunes of one category file, whitespace collapsed, empty ones dropped, in file order."""
    entries, current = [], []
    for line in _OVERSTRIKE.sub("", text).splitlines():
        if line.strip() == "%":
            entries.append(" ".join(current))
            current = []
        else:
            current.extend(line.split())
    entries.append(" ".join(current))  # a file need not end with '%'
    return [e for e in entries if e]


def load_fortunes(
    data_root: str | os.PathLike[str] | None = None, categories: Sequence[str] | None = None
) -> tuple[list[Example], list[str]]:
    """Fortunes labelled with their category, labels in the order of ``categories`` (default: all, sorted).

    Duplicates are removed: a text repeated within a category is kept once, and a text
    found in two of the chosen categories is dropped, so no example carries two labels.
    """
    folder = find_fortunes_dir(data_root)
    available = list_categories(folder)
    names = list(categories) if categories is not None else available
    missing = [c for c in names if c not in available]
    if missing:
        raise ConfigError(f"fortune categories {missing} are not in {folder}; it holds {available}")
    if len(set(names)) != len(names):
        raise ConfigError(f"fortune categories must be distinct, got {names}")
    texts: dict[str, list[str]] = {}
    owners: dict[str, set[int]] = defaultdict(set)
    for label, name in enumerate(names):
        texts[name] = list(dict.fromkeys(parse_fortunes(read_text_lenient(folder / name))))
        for text in texts[name]:
            owners[text].add(label)
    examples = [
        Example(text, label) for label, name in enumerate(names) for text in texts[name] if len(owners[text]) == 1
    ]
    return examples, names

