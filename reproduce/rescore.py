"""Score every finished run of a suite on a larger test set, and pair each row with the host by seed.

A run's final accuracy on 20 test examples per class carries about 2 points of sampling noise.
The trained models do not change with the test set, so this re-scores each run's final model with
``litelora eval RUN --test-extra N`` (up to N more test examples per class, taken past the
examples the run trained on; the data are checked against the run's record, and an extra that
repeats a training or test text is left out). Each run's scores are kept in
``<root>/<suite>/rescored/<run>_extra<N>.json`` with the run's id (a killed pass resumes where it
stopped; a run trained again is scored again) and the suite's summary goes to ``reproduce/results/rescored_<suite>.json``,
which ``render_results.py`` reads. Only the final model is scored: the accuracy matrix keeps the
run's own test set. A run whose directory is not under ``--root`` keeps its score from the
committed summary (when that used the same ``--test-extra``).

    python reproduce/rescore.py reproduce/suites/families_generative_16ep.yaml --test-extra 40
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
from render_evidence import host_pairs  # noqa: E402
from run_experiments import expand, load_spec  # noqa: E402

from litelora._io import write_json  # noqa: E402
from litelora.metrics import aggregate_seeds  # noqa: E402


def scored_run(run_dir: Path, cache: Path, threads: int | None, flags: list[str]) -> dict[str, Any] | None:
    """``litelora eval RUN_DIR <flags> --json`` of a finished run (``None``: the run has not
    finished), read from ``cache`` where an earlier pass scored this very run (its ``run.json``
    id: a run trained again is scored again)."""
    if not (run_dir / "results.json").is_file():
        return None
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    if cache.is_file():
        kept = json.loads(cache.read_text())
        if kept.get("run_id") == run_id:
            return kept
    cache.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "litelora", "eval", str(run_dir), *flags, "--json", str(cache)]
    if threads:
        cmd += ["--threads", str(threads)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(cache.read_text())


def host_of(group: str, groups: list[str], default: str) -> str:
    """The row ``group`` is measured against: a gated row's host as the results page pairs them
    (``host_pairs``); else the row it extends (``X`` for ``X+uniform-r1``, then for
    ``X-2x-epochs``: the longest such row); else ``default`` (for closed-after-task-0 and the like)."""
    paired = {gated: host for host, gated in host_pairs(dict.fromkeys(groups))}
    if group in paired:
        return paired[group]
    for sep in ("+", "-"):
        prefixes = [g for g in groups if g != group and group.startswith(g + sep)]
        if prefixes:
            return max(prefixes, key=len)
    return default


def still_current(record: dict[str, Any], trained: dict[str, Any] | None) -> bool:
    """Whether a committed score ``record`` is of the run the suite's summary records now
    (``trained``): the same accuracy on the run's own test set. A run retrained since (another
    checkout, a changed setting) reads another, and its old score would pair with the new host."""
    if trained is None:
        return True  # the suite's summary lost the run: the score stands for what was rescored
    return abs(trained["metrics"]["final_acc_sample"] - record["own_final_acc"]) < 1e-9


def summarize(spec: dict[str, Any], scored: list[dict[str, Any]], host: str, extra: int) -> dict[str, Any]:
    """Per row: the final accuracy on the run's own test set and on the larger one (mean ± std over
    seeds), and the paired difference from its host (:func:`host_of`, ``host`` by default) on the
    seeds both rows ran."""
    by_group: dict[str, dict[int, dict[str, Any]]] = {}
    for run in scored:
        by_group.setdefault(run["group"], {})[run["seed"]] = run
    groups = {}
    for group, runs in by_group.items():
        own_host = host_of(group, list(by_group), host)
        hosts = by_group.get(own_host, {})
        seeds = sorted(runs)
        row: dict[str, Any] = {
            "seeds": seeds,
            "own": aggregate_seeds([runs[s]["own_final_acc"] for s in seeds]),
            "rescored": aggregate_seeds([runs[s]["final_acc"] for s in seeds]),
            "test_examples": aggregate_seeds([runs[s]["test_examples"] for s in seeds]),
        }
        paired = [s for s in seeds if s in hosts]
        if group != own_host and paired:
            diffs = [runs[s]["final_acc"] - hosts[s]["final_acc"] for s in paired]
            row["vs_host"] = {"host": own_host, "seeds": paired, "by_seed": diffs, **aggregate_seeds(diffs)}
        groups[group] = row
    return {"suite": spec["suite"], "test_extra": extra, "host": host, "runs": scored, "rescored_groups": groups}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="the suite's YAML")
    parser.add_argument("--test-extra", type=int, required=True, metavar="N",
                        help="more test examples per class, past the training ones")
    parser.add_argument("--root", type=Path, default=Path("runs"), help="where the suite's run directories are")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--host", help="the row a row without a host of its own is paired with (default: the "
                        "suite's first experiment)")
    parser.add_argument("--only", help="comma-separated rows to score (default: every row; the others keep "
                        "their committed scores)")
    parser.add_argument("--threads", type=int, help="torch CPU threads of each evaluation")
    args = parser.parse_args(argv)
    if args.test_extra < 1:
        raise SystemExit(f"--test-extra must be >= 1 (more test examples per class), got {args.test_extra}")
    spec = load_spec(args.spec)
    host = args.host or spec["experiments"][0]["name"]
    only = set(args.only.split(",")) | {host} if args.only else None
    suite_root = args.root / spec["suite"]
    out = args.results / f"rescored_{spec['suite']}.json"
    kept = runs_by_row_and_seed(committed_summary(out, test_extra=args.test_extra))
    trained = runs_by_row_and_seed(committed_summary(args.results / f"{spec['suite']}.json"))
    scored = []
    for run in expand(spec):
        skipped = only is not None and run["group"] not in only
        cache = suite_root / "rescored" / f"{run['name']}_extra{args.test_extra}.json"
        result = None if skipped else scored_run(suite_root / run["name"], cache, args.threads,
                                                 ["--test-extra", str(args.test_extra)])
        if result is None:  # not scored now (--only), scored on another checkout, or not finished
            record = kept.get((run["group"], run["seed"]))
            if record is not None and still_current(record, trained.get((run["group"], run["seed"]))):
                scored.append(record)
            elif record is not None:
                print(f"{run['name']}: its committed score is of an earlier run (the suite's record now reads "
                      "another accuracy on its own test set); dropped until rescored", flush=True)
            continue
        own = json.loads((suite_root / run["name"] / "results.json").read_text())["metrics"]["final_acc_sample"]
        scored.append({"group": run["group"], "seed": run["seed"], "final_acc": result["final_acc_sample"],
                       "own_final_acc": own, "test_examples": sum(t["n"] for t in result["tasks"]),
                       "tasks": result["tasks"]})
        print(f"{run['name']}: {own:.3f} on its own test set, {result['final_acc_sample']:.3f} on "
              f"{scored[-1]['test_examples']} examples", flush=True)
    summary = summarize(spec, scored, host, args.test_extra)
    write_json(out, summary)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
