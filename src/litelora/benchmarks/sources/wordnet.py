"""WordNet 3.0 supersenses: classify a synset's gloss by its lexicographer file."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from litelora.benchmarks.stream import Example
from litelora.errors import ConfigError, DataError

# The standard lexicographer file names (``man 5 lexnames``), indexed by lex_filenum.
LEXNAMES: tuple[str, ...] = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
    "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body",
    "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)

ENV_VAR = "LITELORA_WORDNET_DIR"
POS_CHOICES: tuple[str, ...] = ("noun", "verb")

# Searched after LITELORA_WORDNET_DIR: the Debian ``wordnet-base`` folder, then NLTK's
# default data folders (``nltk.downloader`` unzips the same WordNet 3.0 files there).
SYSTEM_DIRS: tuple[str, ...] = (
    "/usr/share/wordnet",
    "~/nltk_data/corpora/wordnet",
    "/usr/share/nltk_data/corpora/wordnet",
    "/usr/local/share/nltk_data/corpora/wordnet",
)


def wordnet_search_dirs() -> list[Path]:
    """The folders searched for ``data.<pos>`` when no path is given, in order."""
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser())
    # NLTK itself honours NLTK_DATA, so a user who set it for NLTK is found here too.
    for root in os.environ.get("NLTK_DATA", "").split(os.pathsep):
        if root:
            dirs.append(Path(root).expanduser() / "corpora" / "wordnet")
    dirs.extend(Path(d).expanduser() for d in SYSTEM_DIRS)
    return dirs


def find_wordnet_file(path: str | os.PathLike[str] | None = None, pos: str = "noun") -> Path:
    """Locate ``data.<pos>``: ``path`` (the file or its folder), else the search folders."""
    if pos not in POS_CHOICES:
        raise ConfigError(f"pos must be one of {POS_CHOICES}, got {pos!r}")
    filename = f"data.{pos}"
    if path is not None:
        given = Path(path).expanduser()
        candidates = [given] if given.is_file() or given.name == filename else [given / filename]
    else:
        candidates = [d / filename for d in wordnet_search_dirs()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates) or "(nowhere)"
    raise DataError(
        f"WordNet file {filename} not found; looked in: {looked}. Fix: `apt-get install wordnet-base`, "
        f"or `python -m nltk.downloader wordnet` then set {ENV_VAR} to the folder holding "
        f"{filename} (e.g. ~/nltk_data/corpora/wordnet), or pass path= to the loader"
    )


def clean_gloss(gloss: str) -> str:
    """The definition part of a gloss: usage examples (``; "..."``) and padding removed."""
    # Examples always follow the definitions, so everything from the first one on goes;
    # cutting there also copes with the few examples whose closing quote is missing.
    definition, _, _ = gloss.partition('; "')
    return definition.strip().rstrip(";").strip()


def load_wordnet_supersenses(
    path: str | os.PathLike[str] | None = None, pos: str = "noun", min_per_class: int = 100
) -> tuple[list[Example], list[str]]:
    """Glosses labelled with their supersense (lexicographer file), in file order.

    Classes with fewer than ``min_per_class`` glosses are dropped; the rest are relabelled
    0..K-1 in ascending lex_filenum, and ``class_names[k]`` is e.g. ``"noun.animal"``.
    """
    file = find_wordnet_file(path, pos)
    raw: list[tuple[str, int]] = []
    with open(file, encoding="utf-8", errors="replace") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.startswith("  "):  # licence header
                continue
            if not line.strip():
                continue
            raw.append(_parse_line(line, file, lineno))
    if not raw:
        raise DataError(f"{file}: no synset lines found (is this a WordNet data.{pos} file?)")
    counts = Counter(lex for _, lex in raw)
    kept = sorted(lex for lex, n in counts.items() if n >= min_per_class)
    if not kept:
        raise DataError(
            f"{file}: no supersense has at least min_per_class={min_per_class} glosses "
            f"(largest has {max(counts.values())}); lower min_per_class"
        )
    remap = {lex: new for new, lex in enumerate(kept)}
    examples = [Example(text, remap[lex]) for text, lex in raw if lex in remap]
    return examples, [LEXNAMES[lex] for lex in kept]


def _parse_line(line: str, file: Path, lineno: int) -> tuple[str, int]:
    head, sep, gloss = line.partition(" | ")
    fields = head.split(" ", 2)
    where = f"{file}, line {lineno}"
    if not sep or len(fields) < 3 or not fields[1].isdigit():
        raise DataError(f"{where}: expected 'offset lex_filenum ss_type ... | gloss', got {line[:80]!r}")
    lex = int(fields[1])
    if lex >= len(LEXNAMES):
        raise DataError(f"{where}: lex_filenum {lex} is outside 0..{len(LEXNAMES) - 1}")
    text = clean_gloss(gloss)
    if not text:
        raise DataError(f"{where}: the gloss has no definition text")
    return text, lex
