"""The convergence check reads the diagonal of constructed matrices and judges the rise."""

from __future__ import annotations

import pytest

from litelora.errors import DataError
from litelora.metrics import convergence_check, diagonal

# Above the diagonal: not yet trained, never read (NaN must not leak into the verdict).
NAN = float("nan")


def test_the_diagonal_is_each_tasks_accuracy_right_after_it() -> None:
    R = [[0.9, NAN, NAN], [0.5, 0.8, NAN], [0.4, 0.6, 0.7]]
    assert diagonal(R) == [0.9, 0.8, 0.7]


def test_doubling_that_lifts_the_diagonal_by_two_points_is_not_converged() -> None:
    base = {0: [[0.80, NAN], [0.70, 0.60]], 1: [[0.70, NAN], [0.60, 0.50]]}
    # rises: seed 0 +0.04 and +0.00, seed 1 +0.02 and +0.02: mean 0.02, largest 0.04
    doubled = {0: [[0.84, NAN], [0.10, 0.60]], 1: [[0.72, NAN], [0.10, 0.52]], 2: [[1.0, NAN], [1.0, 1.0]]}
    verdict = convergence_check(base, doubled)
    assert verdict["converged"] is False
    assert verdict["mean_rise"] == pytest.approx(0.02) and verdict["max_task_rise"] == pytest.approx(0.04)
    assert verdict["seeds"] == [0, 1]  # seed 2 has no E-epoch run to pair with
    assert verdict["per_seed"][0]["diagonal_doubled"] == [0.84, 0.60]
    assert verdict["per_seed"][1]["mean_rise"] == pytest.approx(0.02)


def test_a_rise_under_one_point_or_a_fall_is_converged() -> None:
    base = {0: [[0.80, NAN], [0.70, 0.60]]}
    assert convergence_check(base, {0: [[0.805, NAN], [0.0, 0.61]]})["converged"] is True  # +0.75 points
    assert convergence_check(base, {0: [[0.70, NAN], [0.0, 0.60]]})["converged"] is True  # more epochs hurt
    assert convergence_check(base, {0: [[0.81, NAN], [0.0, 0.61]]})["converged"] is False  # exactly 1 point
    assert convergence_check(base, {0: [[0.805, NAN], [0.0, 0.61]]}, tolerance=0.005)["converged"] is False


def test_unpaired_or_mismatched_runs_are_errors() -> None:
    with pytest.raises(DataError, match="no seed has both runs"):
        convergence_check({0: [[0.5]]}, {1: [[0.5]]})
    with pytest.raises(DataError, match="seed 0: the runs have 1 and 2 tasks"):
        convergence_check({0: [[0.5]]}, {0: [[0.5, NAN], [0.5, 0.5]]})
    with pytest.raises(DataError, match="tolerance"):
        convergence_check({0: [[0.5]]}, {0: [[0.5]]}, tolerance=1.0)
