"""A finished run's stream with more test examples per class, for scoring its final model on a
larger test set (``litelora eval RUN_DIR --test-extra N``).

The benchmark's ``test_extra`` option draws the extras from past the training examples of each
class, so the run's training data and its own test examples stay where they were. Before any
extra is scored this checks that the data installed now are those the run trained on (its
``run.json`` digests) and that rebuilding moved none of them; an extra whose text is any task's
training text, or already in the task's test set, is dropped (real corpora hold duplicates).
"""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import replace

from litelora.benchmarks import BENCHMARKS, Example, TaskStream
from litelora.benchmarks.registry import MAX_PER_CLASS
from litelora.errors import ConfigError
from litelora.reporting import RunDirectory
from litelora.training.build import build_stream
from litelora.training.config import RunConfig
from litelora.training.run_identity import read_identity, stream_changes, stream_fingerprint


def check_trained_data(run_dir: RunDirectory, stream: TaskStream, *, required: bool) -> None:
    """Refuse ``stream`` where its data differ from what the run recorded in ``run.json``; a run
    without the record passes unless ``required``."""
    identity = read_identity(run_dir)
    if identity is None:
        if required:
            raise ConfigError(f"--test-extra: {run_dir.root} has no run.json recording the data it trained on, so "
                              "extra test examples cannot be shown to be new to it; score it without --test-extra")
        return
    changed = stream_changes(identity["stream"], stream_fingerprint(stream))
    if changed:
        raise ConfigError(f"{run_dir.root}: the task stream's {', '.join(changed)} differ from what the run trained "
                          "on (run.json): the installed data or the benchmark changed since; restore them to score "
                          "this run")


def with_extra_test(run_dir: RunDirectory, config: RunConfig, stream: TaskStream, extra: int
                    ) -> tuple[TaskStream, list[str]]:
    """``stream`` (the run's, as ``load_run`` rebuilt it) with up to ``extra`` more test examples
    per class added to its tasks' test sets in place, and notes on classes that got fewer (too few
    examples left, or duplicates dropped)."""
    if not 1 <= extra <= MAX_PER_CLASS:
        raise ConfigError(f"--test-extra must be between 1 and {MAX_PER_CLASS} (examples per class), got {extra}")
    name = config.benchmark.name
    if "test_extra" not in inspect.signature(BENCHMARKS.get(name)).parameters:
        raise ConfigError(f"--test-extra: benchmark {name!r} cannot add test examples (its builder takes no "
                          "test_extra option); score the run on its own test set")
    check_trained_data(run_dir, stream, required=True)
    options = dict(config.benchmark.options)
    options["test_extra"] = int(options.get("test_extra") or 0) + extra
    bigger = build_stream(replace(config, benchmark=replace(config.benchmark, options=options)))
    if [t.name for t in bigger.tasks] != [t.name for t in stream.tasks]:
        raise ConfigError("--test-extra: the rebuilt stream has other tasks than the run's")
    trained = {ex.input for task in stream.tasks for ex in task.train}
    notes = []
    for old, new in zip(stream.tasks, bigger.tasks):
        if _pairs(new.train) != _pairs(old.train) or Counter(_pairs(old.test)) - Counter(_pairs(new.test)):
            raise ConfigError(f"--test-extra: task {old.name}'s training or test examples move when test examples "
                              f"are added; benchmark {name!r} cannot score this run on more")
        kept = _new_examples(old.test, new.test, trained)
        got = Counter(ex.label for ex in kept)
        short = {c: got[c] for c in old.classes if got[c] < extra}
        if short:
            notes.append(f"task {old.name}: classes {sorted(short)} got {sorted(set(short.values()))} of {extra} extra "
                         "test examples (no more past the training ones, or duplicates of a training or test text)")
        old.test = list(old.test) + kept
    return stream, notes


def _pairs(examples: list[Example]) -> list[tuple[str, int]]:
    return [(ex.input, ex.label) for ex in examples]


def _new_examples(own: list[Example], rebuilt: list[Example], trained: set[str]) -> list[Example]:
    """The examples ``rebuilt`` holds beyond ``own`` (a multiset difference, in order), less any
    whose text was trained on or is already in the test set."""
    left = Counter(_pairs(own))
    seen = {ex.input for ex in own}
    kept = []
    for ex in rebuilt:
        if left[(ex.input, ex.label)] > 0:
            left[(ex.input, ex.label)] -= 1
        elif ex.input not in trained and ex.input not in seen:
            seen.add(ex.input)
            kept.append(ex)
    return kept
