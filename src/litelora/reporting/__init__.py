"""Run directories: config, events, accuracy matrix and results, written atomically."""

from litelora.reporting.run_dir import RunDirectory, RunLock, environment_info

__all__ = ["RunDirectory", "RunLock", "environment_info"]
