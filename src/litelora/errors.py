"""Exceptions raised by litelora. Every user-facing failure is a ``LiteLoraError``."""

from __future__ import annotations


class LiteLoraError(Exception):
    """Base class: a problem the user can fix; the message names the field and the fix."""


class ConfigError(LiteLoraError, ValueError):
    """A config field has a bad value, type or name."""


class TargetError(LiteLoraError, ValueError):
    """Target-module patterns matched nothing usable."""


class AdapterError(LiteLoraError, KeyError):
    """An adapter, task or target that does not exist (or already exists)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class DataError(LiteLoraError, ValueError):
    """A data set, record or task stream is malformed."""


class NonFiniteError(LiteLoraError, FloatingPointError):
    """A loss or gradient became NaN or infinite; the run stopped at its last checkpoint."""


class PathError(LiteLoraError, ValueError):
    """A path that would leave the directory it belongs to (a symbolic link, ``..``, an absolute
    name), or a run directory that cannot be used as asked (not empty, no intact checkpoint)."""
