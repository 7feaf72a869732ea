"""Efficiency and reporting helpers: adapter counts, parameter bytes, seed statistics.

Pure arithmetic on numbers the caller already has; nothing here touches a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from litelora.errors import DataError


def adapter_reduction(active: int, host_adapters: int) -> float:
    """Fraction of the host's adapters saved, in [0, 1]: ``1 - active / host_adapters``.

    ``host_adapters`` is what the host alone would have kept: one adapter per task per target
    module, less any the host's own design removed (InfLoRA drops a candidate whose inputs carry no
    energy off its memory), so a gate is credited only with what it closed. 0.0 when every task
    recruited at every module the host filled, approaching 1.0 as more are reused.
    """
    if host_adapters <= 0:
        raise DataError(f"adapter_reduction needs host_adapters > 0, got {host_adapters}")
    if active < 0 or active > host_adapters:
        raise DataError(f"active adapters must be in [0, {host_adapters}], got {active}")
    return 1.0 - active / host_adapters


def parameter_bytes(num_params: int, dtype: torch.dtype) -> int:
    """Storage of ``num_params`` elements of ``dtype``, in bytes (``num_params * itemsize``)."""
    if not isinstance(dtype, torch.dtype):
        raise DataError(f"dtype must be a torch.dtype, got {dtype!r}")
    if num_params < 0:
        raise DataError(f"num_params must be >= 0, got {num_params}")
    return int(num_params) * dtype.itemsize


def aggregate_seeds(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (ddof=1) and count of one metric over seeds.

    Returns ``{"mean": ..., "std": ..., "n": ...}`` in the metric's own units; ``std``
    is 0.0 for a single value, where a sample deviation is undefined.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"aggregate_seeds needs a sequence of numbers: {exc}") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"aggregate_seeds needs a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"aggregate_seeds needs finite values, got {arr.tolist()}")
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(np.mean(arr)), "std": std, "n": int(arr.size)}
