"""``families``: a text stream whose tasks come in recurring families (topic, sentiment, ...).

The claim a gate is judged by is that a later task can reuse what an earlier task of its kind
learned. This stream makes that testable on real data: every family recurs (a second task of
the kind, separated from the first by other families), and one task is a verbatim repeat of the
stream's first task under another name, the case where nothing new needs to be learned at all.
Each task's family is recorded on the task (``stream.json``: ``tasks[i].family``) and in
``meta["families"]``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from litelora.benchmarks.multidomain import _assemble, _cap
from litelora.benchmarks.registry import register_benchmark
from litelora.benchmarks.sources import (
    load_bbc_news,
    load_fortunes,
    load_olora_task,
    load_rotten_tomatoes,
    load_spam_assassin,
    load_wordnet_supersenses,
)
from litelora.benchmarks.stream import Example, TaskStream
from litelora.benchmarks.text import train_test_split
from litelora.errors import ConfigError, DataError

REPEAT_SUFFIX = "-repeat"


@dataclass(frozen=True)
class FamilyTask:
    """One task of the ``families`` catalog.

    ``labels`` maps each label word the task uses (what a generative model answers) to the
    source classes pooled into it. ``half`` (0 or 1) keeps every other example of each class,
    so two tasks over the same classes of one source see disjoint examples. ``source``
    ``olora:<task>`` reads that task folder of the O-LoRA data root (``data_root``).
    """

    name: str
    family: str
    source: str
    labels: Mapping[str, tuple[str, ...]]
    half: int | None = None

    @property
    def needs_data_root(self) -> bool:
        return self.source.startswith("olora:")


def _same(*names: str) -> dict[str, tuple[str, ...]]:
    return {n: (n,) for n in names}


def _noun(*names: str) -> dict[str, tuple[str, ...]]:
    # Label words without WordNet's "noun." prefix, so a language model answers "animal".
    return {n: (f"noun.{n}",) for n in names}


# Within a family, catalog order is the order of first use; the O-LoRA tasks come last so the
# stream built from installed data alone is the same with or without them.
FAMILY_TASKS: tuple[FamilyTask, ...] = (
    FamilyTask("bbc-topics-a", "topic", "bbc", _same("business", "politics", "tech")),
    FamilyTask("bbc-topics-b", "topic", "bbc", _same("entertainment", "sports")),
    FamilyTask("agnews-topics", "topic", "olora:agnews",
               _same("World", "Sports", "Business", "Science or Technology")),
    # Critics' fresh / rotten verdicts as the words a model knows; the halves share no snippet.
    FamilyTask("rt-sentiment-a", "sentiment", "rt", {"positive": ("fresh",), "negative": ("rotten",)}, half=0),
    FamilyTask("rt-sentiment-b", "sentiment", "rt", {"positive": ("fresh",), "negative": ("rotten",)}, half=1),
    FamilyTask("amazon-sentiment", "sentiment", "olora:amazon",
               _same("very negative", "negative", "neutral", "positive", "very positive")),
    FamilyTask("supersense-a", "supersense", "wordnet", _noun("animal", "food", "artifact")),
    FamilyTask("supersense-b", "supersense", "wordnet", _noun("person", "location", "feeling")),
    FamilyTask("spam-or-ham-a", "spam", "spam", _same("ham", "spam"), half=0),
    FamilyTask("spam-or-ham-b", "spam", "spam", _same("ham", "spam"), half=1),
    FamilyTask("fortunes-topics-a", "fortunes", "fortunes", _same("food", "law", "education")),
    FamilyTask("fortunes-topics-b", "fortunes", "fortunes", _same("drugs", "science", "work")),
)
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(t.family for t in FAMILY_TASKS))
# Pip and apt data that the default benchmark already needs (WordNet): no npm, no extra apt package.
DEFAULT_FAMILIES: tuple[str, ...] = ("topic", "sentiment", "supersense")


def _fortune_categories() -> list[str]:
    return [c for t in FAMILY_TASKS if t.source == "fortunes" for cs in t.labels.values() for c in cs]


POOLED_SOURCES: dict[str, Callable[[], tuple[list[Example], list[str]]]] = {
    "bbc": load_bbc_news,
    "rt": load_rotten_tomatoes,
    "wordnet": load_wordnet_supersenses,
    "spam": load_spam_assassin,
    "fortunes": lambda: load_fortunes(categories=_fortune_categories()),
}


def family_order(names: Sequence[str], family_of: Mapping[str, str], seed: int | None,
                 repeat: bool) -> list[str]:
    """``names`` (and, with ``repeat``, ``<first>-repeat``) ordered so that no two neighbours
    share a family. Seed 0 or ``None``: round-robin over the families in the order of ``names``;
    seed k: a random such order drawn from k, whose first task is of the (k mod F)-th family, so
    seeds 0, 1, 2 start with three different families. The repeat duplicates the order's first
    task and is deferred at every step, so it lands at or next to the end. ``ConfigError`` when
    no such order exists."""
    rng = None if seed in (None, 0) else random.Random(seed)
    order_of_families = list(dict.fromkeys(family_of[n] for n in names))
    first_family = order_of_families[(seed or 0) % len(order_of_families)] if order_of_families else None
    placed: list[str] = []
    last_seen: dict[str, int] = {}

    def family(name: str) -> str:
        return family_of[placed[0]] if name == REPEAT_SUFFIX else family_of[name]

    def candidates(left: list[str]) -> list[str]:
        if not placed:
            pool = [n for n in left if n != REPEAT_SUFFIX and family_of[n] == first_family]
        else:
            pool = [n for n in left if family(n) != family(placed[-1])]
        if rng is not None:
            rng.shuffle(pool)
        else:  # the family unseen longest first, then catalog order (stable sort)
            pool.sort(key=lambda n: last_seen.get(family(n), -1))
        # The repeat is tried last at every step, so it lands as late as a valid order allows.
        return sorted(pool, key=lambda n: n == REPEAT_SUFFIX)

    def feasible(left: list[str]) -> bool:
        # A family with more than half the remaining slots (rounded up) must end up adjacent to itself.
        counts = Counter(family(n) for n in left if n != REPEAT_SUFFIX or placed)
        return not counts or max(counts.values()) <= (len(left) + 1) // 2

    def search(left: list[str]) -> bool:
        if not left:
            return True
        for name in candidates(left):
            rest = [n for n in left if n != name]
            placed.append(name)
            previous = last_seen.get(family(name))
            last_seen[family(name)] = len(placed)
            if feasible(rest) and search(rest):
                return True
            placed.pop()
            if previous is None:
                del last_seen[family(name)]
            else:
                last_seen[family(name)] = previous
        return False

    items = list(names) + ([REPEAT_SUFFIX] if repeat else [])
    if not search(items):
        counts = dict(Counter(family_of[n] for n in names))
        raise ConfigError(f"benchmark 'families': no order keeps the families apart (tasks per family {counts}); "
                          "add tasks of other families to benchmark.options.families, or drop some")
    return [placed[0] + REPEAT_SUFFIX if n == REPEAT_SUFFIX else n for n in placed]


def _chosen_tasks(families: Sequence[str], per_family: int | None, with_data_root: bool) -> list[FamilyTask]:
    """The catalog tasks of ``families``: at most ``per_family`` each, O-LoRA ones only with a data root."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or len(set(families)) != len(families) or len(families) < 2:
        raise ConfigError(f"benchmark.options.families must name at least two distinct families of {list(FAMILIES)}; "
                          f"got {list(families)}" + (f" (unknown: {unknown})" if unknown else ""))
    if per_family is not None and per_family < 2:
        raise ConfigError(f"benchmark.options.per_family must be at least 2 (a family must recur), got {per_family}")
    chosen = []
    for fam in families:
        tasks = [t for t in FAMILY_TASKS if t.family == fam and (with_data_root or not t.needs_data_root)]
        chosen += tasks[:per_family]
    return chosen


