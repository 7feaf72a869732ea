"""Is a suite converged? Read the host's accuracy matrices at E and 2E epochs from a suite summary.

A suite that runs its host twice, as ``inclora`` and ``inclora-2x-epochs`` (the same settings with
``train.epochs`` doubled), answers it: paired by seed, doubling the epochs must move the host's
diagonal (each task's accuracy right after its task) by less than 1 point on average. The verdict
goes to ``reproduce/results/convergence_<suite>.json``, which the results page reads.

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
from litelora.metrics import convergence_check

HERE = Path(__file__).resolve().parent
DOUBLED_SUFFIX = "-2x-epochs"


def matrices(summary: dict[str, Any], group: str) -> dict[int, list[list[float]]]:
    """seed -> accuracy matrix of ``group``'s runs in a suite summary (``run_experiments.py``)."""
    return {r["seed"]: r["accuracy_matrix"] for r in summary.get("runs", []) if r["group"] == group}


def check_suite(summary: dict[str, Any], host: str = "inclora", doubled: str | None = None,
                doubled_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The convergence verdict of ``summary``'s ``host`` against ``doubled`` (default
    ``<host>-2x-epochs``), whose runs come from ``doubled_summary`` when given, else the same suite."""
    doubled = doubled or host + DOUBLED_SUFFIX
    other = doubled_summary if doubled_summary is not None else summary
    base, twice = matrices(summary, host), matrices(other, doubled)
    if not base or not twice:
        missing = host if not base else doubled
        raise DataError(f"suite {summary.get('suite')!r}: no runs of group {missing!r}; add it to the suite "
                        f"(the same settings with train.epochs doubled) or name the groups with --host / --doubled")
    return {"suite": summary.get("suite"), "host": host, "doubled": doubled,
            "doubled_suite": other.get("suite"), **convergence_check(base, twice)}


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
    print(f"{verdict['suite']}: {state}: doubling the epochs moves {args.host}'s diagonal by "
          f"{verdict['mean_rise'] * 100:+.2f} points on average (largest task {verdict['max_task_rise'] * 100:+.1f}; "
          f"bar {verdict['tolerance'] * 100:.0f}) over seeds {verdict['seeds']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
