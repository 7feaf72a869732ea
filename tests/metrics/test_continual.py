"""Continual metrics against hand-computed values (expected numbers worked out inline)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import litelora.metrics as metrics
from litelora.errors import ConfigError, DataError
from litelora.metrics import (
    average_incremental_accuracy,
    bwt,
    final_accuracy,
    forgetting,
    fwt,
    incremental_accuracies,
    per_task_forgetting,
    summarize,
)

WORKED = [[0.9, 0.0, 0.0], [0.8, 0.85, 0.0], [0.7, 0.6, 0.95]]
# Task 0 peaks at step 1 (0.9) after a low start (0.5), so "first" and "max" disagree.
PEAK_LATER = [[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.6, 0.7, 0.9]]


def test_public_api_is_flat_and_sorted() -> None:
    assert metrics.__all__ == sorted(metrics.__all__)
    for name in metrics.__all__:
        assert callable(getattr(metrics, name))


def test_worked_example() -> None:
    # first: ((0.9 - 0.7) + (0.85 - 0.6)) / 2 = 0.225
    assert forgetting(WORKED, kind="first") == pytest.approx(0.225)
    # max: j=0: max(0.9, 0.8) - 0.7 = 0.2; j=1: 0.85 - 0.6 = 0.25 -> 0.225
    assert forgetting(WORKED, kind="max") == pytest.approx(0.225)
    assert bwt(WORKED) == pytest.approx(-0.225)
    assert final_accuracy(WORKED) == pytest.approx((0.7 + 0.6 + 0.95) / 3)
    assert incremental_accuracies(WORKED) == pytest.approx([0.9, 0.825, 0.75])
    assert average_incremental_accuracy(WORKED) == pytest.approx((0.9 + 0.825 + 0.75) / 3)


def test_numpy_input_matches_list_input() -> None:
    assert summarize(np.array(WORKED)) == pytest.approx(summarize(WORKED))


def test_first_and_max_forgetting_differ() -> None:
    assert per_task_forgetting(PEAK_LATER, kind="first") == pytest.approx([-0.1, 0.1])
    assert per_task_forgetting(PEAK_LATER, kind="max") == pytest.approx([0.3, 0.1])
    # first: ((0.5 - 0.6) + (0.8 - 0.7)) / 2 = 0
    assert forgetting(PEAK_LATER, kind="first") == pytest.approx(0.0, abs=1e-12)
    # max: ((0.9 - 0.6) + (0.8 - 0.7)) / 2 = 0.2
    assert forgetting(PEAK_LATER, kind="max") == pytest.approx(0.2)
    assert bwt(PEAK_LATER) == pytest.approx(0.0, abs=1e-12)


def test_default_kind_is_first() -> None:
    assert forgetting(PEAK_LATER) == pytest.approx(forgetting(PEAK_LATER, kind="first"), abs=1e-12)
    assert per_task_forgetting(PEAK_LATER) == pytest.approx([-0.1, 0.1])


def test_sample_weighted() -> None:
    n_test = [100, 300, 600]
    # (0.7*100 + 0.6*300 + 0.95*600) / 1000 = (70 + 180 + 570) / 1000
    assert final_accuracy(WORKED, n_test) == pytest.approx(0.82)
    # A_1 = (0.8*100 + 0.85*300) / 400 = 335 / 400
    assert incremental_accuracies(WORKED, n_test) == pytest.approx([0.9, 0.8375, 0.82])
    assert average_incremental_accuracy(WORKED, n_test) == pytest.approx(
        (0.9 + 0.8375 + 0.82) / 3
    )


def test_equal_counts_match_task_mean() -> None:
    assert final_accuracy(WORKED, [50, 50, 50]) == pytest.approx(final_accuracy(WORKED))
    assert average_incremental_accuracy(WORKED, [7, 7, 7]) == pytest.approx(
        average_incremental_accuracy(WORKED)
    )


def test_single_task() -> None:
    R = [[0.8]]
    assert final_accuracy(R) == pytest.approx(0.8)
    assert incremental_accuracies(R) == pytest.approx([0.8])
    assert per_task_forgetting(R) == []
    assert per_task_forgetting(R, kind="max") == []
    assert forgetting(R) == 0.0
    assert forgetting(R, kind="max") == 0.0
    assert bwt(R) == 0.0
    assert fwt(R, [0.1]) == 0.0
    assert summarize(R, n_test=[10], baseline=[0.1]) == pytest.approx(
        {
            "final_acc_sample": 0.8,
            "final_acc_task_mean": 0.8,
            "aia_sample": 0.8,
            "aia_task_mean": 0.8,
            "forgetting_first": 0.0,
            "forgetting_max": 0.0,
            "bwt": 0.0,
            "fwt": 0.0,
            "num_tasks": 1,
        }
    )


def test_all_zeros() -> None:
    R = np.zeros((3, 3))
    assert final_accuracy(R) == 0.0
    assert incremental_accuracies(R) == [0.0, 0.0, 0.0]
    assert forgetting(R) == 0.0
    assert forgetting(R, kind="max") == 0.0
    assert bwt(R) == 0.0
    assert fwt(R, [0.0, 0.0, 0.0]) == 0.0


def test_task_never_learned() -> None:
    # Task 1 stays at 0 when learned and reaches 0.1 only after task 2: negative forgetting.
    R = [[0.9, 0.0, 0.0], [0.9, 0.0, 0.0], [0.8, 0.1, 0.7]]
    assert per_task_forgetting(R, kind="first") == pytest.approx([0.1, -0.1])
    assert per_task_forgetting(R, kind="max") == pytest.approx([0.1, -0.1])
    assert forgetting(R) == pytest.approx(0.0, abs=1e-12)
    assert final_accuracy(R) == pytest.approx((0.8 + 0.1 + 0.7) / 3)
    # A = [0.9, (0.9 + 0) / 2, (0.8 + 0.1 + 0.7) / 3]
    assert incremental_accuracies(R) == pytest.approx([0.9, 0.45, 1.6 / 3])


def test_above_diagonal_is_ignored() -> None:
    nan = math.nan
    with_nan = [[0.9, nan, nan], [0.8, 0.85, nan], [0.7, 0.6, 0.95]]
    # Out-of-range junk above the diagonal is never read either.
    with_junk = [[0.9, 7.0, -3.0], [0.8, 0.85, 2.0], [0.7, 0.6, 0.95]]
    expected = summarize(WORKED, n_test=[100, 300, 600])
    assert summarize(with_nan, n_test=[100, 300, 600]) == pytest.approx(expected)
    assert summarize(with_junk, n_test=[100, 300, 600]) == pytest.approx(expected)


def test_fwt_with_baseline() -> None:
    R = [[0.9, 0.3, 0.2], [0.8, 0.85, 0.4], [0.7, 0.6, 0.95]]
    # ((0.3 - 0.2) + (0.4 - 0.25)) / 2; baseline[0] and R[0][2] are not used.
    assert fwt(R, [0.1, 0.2, 0.25]) == pytest.approx(0.125)
    assert fwt(R, [0.99, 0.2, 0.25]) == pytest.approx(0.125)
    assert fwt(R, [0.0, 0.5, 0.5]) == pytest.approx(((0.3 - 0.5) + (0.4 - 0.5)) / 2)


def test_fwt_rejects_nan_where_it_reads() -> None:
    R = [[0.9, math.nan, 0.0], [0.8, 0.85, 0.4], [0.7, 0.6, 0.95]]
    with pytest.raises(DataError, match=r"R\[j-1\]\[j\]"):
        fwt(R, [0.1, 0.2, 0.25])


def test_summarize_keys_and_values() -> None:
    R = [[0.9, 0.3, 0.2], [0.8, 0.85, 0.4], [0.7, 0.6, 0.95]]
    full = summarize(R, n_test=[100, 300, 600], baseline=[0.1, 0.2, 0.25])
    assert full == pytest.approx(
        {
            "final_acc_sample": 0.82,
            "final_acc_task_mean": 0.75,
            "aia_sample": (0.9 + 0.8375 + 0.82) / 3,
            "aia_task_mean": 0.825,
            "forgetting_first": 0.225,
            "forgetting_max": 0.225,
            "bwt": -0.225,
            "fwt": 0.125,
            "num_tasks": 3,
        }
    )
    assert set(summarize(R)) == {
        "final_acc_task_mean",
        "aia_task_mean",
        "forgetting_first",
        "forgetting_max",
        "bwt",
        "num_tasks",
    }


def test_summarize_max_differs_from_first() -> None:
    out = summarize(PEAK_LATER)
    assert out["forgetting_first"] == pytest.approx(0.0, abs=1e-12)
    assert out["forgetting_max"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("R", "match"),
    [
        ([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], r"must be square, got shape \(2, 3\)"),
        ([0.1, 0.2], r"must be square, got shape \(2,\)"),
        (np.zeros((0, 0)), "at least one task"),
        ([[0.1], [0.2, 0.3]], "numeric T x T"),
        ([[0.9, 0.0], [math.nan, 0.8]], r"finite on and below the diagonal, got R\[1\]\[0\]"),
        ([[math.inf, 0.0], [0.5, 0.8]], r"finite .* R\[0\]\[0\]"),
        ([[0.9, 0.0], [0.5, 1.2]], r"\[0, 1\], got R\[1\]\[1\] = 1.2"),
        ([[0.9, 0.0], [-0.1, 0.8]], r"\[0, 1\], got R\[1\]\[0\]"),
    ],
)
def test_bad_matrix_raises(R: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        summarize(R)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n_test", "match"),
    [
        ([100, 300], r"one count per task \(3\), got shape \(2,\)"),
        ([100, 300, 600, 1], r"one count per task \(3\)"),
        ([100, 0, 600], "> 0"),
        ([100, -5, 600], "> 0"),
        ([100, 2.5, 600], "whole numbers"),
    ],
)
def test_bad_n_test_raises(n_test: list[float], match: str) -> None:
    with pytest.raises(DataError, match=match):
        final_accuracy(WORKED, n_test)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=match):
        average_incremental_accuracy(WORKED, n_test)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("baseline", "match"),
    [
        ([0.1, 0.2], r"one accuracy per task \(3\)"),
        ([0.1, 1.5, 0.2], r"\[0, 1\]"),
        ([0.1, math.nan, 0.2], r"\[0, 1\]"),
    ],
)
def test_bad_baseline_raises(baseline: list[float], match: str) -> None:
    with pytest.raises(DataError, match=match):
        fwt(WORKED, baseline)


def test_bad_forgetting_kind_raises() -> None:
    with pytest.raises(ConfigError, match="'mean'"):
        forgetting(WORKED, kind="mean")  # type: ignore[arg-type]
