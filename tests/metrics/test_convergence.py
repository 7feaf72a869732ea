"""The convergence check reads the diagonal of constructed matrices and judges the rise."""

from __future__ import annotations

import pytest

from litelora.errors import DataError
from litelora.metrics import convergence_check, diagonal, late_rise_check

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


def test_the_late_rise_is_the_diagonal_above_each_tasks_last_curve_point() -> None:
    R = {0: [[0.80, NAN], [0.70, 0.60]], 1: [[0.90, NAN], [0.50, 0.50]]}
    curves = {0: [{"steps": 10, "points": [[5, 0.76]]}, {"steps": 20, "points": [[5, 0.2], [10, 0.61]]}],
              1: [{"steps": 10, "points": [[5, 0.88]]}, {"steps": None, "points": []}]}  # no point: not read
    verdict = late_rise_check(curves, R)
    # rises: seed 0 +0.04 (0.80 - 0.76) and -0.01 (the last point, 0.61), seed 1 +0.02: mean 0.05 / 3
    assert verdict["per_seed"][0]["late_rise"] == pytest.approx({"0": 0.04, "1": -0.01})
    assert verdict["per_seed"][0]["point_at"] == {"0": 0.5, "1": 0.5}
    assert verdict["per_seed"][1]["late_rise"] == pytest.approx({"0": 0.02})  # task 1 kept no curve
    assert verdict["mean_late_rise"] == pytest.approx(0.05 / 3) and verdict["tasks"] == 3
    assert verdict["max_task_late_rise"] == pytest.approx(0.04) and verdict["plateaued"] is False
    assert late_rise_check(curves, R, tolerance=0.02)["plateaued"] is True


def test_the_late_rise_reads_the_point_at_halfway_whatever_the_number_of_points() -> None:
    # train.curve_points=3 on 20 steps puts points at steps 5, 10 and 15 (callbacks.LearningCurve):
    # the second half rose 10 points (0.80 -> 0.90) though the last quarter rose only half a point.
    R = {0: [[0.90]]}
    curves = {0: [{"steps": 20, "points": [[5, 0.50], [10, 0.80], [15, 0.895]]}]}
    verdict = late_rise_check(curves, R)
    assert verdict["per_seed"][0]["point_at"] == {"0": 0.5}
    assert verdict["mean_late_rise"] == pytest.approx(0.10) and verdict["plateaued"] is False
    # a kept probe took the first 12 steps, so the first point is at 15: that one is read
    late = late_rise_check({0: [{"steps": 20, "points": [[15, 0.895]]}]}, R)
    assert late["per_seed"][0]["point_at"] == {"0": 0.75}


def test_a_late_rise_without_curves_or_with_another_stream_is_an_error() -> None:
    R = {0: [[0.80, NAN], [0.70, 0.60]]}
    with pytest.raises(DataError, match=r"no run has a learning curve; train the host with train\.curve_points=1"):
        late_rise_check({0: [{"steps": 4, "points": []}, {"steps": 4, "points": []}]}, R)
    with pytest.raises(DataError, match="1 task curves for 2 tasks"):
        late_rise_check({0: [{"steps": 4, "points": [[2, 0.5]]}]}, R)
    with pytest.raises(DataError, match="without its accuracy matrix"):
        late_rise_check({3: []}, R)
