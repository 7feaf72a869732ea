"""Run a list of litelora experiments and aggregate them into one results table.

Each experiment is a name plus config overrides; its run directory is
``runs/<suite>/<name>``. A run whose ``results.json`` exists is not run again, so the
script resumes where a killed invocation stopped. The summary (``<out>.json``) holds every
run's metrics and the mean / std over seeds of each group; ``<out>.md`` is the table.

    python reproduce/run_experiments.py reproduce/gate_default.yaml
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from litelora._io import write_json, write_text
from litelora.metrics import aggregate_seeds

COLUMNS = ["final_acc_sample", "aia_sample", "forgetting_first", "active_adapters", "adapter_reduction",
           "train_seconds"]


def expand(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Experiments x seeds -> runs, seed-major so a partial suite already covers every experiment."""
    runs = []
    seeds = sorted({s for exp in spec["experiments"] for s in exp.get("seeds", spec.get("seeds", [0]))})
    for seed in seeds:
        for exp in spec["experiments"]:
            if seed not in exp.get("seeds", spec.get("seeds", [0])):
                continue
            sets = [*spec.get("common", []), *exp.get("set", []), f"benchmark.seed={seed}", f"train.seed={seed}"]
            runs.append({"group": exp["name"], "name": f"{exp['name']}_s{seed}", "seed": seed, "set": sets})
    return runs


def run_one(run: dict[str, Any], root: Path, collect_only: bool = False) -> dict[str, Any] | None:
    out = root / run["name"]
    if not (out / "results.json").is_file():
        if collect_only:
            return None
        # --resume: a run killed mid-way continues from its last checkpoint
        cmd = [sys.executable, "-m", "litelora", "train", "--no-progress", "--resume", "-o", str(out)]
        for s in run["set"]:
            cmd += ["--set", s]
        print(f"[{time.strftime('%H:%M:%S')}] {run['name']}: {' '.join(cmd[3:])}", flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="YAML with suite, common overrides, seeds and experiments")
    parser.add_argument("--collect-only", action="store_true", help="aggregate finished runs; start none")
    args = parser.parse_args()
    spec = yaml.safe_load(Path(args.spec).read_text())
    root = Path("runs") / spec["suite"]
    per_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    records = []
    for run in expand(spec):
        results = run_one(run, root, args.collect_only)
        if results is None:
            continue
        metrics = results["metrics"]
        per_group[run["group"]].append(metrics)
        records.append({"run": run["name"], "group": run["group"], "seed": run["seed"],
                        "command": "litelora train " + " ".join(f"--set {s}" for s in run["set"]),
                        "metrics": {k: metrics.get(k) for k in COLUMNS}})
    groups = {g: {k: aggregate_seeds([m[k] for m in ms]) for k in COLUMNS if ms[0].get(k) is not None}
              for g, ms in per_group.items()}
    out = Path(spec.get("output", f"reproduce/results/{spec['suite']}"))
    write_json(out.with_suffix(".json"), {"suite": spec["suite"], "spec": spec, "groups": groups, "runs": records})
    lines = [f"| experiment | n | {' | '.join(COLUMNS)} |", "|---|---|" + "---|" * len(COLUMNS)]
    for g, stats in groups.items():
        cells = [f"{stats[k]['mean']:.3f} ± {stats[k]['std']:.3f}" if k in stats else "-" for k in COLUMNS]
        lines.append(f"| {g} | {next(iter(stats.values()))['n']} | {' | '.join(cells)} |")
    table = "\n".join(lines) + "\n"
    write_text(out.with_suffix(".md"), table)
    print(table)


if __name__ == "__main__":
    main()
