"""Is a suite trained to its plateau? Compare the host's diagonal at E and at 2E epochs.

The diagonal ``R[t][t]`` is a task's accuracy right after its own training, before any later task
can erode it, so it measures how far one task's training got. If doubling the epochs still
raises it, every run of the suite is undertrained, and then any extra adapter is extra training:
a gate that closes one must cost accuracy whatever the earlier adapters hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from litelora.errors import DataError
from litelora.metrics.continual import AccuracyMatrix, _as_matrix

# One point of accuracy: the bar for "doubling the epochs no longer moves the diagonal".
CONVERGED_BELOW = 0.01


def diagonal(R: AccuracyMatrix) -> list[float]:
    """``R[t][t]`` for every task: the accuracy on each task right after training it."""
    return [float(x) for x in np.diag(_as_matrix(R))]


def convergence_check(base: Mapping[Any, AccuracyMatrix], doubled: Mapping[Any, AccuracyMatrix],
                      tolerance: float = CONVERGED_BELOW) -> dict[str, Any]:
    """Pair the host's runs at E epochs (``base``) and 2E (``doubled``) by seed (same task order)
    and say whether the suite is converged: the diagonal's rise from E to 2E, averaged over the
    tasks and seeds, is below ``tolerance`` (a fall counts as converged: more epochs do not help).

    Returns ``converged``, ``mean_rise``, ``max_task_rise`` (the largest single-task rise),
    ``seeds`` and, per seed, both diagonals and their mean rise. ``DataError`` when no seed is in
    both, or a seed's two matrices differ in size (not the same stream).
    """
    if not 0 < tolerance < 1:
        raise DataError(f"convergence tolerance must be a fraction in (0, 1), got {tolerance}")
    seeds = [s for s in base if s in doubled]
    if not seeds:
        raise DataError(f"no seed has both runs: E-epoch seeds {sorted(base, key=str)}, "
                        f"2E-epoch seeds {sorted(doubled, key=str)}; run the doubled host on the same seeds")
    per_seed, rises = {}, []
    for seed in seeds:
        d1, d2 = diagonal(base[seed]), diagonal(doubled[seed])
        if len(d1) != len(d2):
            raise DataError(f"seed {seed}: the runs have {len(d1)} and {len(d2)} tasks; pair runs of one stream")
        rise = [b - a for a, b in zip(d1, d2)]
        rises += rise
        per_seed[seed] = {"diagonal": d1, "diagonal_doubled": d2, "mean_rise": float(np.mean(rise))}
    mean_rise = float(np.mean(rises))
    return {"converged": mean_rise < tolerance, "tolerance": tolerance, "mean_rise": mean_rise,
            "max_task_rise": float(np.max(rises)), "seeds": seeds, "per_seed": per_seed}


def late_rise_check(curves: Mapping[Any, Sequence[Mapping[str, Any]]], matrices: Mapping[Any, AccuracyMatrix],
                    tolerance: float = CONVERGED_BELOW) -> dict[str, Any]:
    """The same question from inside one run: did each task's accuracy still rise over the second
    half of its own steps (read from its curve point at halfway, ``train.curve_points``)?

    ``curves``: seed -> the run's ``task_curves`` (per task ``{"steps", "points": [[step,
    accuracy], ...]}``); ``matrices``: seed -> the same run's accuracy matrix. A task's late rise
    is its diagonal minus the accuracy at its latest point no later than halfway (one point, the
    default, is halfway; where a kept probe took the steps before every point, its first point);
    tasks without points are skipped. Plateaued
    when the mean over tasks and seeds is below ``tolerance``. Unlike doubling the epochs this
    needs no second run and reads every seed; it asks whether the second half of each task's own
    steps still helped (the earlier tasks trained as in the run), not what a schedule twice as long
    would give.

    Returns ``plateaued``, ``mean_late_rise``, ``max_task_late_rise``, ``seeds``, ``tasks`` (tasks
    read) and, per seed, ``late_rise`` and ``point_at`` (the fraction of its steps the point read
    was at), each keyed by task index (a string, as JSON keeps it).
    ``DataError`` when no run has a curve or a curve lists another number of tasks than its matrix.
    """
    if not 0 < tolerance < 1:
        raise DataError(f"late-rise tolerance must be a fraction in (0, 1), got {tolerance}")
    per_seed, rises = {}, []
    for seed, tasks in curves.items():
        if seed not in matrices:
            raise DataError(f"seed {seed}: a learning curve without its accuracy matrix")
        diag = diagonal(matrices[seed])
        if len(tasks) != len(diag):
            raise DataError(f"seed {seed}: {len(tasks)} task curves for {len(diag)} tasks; pair a run with its own matrix")
        rise, at = {}, {}
        for t, curve in enumerate(tasks):
            if curve.get("points"):
                points = sorted(curve["points"])
                step, accuracy = ([p for p in points if p[0] <= curve["steps"] / 2] or points[:1])[-1]
                rise[str(t)] = diag[t] - float(accuracy)
                at[str(t)] = step / curve["steps"]
        if rise:
            rises += list(rise.values())
            per_seed[seed] = {"late_rise": rise, "point_at": at, "mean_late_rise": float(np.mean(list(rise.values())))}
    if not rises:
        raise DataError("no run has a learning curve; train the host with train.curve_points=1")
    mean_rise = float(np.mean(rises))
    return {"plateaued": mean_rise < tolerance, "tolerance": tolerance, "mean_late_rise": mean_rise,
            "max_task_late_rise": float(np.max(rises)), "seeds": list(per_seed), "tasks": len(rises),
            "per_seed": per_seed}
