"""The benchmark registry: ``@register_benchmark("name")`` on a stream builder.

A builder takes keyword options (``seed``, ``class_order``, ``data_root`` and its own)
and returns a validated ``TaskStream``; installed packages add builders through entry points
in group ``litelora.benchmarks``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from litelora._config import _coerce
from litelora._registry import Registry
from litelora.benchmarks.stream import TaskStream
from litelora.errors import ConfigError

BENCHMARKS: Registry[TaskStream] = Registry("benchmark", group="litelora.benchmarks")

MAX_TASKS = 1000
MAX_CLASSES = 100_000
MAX_PER_CLASS = 1 << 20
MAX_SYNTHETIC_EXAMPLES = 1_000_000
# Count and size options of any builder (plugins included), bounded by name before it runs: an
# option such as num_tasks=10**9 would otherwise be generated or looped over until memory runs out.
# name -> (lowest, highest, what the highest is in words)
COUNT_OPTIONS: dict[str, tuple[int, int, str]] = {
    "num_tasks": (1, MAX_TASKS, "tasks"),
    "per_family": (1, MAX_TASKS, "tasks per family"),
    "classes_per_task": (1, MAX_CLASSES, "classes per task"),
    "train_per_class": (1, MAX_PER_CLASS, "examples per class (null: all of them)"),
    "test_per_class": (1, MAX_PER_CLASS, "examples per class (null: all of them)"),
    "test_extra": (0, MAX_PER_CLASS, "examples per class"),
    "image_size": (1, 4096, "pixels a side"),
    "sample_seed": (0, 2**32 - 1, "(2**32 - 1, as benchmark.seed)"),
}


def register_benchmark(name: str) -> Callable[[Callable[..., TaskStream]], Callable[..., TaskStream]]:
    return BENCHMARKS.register(name)


def list_benchmarks(pattern: str = "*") -> list[str]:
    return BENCHMARKS.list(pattern)


def build_benchmark(name: str, **options: Any) -> TaskStream:
    """Build benchmark ``name`` from ``options`` checked by ``check_options``."""
    return BENCHMARKS.get(name)(**check_options(name, options))


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of benchmark ``name``, typed against its builder's annotations and bounded
    (``COUNT_OPTIONS``), without building anything; an option the builder does not take, a
    wrong type or an out-of-range count is a ``ConfigError`` naming ``benchmark.options.KEY``."""
    builder = BENCHMARKS.get(name)
    params = inspect.signature(builder).parameters
    unknown = sorted(k for k in options if k not in params)
    if unknown:
        known = [p for p in params if p not in ("seed", "class_order", "data_root")]
        raise ConfigError(f"benchmark {name!r}: unknown options {unknown}; it takes {known}")
    # The builder's own options come from free-form YAML: check them against its annotations
    # (seed, class_order and data_root are typed fields of BenchmarkConfig already).
    hints = typing.get_type_hints(builder)
    checked = dict(options)
    for key, value in options.items():
        if key in hints and key not in ("seed", "class_order", "data_root"):
            checked[key] = _coerce(hints[key], value, f"benchmark.options.{key}")
    for key, (low, high, unit) in COUNT_OPTIONS.items():
        value = checked.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise ConfigError(f"benchmark.options.{key} must be between {low} and {high} {unit}, got {value}")
    return checked


def check_synthetic_size(name: str, num_classes: int, per_class: int) -> None:
    """A generated stream holds at most ``MAX_SYNTHETIC_EXAMPLES`` examples (each count is
    bounded alone, but their product is what is generated)."""
    total = num_classes * per_class
    if total > MAX_SYNTHETIC_EXAMPLES:
        raise ConfigError(f"benchmark {name!r}: {num_classes} classes x {per_class} examples = {total} examples "
                          f"to generate, above {MAX_SYNTHETIC_EXAMPLES}; lower benchmark.options.num_tasks, "
                          "classes_per_task, train_per_class or test_per_class")
