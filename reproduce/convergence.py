"""Is a suite converged? Read the host's accuracy matrices at E and 2E epochs from a suite summary.

A suite that runs its host twice, as ``inclora`` and ``inclora-2x-epochs`` (the same settings with
``train.epochs`` doubled), answers it: paired by seed, doubling the epochs must move the host's
diagonal (each task's accuracy right after its task) by less than 1 point on average. A host run
with ``train.curve_points=1`` also answers it from inside itself, on every seed: each task's
accuracy must rise by less than 1 point on average over the second half of its steps (the "late
rise", reported beside doubling; the verdict where no doubled run exists). The verdict goes to ``reproduce/results/convergence_<suite>.json``, which the results page reads.

    python reproduce/convergence.py reproduce/results/families_generative.json
    python reproduce/convergence.py SUITE.json --host inclora --doubled-suite OTHER.json --doubled inclora
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from litelora._io import write_json
from litelora.errors import DataError
from litelora.metrics import convergence_check, late_rise_check

HERE = Path(__file__).resolve().parent
DOUBLED_SUFFIX = "-2x-epochs"


def matrices(summary: dict[str, Any], group: str) -> dict[int, list[list[float]]]:
    """seed -> accuracy matrix of ``group``'s runs in a suite summary (``run_experiments.py``)."""
    return {r["seed"]: r["accuracy_matrix"] for r in summary.get("runs", []) if r["group"] == group}


def curves(summary: dict[str, Any], group: str) -> dict[int, list[dict[str, Any]]]:
    """seed -> learning curves (``task_curves``, runs with ``train.curve_points``) of ``group``'s runs."""
    return {r["seed"]: r["task_curves"] for r in summary.get("runs", [])
            if r["group"] == group and any(c.get("points") for c in r.get("task_curves", []))}


def check_suite(summary: dict[str, Any], host: str = "inclora", doubled: str | None = None,
                doubled_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The convergence verdict of ``summary``'s ``host`` against ``doubled`` (default
    ``<host>-2x-epochs``), whose runs come from ``doubled_summary`` when given, else the same suite;
    beside it (or alone, without doubled runs) the late rise inside the host's own runs where
    they kept a learning curve. ``converged`` follows doubling where it was run (``rule``)."""
    doubled = doubled or host + DOUBLED_SUFFIX
    other = doubled_summary if doubled_summary is not None else summary
    base, twice, own = matrices(summary, host), matrices(other, doubled), curves(summary, host)
    if not base or not (twice or own):
        missing = host if not base else doubled
        raise DataError(f"suite {summary.get('suite')!r}: no runs of group {missing!r}; add it to the suite "
                        f"(the same settings with train.epochs doubled, or train.curve_points=1 on the host) "
                        f"or name the groups with --host / --doubled")
    out: dict[str, Any] = {"suite": summary.get("suite"), "host": host}
    if twice:
        out.update(rule="doubling", doubled=doubled, doubled_suite=other.get("suite"), **convergence_check(base, twice))
    if own:
        out["late_rise"] = late_rise_check(own, base)
    if not twice:
        out.update(rule="late rise", converged=out["late_rise"]["plateaued"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("summary", type=Path, help="a suite summary, reproduce/results/<suite>.json")
    parser.add_argument("--host", default="inclora", help="the host group at E epochs (default inclora)")
    parser.add_argument("--doubled", help="the group at 2E epochs (default <host>-2x-epochs)")
    parser.add_argument("--doubled-suite", type=Path, help="the summary holding the 2E runs (default: the same)")
    parser.add_argument("--out", type=Path, help="default reproduce/results/convergence_<suite>.json")
    args = parser.parse_args(argv)
    summary = json.loads(args.summary.read_text())
    other = json.loads(args.doubled_suite.read_text()) if args.doubled_suite else None
    try:
        verdict = check_suite(summary, args.host, args.doubled, other)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or HERE / "results" / f"convergence_{summary['suite']}.json"
    write_json(out, verdict)
    state = "converged" if verdict["converged"] else "NOT converged"
    print(f"{verdict['suite']}: {state} (by {verdict['rule']}); wrote {out}")
    if "mean_rise" in verdict:
        print(f"  doubling the epochs moves {args.host}'s diagonal by {verdict['mean_rise'] * 100:+.2f} points on "
              f"average (largest task {verdict['max_task_rise'] * 100:+.1f}; bar {verdict['tolerance'] * 100:.0f}) "
              f"over seeds {verdict['seeds']}")
    if "late_rise" in verdict:
        late = verdict["late_rise"]
        print(f"  after each task's curve point at halfway its accuracy rises {late['mean_late_rise'] * 100:+.2f} points on "
              f"average (largest task {late['max_task_late_rise'] * 100:+.1f}) over seeds {late['seeds']}, "
              f"{late['tasks']} tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
