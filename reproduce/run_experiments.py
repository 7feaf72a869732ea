"""Run one suite of litelora experiments and aggregate it into one results table.

A suite (``reproduce/suites/<name>.yaml``) is a list of experiments, each a name plus config
overrides, run over seeds (``per_seed`` adds overrides for one seed, e.g. its task order); its run
directories are ``<root>/<suite>/<name>_s<seed>``. In an override, ``{seed}`` is the run's seed and
``{runs}`` the suite's run root, so a row can read an earlier row's run of the same order
(``gate.params.decisions='{runs}/<name>_s{seed}'``: quoted, as a value that starts with a brace
reads as YAML). A run
whose ``results.json`` exists is not run again and a killed run resumes from its last
checkpoint, so re-invoking the script continues where it stopped. The summary
(``reproduce/results/<suite>.json``) holds every run's metrics, its command, and the mean /
std over seeds of each experiment; ``<suite>.md`` is the table.

    python reproduce/run_experiments.py reproduce/suites/hosts_default.yaml
    python reproduce/run_experiments.py SPEC --quick --root /tmp/q --results /tmp/q/results

``--only A,B`` runs those experiments only (the others are collected where finished), so a
suite's core rows can cover every seed before its ablations start; ``--seeds 0,2`` likewise runs
those task orders only. A run whose directory is not under ``--root`` (trained on another
checkout) keeps its record from the committed summary. ``--quick`` applies the
suite's ``quick`` overrides (a tiny model and stream, a few steps), keeps the first seed and
runs in this process: the whole pipeline in seconds, for tests.
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
from committed import committed_summary, group_stats, ran_with, run_command, runs_by_row_and_seed

from litelora._io import write_json, write_text

COLUMNS = ["final_acc_sample", "aia_sample", "forgetting_first", "active_adapters", "adapter_reduction",
           "adapter_params", "param_reduction", "adapter_bytes", "train_seconds"]


def load_spec(path: str | Path) -> dict[str, Any]:
    spec = yaml.safe_load(Path(path).read_text())
    for key in ("suite", "experiments"):
        if key not in spec:
            raise SystemExit(f"{path}: missing key {key!r}")
    return spec


def expand(spec: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    """Experiments x seeds -> runs, seed-major so a partial suite already covers every experiment."""
    runs = []
    seeds_of = {e["name"]: list(e.get("seeds", spec.get("seeds", [0]))) for e in spec["experiments"]}
    seeds = sorted({s for ss in seeds_of.values() for s in ss})
    if quick:
        seeds = seeds[:1]
    extra = list(spec.get("quick", [])) if quick else []
    for seed in seeds:
        for exp in spec["experiments"]:
            if seed not in seeds_of[exp["name"]] and not quick:
                continue
            sets = [*spec.get("common", []), *spec.get("per_seed", {}).get(seed, []), *exp.get("set", []),
                    f"benchmark.seed={seed}", f"train.seed={seed}", *extra]
            sets = [s.replace("{seed}", str(seed)) for s in sets]
            runs.append({"group": exp["name"], "name": f"{exp['name']}_s{seed}", "seed": seed, "set": sets})
    return runs


def train_command(run: dict[str, Any], out: Path) -> list[str]:
    # --resume: a run killed mid-way continues from its last checkpoint
    cmd = ["train", "--no-progress", "--resume", "-o", str(out)]
    for s in run["set"]:
        cmd += ["--set", s.replace("{runs}", str(out.parent))]
    return cmd


def run_one(run: dict[str, Any], root: Path, collect_only: bool = False, in_process: bool = False
            ) -> dict[str, Any] | None:
    out = root / run["name"]
    if not (out / "results.json").is_file():
        if collect_only:
            return None
        cmd = train_command(run, out)
        print(f"[{time.strftime('%H:%M:%S')}] {run['name']}: {' '.join(cmd)}", flush=True)
        if in_process:
            from litelora.cli.main import main as litelora_main

            if litelora_main(cmd) != 0:
                raise RuntimeError(f"run {run['name']} failed")
        else:
            subprocess.run([sys.executable, "-m", "litelora", *cmd], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "results.json").read_text())


def analyze_runs(spec: dict[str, Any], runs: list[dict[str, Any]], root: Path) -> dict[str, Any]:
    """The redundancy analysis (with the functional test) of the runs of ``spec['analyze']``."""
    from litelora.analysis import write_analysis
    from litelora.workflows.analysis import analyze_run_dir

    out: dict[str, Any] = {}
    for run in runs:
        if run["group"] not in spec.get("analyze", []):
            continue
        run_dir = root / run["name"]
        target = run_dir / "analysis" / "analysis.json"
        if not target.is_file():
            write_analysis(analyze_run_dir(run_dir, functional=True), target.parent)
        out[run["name"]] = summarize_analysis(json.loads(target.read_text()))
    return out


def summarize_analysis(analysis: dict[str, Any]) -> dict[str, Any]:
    """The per-task numbers results.md reports from a full analysis.json."""
    keep = ("tasks", "rho_per_task", "residual_per_task", "similarity_col_mean", "mean_similarity_col",
            "mean_angle_col_deg", "mean_rho", "mean_residual", "mean_erank")
    summary = {k: analysis["summary"][k] for k in keep if k in analysis["summary"]}
    if "functional" in analysis:
        summary["functional"] = analysis["functional"]
    return summary


def run_suite(spec: dict[str, Any], root: Path, results: Path, *, quick: bool = False,
              collect_only: bool = False, only: set[str] | None = None,
              seeds: set[int] | None = None) -> dict[str, Any]:
    """Run (or collect) every run of ``spec``; write and return the summary JSON. With ``only`` or
    ``seeds``, runs of other experiments or seeds are collected where finished, never started. A
    run not finished under ``root`` keeps its record from the summary being replaced
    (:mod:`committed`): the runs of another checkout stay in the evidence."""
    unknown = (only or set()) - {e["name"] for e in spec["experiments"]}
    if unknown:
        raise SystemExit(f"--only: no experiment named {sorted(unknown)} in suite {spec['suite']!r}")
    suite_root = root / spec["suite"]
    out = results / spec["suite"]
    old = committed_summary(out.with_suffix(".json"), quick=quick)
    kept = runs_by_row_and_seed(old)
    runs = expand(spec, quick)
    per_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    records = []
    for run in runs:
        skip = collect_only or (only is not None and run["group"] not in only) or (
            seeds is not None and run["seed"] not in seeds)
        res = run_one(run, suite_root, skip, in_process=quick)
        if res is None:
            if (run["group"], run["seed"]) in kept:
                if not ran_with(kept[run["group"], run["seed"]], run["set"]):
                    # averaging it with runs of the row as it reads now would mix two experiments
                    raise SystemExit(f"{spec['suite']}: the committed run {run['name']} was trained with another "
                                     "command than the suite gives now; a changed row is a new experiment: "
                                     "give it a new name (or remove the old row's records)")
                records.append(kept[run["group"], run["seed"]])
                per_group[run["group"]].append(records[-1]["metrics"])
            continue
        metrics = res["metrics"]
        per_group[run["group"]].append(metrics)
        records.append({"run": run["name"], "group": run["group"], "seed": run["seed"],
                        "command": run_command(run["set"], str(suite_root)),
                        "metrics": {k: metrics.get(k) for k in COLUMNS},
                        "accuracy_matrix": res["train_info"]["accuracy_matrix"],
                        **{k: res["train_info"][k] for k in ("task_curves",) if k in res["train_info"]},
                        **stream_and_gates(suite_root / run["name"])})
    groups = {g: group_stats(ms, COLUMNS) for g, ms in per_group.items()}
    finished = [r for r in runs if (suite_root / r["name"] / "results.json").is_file()]
    analysis = analyze_runs(spec, finished, suite_root)
    # a run analysed on another checkout keeps its summary
    analysed = old.get("analysis", {})
    analysis = {**{r["run"]: analysed[r["run"]] for r in records if r["run"] in analysed}, **analysis}
    summary = {"suite": spec["suite"], "spec": spec, "quick": quick, "groups": groups, "runs": records,
               "analysis": analysis}
    write_json(out.with_suffix(".json"), summary)
    write_text(out.with_suffix(".md"), markdown_table(groups))
    return summary


def stream_and_gates(run_dir: Path) -> dict[str, Any]:
    """What the per-family reading needs beyond the matrix, kept beside it so it can be recomputed
    from the committed JSON: the task names and families (streams that name families) and the gate
    digest (gated runs)."""
    from litelora.reporting.families import run_families

    if not (run_dir / "stream.json").is_file():
        return {}
    facts = run_families(run_dir)
    out: dict[str, Any] = {}
    if any(f is not None for f in facts["families"]):
        out.update(tasks=facts["names"], families=facts["families"], repeat_of=facts["repeat_of"])
    if facts["gates"] is not None:
        out["gates"] = facts["gates"]
    return out


def markdown_table(groups: dict[str, dict[str, Any]]) -> str:
    lines = [f"| experiment | n | {' | '.join(COLUMNS)} |", "|---|---|" + "---|" * len(COLUMNS)]
    for g, stats in groups.items():
        cells = [f"{stats[k]['mean']:.3f} ± {stats[k]['std']:.3f}" if k in stats else "-" for k in COLUMNS]
        lines.append(f"| {g} | {next(iter(stats.values()))['n']} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="YAML with suite, common overrides, seeds and experiments")
    parser.add_argument("--collect-only", action="store_true", help="aggregate finished runs; start none")
    parser.add_argument("--quick", action="store_true", help="the suite's tiny version, in this process")
    parser.add_argument("--only", help="comma-separated experiment names to run (the others are only collected)")
    parser.add_argument("--seeds", help="comma-separated seeds (task orders) to run (the others are only collected)")
    parser.add_argument("--root", default="runs", help="where run directories go (default runs/)")
    parser.add_argument("--results", default="reproduce/results", help="where the summary JSON/MD go")
    args = parser.parse_args()
    summary = run_suite(load_spec(args.spec), Path(args.root), Path(args.results), quick=args.quick,
                        collect_only=args.collect_only, only=set(args.only.split(",")) if args.only else None,
                        seeds={int(s) for s in args.seeds.split(",")} if args.seeds else None)
    print(markdown_table(summary["groups"]))


if __name__ == "__main__":
    main()
