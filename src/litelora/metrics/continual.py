"""Continual-learning metrics computed from a T x T accuracy matrix.

``R[i][j]`` is the accuracy (a fraction in [0, 1]) on task ``j``'s test set after
training task ``i``, both 0-based. Entries above the diagonal (``j > i``: task ``j``
not yet learned) may hold anything, 0 or NaN included, and are never read.

Every function accepts a NumPy array or a nested list and raises
:class:`litelora.errors.DataError` when the matrix (or ``n_test`` / ``baseline``) is
malformed. Sample-weighted variants take ``n_test``: the number of test samples of
each task, so a task with a larger test set counts for more, as when all seen test
sets are pooled into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from litelora.errors import ConfigError, DataError

AccuracyMatrix = np.ndarray | Sequence[Sequence[float]]
ForgettingKind = Literal["first", "max"]

FORGETTING_KINDS = ("first", "max")


def _as_matrix(R: AccuracyMatrix) -> np.ndarray:
    """Return ``R`` as a float64 (T, T) array after checking its lower triangle."""
    try:
        arr = np.asarray(R, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        # Ragged nested lists and non-numeric entries both land here.
        raise DataError(f"accuracy matrix must be a numeric T x T array: {exc}") from exc
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise DataError(f"accuracy matrix must be square, got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise DataError("accuracy matrix must have at least one task, got shape (0, 0)")
    lower = arr[np.tril_indices(arr.shape[0])]
    if not np.all(np.isfinite(lower)):
        i, j = _first_bad(~np.isfinite(arr))
        raise DataError(
            "accuracy matrix must be finite on and below the diagonal, "
            f"got R[{i}][{j}] = {arr[i, j]}"
        )
    if np.any((lower < 0.0) | (lower > 1.0)):
        i, j = _first_bad((arr < 0.0) | (arr > 1.0))
        raise DataError(
            f"accuracy matrix values must be fractions in [0, 1], got R[{i}][{j}] = {arr[i, j]}"
        )
    return arr


def _first_bad(bad: np.ndarray) -> tuple[int, int]:
    """Index of the first flagged entry on or below the diagonal (for error messages)."""
    rows, cols = np.nonzero(np.tril(bad))
    return int(rows[0]), int(cols[0])


def _as_counts(n_test: Sequence[int], num_tasks: int) -> np.ndarray:
    """Return ``n_test`` as a float64 (T,) array of positive whole sample counts."""
    try:
        counts = np.asarray(n_test, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"n_test must be a sequence of {num_tasks} ints: {exc}") from exc
    if counts.ndim != 1 or counts.shape[0] != num_tasks:
        raise DataError(
            f"n_test must have one count per task ({num_tasks}), got shape {counts.shape}"
        )
    if not np.all(np.isfinite(counts)) or np.any(counts != np.round(counts)):
        raise DataError(f"n_test must hold whole numbers, got {counts.tolist()}")
    if np.any(counts <= 0):
        raise DataError(f"n_test counts must all be > 0, got {counts.tolist()}")
    return counts


def _as_baseline(baseline: Sequence[float], num_tasks: int) -> np.ndarray:
    """Return ``baseline`` as a float64 (T,) array of accuracies in [0, 1]."""
    try:
        base = np.asarray(baseline, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"baseline must be a sequence of {num_tasks} accuracies: {exc}") from exc
    if base.ndim != 1 or base.shape[0] != num_tasks:
        raise DataError(
            f"baseline must have one accuracy per task ({num_tasks}), got shape {base.shape}"
        )
    if not np.all(np.isfinite(base)) or np.any((base < 0.0) | (base > 1.0)):
        raise DataError(
            f"baseline accuracies must be finite fractions in [0, 1], got {base.tolist()}"
        )
    return base


def _check_kind(kind: str) -> None:
    if kind not in FORGETTING_KINDS:
        raise ConfigError(f"forgetting kind must be one of {FORGETTING_KINDS}, got {kind!r}")


def _row_accuracy(row: np.ndarray, counts: np.ndarray | None) -> float:
    """Task-mean accuracy of ``row`` (shape (k,)), or sample-weighted with ``counts``."""
    if counts is None:
        return float(np.mean(row))
    return float(np.dot(row, counts) / np.sum(counts))


def final_accuracy(R: AccuracyMatrix, n_test: Sequence[int] | None = None) -> float:
    """Accuracy over all T tasks after the last task (fraction in [0, 1]).

    Task mean of ``R[T-1][:]`` when ``n_test`` is None, else weighted by the
    (T,) test-set sizes ``n_test``.
    """
    arr = _as_matrix(R)
    counts = None if n_test is None else _as_counts(n_test, arr.shape[0])
    return _row_accuracy(arr[-1], counts)


def incremental_accuracies(R: AccuracyMatrix, n_test: Sequence[int] | None = None) -> list[float]:
    """Accuracy ``A_i`` over tasks ``0..i`` right after task ``i``, for each i (length T).

    Task mean of ``R[i][:i+1]`` when ``n_test`` is None, else weighted by
    ``n_test[:i+1]``. Fractions in [0, 1].
    """
    arr = _as_matrix(R)
    counts = None if n_test is None else _as_counts(n_test, arr.shape[0])
    return [
        _row_accuracy(arr[i, : i + 1], None if counts is None else counts[: i + 1])
        for i in range(arr.shape[0])
    ]


def average_incremental_accuracy(R: AccuracyMatrix, n_test: Sequence[int] | None = None) -> float:
    """Mean of :func:`incremental_accuracies` over the T steps (fraction in [0, 1])."""
    return float(np.mean(incremental_accuracies(R, n_test)))


def per_task_forgetting(R: AccuracyMatrix, kind: ForgettingKind = "first") -> list[float]:
    """Forgetting of each task ``j < T-1`` after the last task (length T-1, fractions).

    ``kind="first"`` (GEM / Avalanche): ``R[j][j] - R[T-1][j]``, the drop from the
    accuracy just after learning task j. ``kind="max"`` (Chaudhry et al. 2018):
    ``max_{l in [j, T-2]} R[l][j] - R[T-1][j]``, the drop from the best earlier
    accuracy. Values are negative when the final accuracy is higher. Empty for T == 1.
    """
    _check_kind(kind)
    arr = _as_matrix(R)
    last = arr.shape[0] - 1
    if kind == "first":
        return [float(arr[j, j] - arr[last, j]) for j in range(last)]
    return [float(np.max(arr[j:last, j]) - arr[last, j]) for j in range(last)]


def forgetting(R: AccuracyMatrix, kind: ForgettingKind = "first") -> float:
    """Mean of :func:`per_task_forgetting` over the T-1 earlier tasks (fraction).

    Returns 0.0 for a single task: nothing has been learned before it, so nothing
    can be forgotten.
    """
    values = per_task_forgetting(R, kind)
    return float(np.mean(values)) if values else 0.0


def bwt(R: AccuracyMatrix) -> float:
    """Backward transfer (GEM): mean over j < T-1 of ``R[T-1][j] - R[j][j]`` (fraction).

    Equals ``-forgetting(R, kind="first")``; 0.0 for a single task.
    """
    return -forgetting(R, kind="first")


def fwt(R: AccuracyMatrix, baseline: Sequence[float]) -> float:
    """Forward transfer (GEM): mean over j >= 1 of ``R[j-1][j] - baseline[j]`` (fraction).

    ``baseline`` is the (T,) accuracy of the untrained model on each task; ``R[j-1][j]``
    is read from just above the diagonal, so those entries must be finite fractions
    for j >= 1. Returns 0.0 for a single task (no task is seen before training).
    """
    arr = _as_matrix(R)
    base = _as_baseline(baseline, arr.shape[0])
    num_tasks = arr.shape[0]
    if num_tasks == 1:
        return 0.0
    before = np.array([arr[j - 1, j] for j in range(1, num_tasks)])
    if not np.all(np.isfinite(before)) or np.any((before < 0.0) | (before > 1.0)):
        raise DataError(
            "fwt needs finite fractions in [0, 1] at R[j-1][j] for j >= 1, "
            f"got {before.tolist()}"
        )
    return float(np.mean(before - base[1:]))


def summarize(
    R: AccuracyMatrix,
    n_test: Sequence[int] | None = None,
    baseline: Sequence[float] | None = None,
) -> dict[str, float]:
    """All metrics of ``R`` by name: fractions, plus ``num_tasks`` (T, an int).

    Keys ``final_acc_sample`` and ``aia_sample`` appear only with ``n_test``;
    ``fwt`` only with ``baseline``.
    """
    arr = _as_matrix(R)
    out: dict[str, float] = {}
    if n_test is not None:
        out["final_acc_sample"] = final_accuracy(arr, n_test)
    out["final_acc_task_mean"] = final_accuracy(arr)
    if n_test is not None:
        out["aia_sample"] = average_incremental_accuracy(arr, n_test)
    out["aia_task_mean"] = average_incremental_accuracy(arr)
    out["forgetting_first"] = forgetting(arr, kind="first")
    out["forgetting_max"] = forgetting(arr, kind="max")
    out["bwt"] = bwt(arr)
    if baseline is not None:
        out["fwt"] = fwt(arr, baseline)
    out["num_tasks"] = int(arr.shape[0])
    return out
