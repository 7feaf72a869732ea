"""Task streams and the benchmark registry (no adapters, methods or gates here)."""

from litelora.benchmarks import (  # noqa: F401  (registration)
    families,
    files,
    multidomain,
    planted,
    text,
    vision,
    vision_folders,
)
from litelora.benchmarks.registry import BENCHMARKS, build_benchmark, list_benchmarks, register_benchmark
from litelora.benchmarks.scenarios import split_by_class
from litelora.benchmarks.stream import Example, Task, TaskStream

__all__ = [
    "BENCHMARKS",
    "Example",
    "Task",
    "TaskStream",
    "build_benchmark",
    "list_benchmarks",
    "register_benchmark",
    "split_by_class",
]
