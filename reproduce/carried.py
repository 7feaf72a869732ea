"""What the earlier adapters carry, per task family: each task of a suite's host runs scored with the
model as it stood before the task trained (``litelora eval RUN --carried``), beside the base model
and the host right after the task.

The paper's premise is that a recurring task is largely solved by the adapters earlier tasks left:
reusing them (every module closed) starts the task near where a new adapter ends it. This reads
that premise off the host's own runs (the suite's first row by default; ``--rows`` names others):
per kind of task (first of its family, recurring, verbatim repeat; tasks after the first), the
mean accuracy of the base model, of the model before the task (``R[t-1][t]``, rebuilt exactly
from the final bank for methods that leave earlier adapters as they were) and right after the
task (``R[t][t]``), all on the run's own test set. Scores are kept in ``<root>/<suite>/carried/<run>.json`` with the run's id (a killed pass
resumes); the summary goes to ``reproduce/results/carried_<suite>.json``, which
``render_results.py`` reads. A run whose directory is not under ``--root`` keeps its reading from
that summary.

    python reproduce/carried.py reproduce/suites/families_generative_16ep.yaml --rows inclora
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from committed import committed_summary, runs_by_row_and_seed  # noqa: E402
from rescore import scored_run  # noqa: E402
from run_experiments import expand, load_spec  # noqa: E402

from litelora._io import write_json  # noqa: E402
from litelora.reporting.families import KINDS, run_families, task_kinds  # noqa: E402

READINGS = ("base", "before", "after")


def run_reading(run_dir: Path, carried: dict[str, Any]) -> list[dict[str, Any]]:
    """Per task of one run: name, kind, and accuracy with the base model, before the task and right
    after it (fractions of the run's own test set)."""
    facts = run_families(run_dir)
    R = json.loads((run_dir / "results.json").read_text())["train_info"]["accuracy_matrix"]
    kinds = task_kinds(facts["families"], facts["names"], facts["repeat_of"])
    rows = carried["carried"]["tasks"]
    return [{"task": t, "name": row["name"], "kind": kinds[t], "base": row["base"], "before": row["before"],
             "after": R[t][t]} for t, row in enumerate(rows)]


def by_kind(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean of each reading per kind over tasks 1.. (task 0 has nothing before it), with ``tasks``
    (the count) and ``carried_share``: (before - base) / (after - base) of the means, the share of
    what training the task gains over the base model that the earlier adapters already give
    (``None`` where training gains nothing)."""
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        rows = [r for r in tasks if r["kind"] == kind and r["task"] > 0]
        if not rows:
            continue
        means = {k: sum(r[k] for r in rows) / len(rows) for k in READINGS}
        gain = means["after"] - means["base"]
        out[kind] = {"tasks": len(rows), **means,
                     "carried_share": (means["before"] - means["base"]) / gain if gain > 1e-9 else None}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="the suite's YAML")
    parser.add_argument("--rows", help="comma-separated rows to read (default: the suite's first experiment, its host)")
    parser.add_argument("--root", type=Path, default=Path("runs"), help="where the suite's run directories are")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--threads", type=int, help="torch CPU threads of each evaluation")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    rows = args.rows.split(",") if args.rows else [spec["experiments"][0]["name"]]
    unknown = sorted(set(rows) - {e["name"] for e in spec["experiments"]})
    if unknown:
        raise SystemExit(f"--rows: {', '.join(unknown)} not in {spec['suite']} (rows: "
                         f"{', '.join(e['name'] for e in spec['experiments'])})")
    suite_root = args.root / spec["suite"]
    out = args.results / f"carried_{spec['suite']}.json"
    kept = runs_by_row_and_seed(committed_summary(out))
    runs = []
    for run in expand(spec):
        if run["group"] not in rows:
            continue
        run_dir = suite_root / run["name"]
        try:
            result = scored_run(run_dir, suite_root / "carried" / f"{run['name']}.json", args.threads, ["--carried"])
        except subprocess.CalledProcessError as err:  # eval printed why (a classifier, a method it refuses)
            raise SystemExit(f"{run['name']}: `litelora eval --carried` failed (exit {err.returncode}); see above") from err
        if result is None:  # not here: read on another checkout, or not finished
            if (run["group"], run["seed"]) in kept:
                runs.append(kept[run["group"], run["seed"]])
            continue
        tasks = run_reading(run_dir, result)
        runs.append({"group": run["group"], "seed": run["seed"], "run_id": result["run_id"],
                     "forward_transfer": result["carried"]["forward_transfer"], "tasks": tasks})
        print(f"{run['name']}: forward transfer {runs[-1]['forward_transfer']:+.3f}", flush=True)
    groups = {g: {"seeds": sorted(r["seed"] for r in runs if r["group"] == g),
                  "kinds": by_kind([t for r in runs if r["group"] == g for t in r["tasks"]])}
              for g in rows if any(r["group"] == g for r in runs)}
    write_json(out, {"suite": spec["suite"], "runs": runs, "carried_groups": groups})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
