"""Run directories: config, events, accuracy matrix and results, written atomically."""

from litelora.reporting.environment import environment_info
from litelora.reporting.run_dir import ReadOnlyRunDirectory, RunDirectory, RunLock

__all__ = ["ReadOnlyRunDirectory", "RunDirectory", "RunLock", "environment_info"]