def _named_tasks(tasks: Sequence[str]) -> tuple[list[FamilyTask], dict[str, str]]:
    """Catalog tasks named in ``tasks`` (in that order) and {repeat name: original} for ``X-repeat``."""
    by_name = {t.name: t for t in FAMILY_TASKS}
    chosen, repeats = [], {}
    for k, name in enumerate(tasks):
        original = name[: -len(REPEAT_SUFFIX)] if name.endswith(REPEAT_SUFFIX) else None
        if original is not None and original in tasks[:k]:
            repeats[name] = original
            chosen.append(by_name[original])
        elif name in by_name:
            chosen.append(by_name[name])
        else:
            raise ConfigError(f"benchmark.options.tasks: {name!r} is neither a task of {list(by_name)} nor "
                              f"'<earlier task>{REPEAT_SUFFIX}'")
    if len(set(tasks)) != len(tasks) or not tasks:
        raise ConfigError(f"benchmark.options.tasks must name distinct tasks, at least one; got {list(tasks)}")
    return chosen, repeats


def _split(task: FamilyTask, pooled: Mapping[str, tuple[list[Example], list[str]]], data_root: str | None,
           train_per_class: int, test_per_class: int, test_extra: int = 0) -> tuple[list[Example], list[Example]]:
    """The task's train and test examples, labels indexing ``task.labels``."""
    words = list(task.labels)
    if task.needs_data_root:
        if data_root is None:
            raise ConfigError(f"benchmark 'families': task {task.name} reads the O-LoRA folder; set "
                              "benchmark.data_root to it (e.g. ../shared/data/olora-standard) or drop the task")
        train, test, _ = load_olora_task(data_root, task.source.split(":", 1)[1])
        index = {c: k for k, w in enumerate(words) for c in task.labels[w]}
        # O-LoRA folders carry their own split: keep it, capped per class in file order.
        return (_cap([Example(s, index[y]) for s, y in train if y in index], train_per_class),
                _cap([Example(s, index[y]) for s, y in test if y in index], test_per_class + test_extra))
    examples, names = pooled[task.source]
    missing = [c for cs in task.labels.values() for c in cs if c not in names]
    if missing:
        raise DataError(f"families/{task.name}: the {task.source} data has no classes {missing}; it has {names} "
                        "(an older or partial copy of the corpus: reinstall it)")
    index = {names.index(c): k for k, w in enumerate(words) for c in task.labels[w]}
    picked = [Example(e.input, index[e.label]) for e in examples if e.label in index]
    if task.half is not None:
        seen: Counter[int] = Counter()
        halves = []
        for e in picked:
            if seen[e.label] % 2 == task.half:
                halves.append(e)
            seen[e.label] += 1
        picked = halves
    return train_test_split(picked, train_per_class, test_per_class, what=f"families/{task.name}",
                            test_extra=test_extra)


