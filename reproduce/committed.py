"""The runs a suite's committed summary already records, for passes on a checkout without them.

A suite's run directories stay on the machine that trained them; what is committed is the
summary under ``reproduce/results/``. A later pass on another checkout (a fresh clone, a new
session) trains, scores or reads only the runs it has, and keeps every other run's record from
the summary it is about to replace, so collecting never drops a finished run from the evidence.
A run present here always wins over its committed record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from litelora.metrics import aggregate_seeds


def committed_summary(summary: Path, **same: Any) -> dict[str, Any]:
    """The summary JSON at ``summary``; empty where the file is absent or any top-level field
    named in ``same`` differs (``quick=False``: a tiny pass never mixes with full runs)."""
    if not summary.is_file():
        return {}
    data = json.loads(summary.read_text())
    return {} if any(data.get(k) != v for k, v in same.items()) else data


def run_command(sets: Sequence[str], suite_root: str) -> str:
    """The command a run's record keeps: ``litelora train`` with each of ``sets`` as a ``--set``,
    ``{runs}`` (another run's folder, named in a setting) read as ``suite_root``."""
    return "litelora train " + " ".join(f"--set {s.replace('{runs}', suite_root)}" for s in sets)


_ROOT = "@@RUNS@@"


def ran_with(record: Mapping[str, Any], sets: Sequence[str]) -> bool:
    """Whether a committed run ``record`` was trained with ``sets``, whatever folder ``{runs}``
    named on the machine that trained it."""
    pattern = re.escape(run_command(sets, _ROOT)).replace(_ROOT, r"[^\s']*")
    return re.fullmatch(pattern, record.get("command", "")) is not None


def group_stats(metrics: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, dict[str, float]]:
    """A summary's ``groups`` entry from its runs' ``metrics``: each of ``keys`` that every run
    records (not ``None``), aggregated over the runs (``aggregate_seeds``)."""
    return {k: aggregate_seeds([m[k] for m in metrics]) for k in keys if all(m.get(k) is not None for m in metrics)}


def runs_by_row_and_seed(summary: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """The records of a loaded summary's ``runs`` list keyed by (row, seed). Every summary the
    reproduce scripts write keeps each run's ``group`` and ``seed``."""
    return {(r["group"], r["seed"]): r for r in summary.get("runs", [])}


def final_acc_by_seed(suite: dict[str, Any], group: str) -> dict[int, float]:
    """seed -> final accuracy of ``group``'s run on that seed."""
    return {r["seed"]: r["metrics"]["final_acc_sample"] for r in suite.get("runs", [])
            if r["group"] == group and "final_acc_sample" in r.get("metrics", {})}


def reference_suite(suite: dict[str, Any], host: str, results: Mapping[str, dict[str, Any]] | None) -> dict[str, Any] | None:
    """The suite this one's spec names as ``reference_suite``, where that suite ran the very same
    ``host`` runs (equal final accuracy on every seed), so what was measured on its host (the
    closed-after-task-0 reference, the doubled-epoch check) stands for this suite's too; else ``None``."""
    ref = (suite.get("spec") or {}).get("reference_suite")
    if not ref or results is None or ref not in results:
        return None
    mine, theirs = final_acc_by_seed(suite, host), final_acc_by_seed(results[ref], host)
    if not (mine and mine.keys() == theirs.keys() and all(abs(mine[k] - theirs[k]) < 1e-9 for k in mine)):
        return None
    return results[ref]
