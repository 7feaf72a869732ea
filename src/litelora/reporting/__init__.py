"""Run directories: config, events, accuracy matrix and results, written atomically."""

from litelora.reporting.run_dir import ReadOnlyRunDirectory, RunDirectory, RunLock, environment_info

__all__ = ["ReadOnlyRunDirectory", "RunDirectory", "RunLock", "environment_info"]
