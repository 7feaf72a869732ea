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


def register_benchmark(name: str) -> Callable[[Callable[..., TaskStream]], Callable[..., TaskStream]]:
    return BENCHMARKS.register(name)


def list_benchmarks(pattern: str = "*") -> list[str]:
    return BENCHMARKS.list(pattern)


def build_benchmark(name: str, **options: Any) -> TaskStream:
    """Build benchmark ``name``; an option the builder does not take is a ``ConfigError``."""
    builder = BENCHMARKS.get(name)
    params = inspect.signature(builder).parameters
    unknown = sorted(k for k in options if k not in params)
    if unknown:
        known = [p for p in params if p not in ("seed", "class_order", "data_root")]
        raise ConfigError(f"benchmark {name!r}: unknown options {unknown}; it takes {known}")
    # The builder's own options come from free-form YAML: check them against its annotations
    # (seed, class_order and data_root are typed fields of BenchmarkConfig already).
    hints = typing.get_type_hints(builder)
    for key, value in options.items():
        if key in hints and key not in ("seed", "class_order", "data_root"):
            options[key] = _coerce(hints[key], value, f"benchmark.options.{key}")
    return builder(**options)