@register_benchmark("families")
def family_stream(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    families: list[str] | None = None, per_family: int | None = None, tasks: list[str] | None = None,
    repeat: bool = True, train_per_class: int = 32, test_per_class: int = 20, scenario: str = "til",
    shared_labels: bool = False, test_extra: int = 0,
) -> TaskStream:
    """Text tasks in recurring families from real corpora: topic (BBC News), sentiment (Rotten
    Tomatoes), WordNet supersenses, spam or ham (SpamAssassin), fortunes by category; with
    ``data_root`` an O-LoRA folder, AG News joins topic and Amazon sentiment.

    ``families`` picks the families (default topic, sentiment, supersense: 7 tasks with the
    repeat), ``per_family`` caps the tasks of each. ``seed`` 0 runs them round-robin, another
    seed a seeded order in which no two neighbouring tasks share a family. ``repeat`` adds
    ``<first task>-repeat``, byte-identical data under another name, at or next to the end.
    ``tasks`` names the tasks instead, run in the order given (an ``X-repeat`` after ``X``
    repeats it). Recorded: ``meta["families"]``, ``meta["repeat_of"]``. ``test_extra``: more test
    examples per class, past the training ones (``train_test_split``; an O-LoRA task's test file
    is read further).
    """
    if class_order is not None:
        raise ConfigError("benchmark 'families': the order is over tasks; use seed (or benchmark.options.tasks)")
    if tasks is not None:
        if families is not None or per_family is not None:
            raise ConfigError("benchmark 'families': benchmark.options.tasks and families/per_family both choose "
                              "the tasks; set only one")
        chosen, repeat_of = _named_tasks(tasks)
        names = list(tasks)
    else:
        catalog = _chosen_tasks(families or list(DEFAULT_FAMILIES), per_family, data_root is not None)
        names = family_order([t.name for t in catalog], {t.name: t.family for t in catalog}, seed, repeat)
        by_name = {t.name: t for t in catalog}
        repeat_of = {n: n[: -len(REPEAT_SUFFIX)] for n in names if n not in by_name}
        chosen = [by_name[repeat_of.get(n, n)] for n in names]
    pooled = {s: POOLED_SOURCES[s]() for s in dict.fromkeys(t.source for t in chosen if not t.needs_data_root)}
    splits: dict[str, tuple[list[Example], list[Example]]] = {}
    parts = []
    for name, task in zip(names, chosen):
        if task.name not in splits:
            splits[task.name] = _split(task, pooled, data_root, train_per_class, test_per_class, test_extra)
        train, test = splits[task.name]  # a repeat reuses its original's very examples
        parts.append((name, list(train), list(test), list(task.labels)))
    stream = _assemble("families", parts, seed, scenario, shared_labels)
    for stream_task, task in zip(stream.tasks, chosen):
        stream_task.family = task.family
    stream.meta.update(task_order=names, families=[t.family for t in chosen], repeat_of=repeat_of,
                       train_per_class=train_per_class, test_per_class=test_per_class)
    return stream
