"""Run directories: config, events, accuracy matrix and results, written atomically."""

from litelora.reporting.run_dir import RunDirectory, environment_info

__all__ = ["RunDirectory", "environment_info"]
