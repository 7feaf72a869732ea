"""Text benchmarks built from packaged real data (and a synthetic one for tests)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from litelora.benchmarks.registry import check_synthetic_size, register_benchmark
from litelora.benchmarks.scenarios import split_by_class
from litelora.benchmarks.sources import load_wordnet_supersenses
from litelora.benchmarks.stream import Example, TaskStream
from litelora.errors import DataError

# The data split is fixed across seeds so that seeds vary only the class order.
SPLIT_SEED = 1234


def train_test_split(
    examples: Sequence[Example], train_per_class: int, test_per_class: int, *, what: str, test_extra: int = 0
) -> tuple[list[Example], list[Example]]:
    """Per class: ``test_per_class`` test examples, then up to ``train_per_class`` training ones,
    then up to ``test_extra`` more test examples (appended after every class's first ones).

    The extras come from past the training examples, so raising ``test_extra`` changes neither
    the training data nor the first test examples: a finished run can be scored on a larger test
    set (``litelora eval RUN_DIR --test-extra N``)."""
    by_class: dict[int, list[Example]] = defaultdict(list)
    for ex in examples:
        by_class[ex.label].append(ex)
    rng = random.Random(SPLIT_SEED)
    train, test, extra = [], [], []
    for label in sorted(by_class):
        pool = list(by_class[label])
        rng.shuffle(pool)
        if len(pool) <= test_per_class:
            raise DataError(f"{what}: class {label} has {len(pool)} examples, fewer than test_per_class + 1")
        test += pool[:test_per_class]
        train += pool[test_per_class : test_per_class + train_per_class]
        extra += pool[test_per_class + train_per_class : test_per_class + train_per_class + test_extra]
    return train, test + extra


@register_benchmark("wordnet-supersenses")
def wordnet_supersenses(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    num_tasks: int = 5, classes_per_task: int = 4, train_per_class: int = 120, test_per_class: int = 60,
    scenario: str = "cil", test_extra: int = 0,
) -> TaskStream:
    """WordNet 3.0 noun glosses -> supersense (noun.animal, noun.food, ...): the offline default.

    Data: Debian ``wordnet-base`` (or NLTK's copy, or ``data_root`` holding ``data.noun``).
    ``test_extra``: more test examples per class, past the training ones (``train_test_split``).
    """
    examples, names = load_wordnet_supersenses(data_root)
    train, test = train_test_split(examples, train_per_class, test_per_class, what="wordnet-supersenses",
                                   test_extra=test_extra)
    stream = split_by_class(
        train, test, names, name="wordnet-supersenses", classes_per_task=classes_per_task, num_tasks=num_tasks,
        seed=seed, class_order=class_order, scenario=scenario,  # type: ignore[arg-type]
    )
    stream.meta.update(train_per_class=train_per_class, test_per_class=test_per_class, source="WordNet 3.0 data.noun")
    return stream


@register_benchmark("tiny-text")
def tiny_text(
    seed: int | None = 0, class_order: list[int] | None = None, data_root: str | None = None,
    num_tasks: int = 3, classes_per_task: int = 2, train_per_class: int = 24, test_per_class: int = 8,
    scenario: str = "cil",
) -> TaskStream:
    """Synthetic sentences whose class shows in its keywords: a seconds-long test stream."""
    rng = random.Random(SPLIT_SEED)
    num_classes = num_tasks * classes_per_task
    check_synthetic_size("tiny-text", num_classes, train_per_class + test_per_class)
    filler = [f"w{i}" for i in range(30)]
    examples = []
    for c in range(num_classes):
        keywords = [f"class{c}word{k}" for k in range(4)]
        for _ in range(train_per_class + test_per_class):
            words = rng.sample(keywords, 2) + rng.sample(filler, 4)
            rng.shuffle(words)
            examples.append(Example(" ".join(words), c))
    train, test = train_test_split(examples, train_per_class, test_per_class, what="tiny-text")
    return split_by_class(
        train, test, [f"class{c}" for c in range(num_classes)], name="tiny-text", classes_per_task=classes_per_task,
        num_tasks=num_tasks, seed=seed, class_order=class_order, scenario=scenario,  # type: ignore[arg-type]
    )
