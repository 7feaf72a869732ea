"""``litelora analyze RUN_DIR``: redundancy of a run's task adapters (``--peft``: of PEFT folders)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from litelora.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="measure how much the task adapters overlap (writes analysis/analysis.json)")
    p.add_argument("run_dir", nargs="?", help="run directory (omit with --peft)")
    p.add_argument("--functional", action="store_true",
                   help="also re-evaluate each task with its adapters projected onto the earlier ones' span, and "
                        "the adapters' output CKA on test inputs (loads the model and data)")
    p.add_argument("--peft", nargs="+", metavar="DIR",
                   help="analyse PEFT LoRA folders instead, one per task, in order")
    p.add_argument("-o", "--output-dir", help="output folder (default RUN_DIR/analysis; required with --peft)")
    p.add_argument("--device", default="cpu", help="device for --functional (default cpu)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads for --functional (default: torch's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.analysis import analyze_factors, factors_from_peft, write_analysis
    from litelora._paths import refuse_inside
    from litelora.cli.options import set_threads

    set_threads(args.threads)
    from litelora.reporting import RunDirectory

    if args.peft:
        if args.run_dir or args.functional:
            raise ConfigError("--peft analyses adapter folders on their own: drop RUN_DIR and --functional")
        if not args.output_dir:
            raise ConfigError("--peft needs -o OUT: there is no run directory to write into")
        result = analyze_factors(factors_from_peft(args.peft))
        result["source"] = {"kind": "peft", "paths": [str(p) for p in args.peft]}
        out = Path(args.output_dir)
    elif args.run_dir:
        from litelora.workflows.analysis import analyze_run_dir

        result = analyze_run_dir(args.run_dir, args.functional, args.device)
        out = Path(args.output_dir) if args.output_dir else RunDirectory(args.run_dir).analysis
        refuse_inside(out, args.run_dir, "analysed", allowed="analysis")
    else:
        raise ConfigError("give a RUN_DIR, or --peft DIR [DIR ...] with -o OUT")
    path = write_analysis(result, out)
    print_summary(result)
    print(f"analysis written to {path} (CSVs beside it)")
    return 0


def print_summary(result: dict[str, Any]) -> None:
    s = result["summary"]

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    print(f"{s['modules']} modules, tasks {s['tasks']}")
    print(f"mean subspace similarity: columns {f(s['mean_similarity_col'])}, rows {f(s['mean_similarity_row'])}; "
          f"mean rho {f(s['mean_rho'])}, mean residual {f(s['mean_residual'])}, "
          f"redundancy ratio {f(s['mean_redundancy_ratio'])}")
    for t, r, e in zip(s["tasks"], s["rho_per_task"], s["residual_per_task"]):
        print(f"  task {t}: rho {f(r)}  residual {f(e)}")
    for row in result.get("functional") or []:
        print(f"  task {row['task']}: accuracy {row['accuracy']:.4f}, projected {f(row['projected_accuracy'])}, "
              f"drop {f(row['drop'])}")
    for m, why in result["skipped"].items():
        print(f"  skipped {m}: {why}")
    for note in result["notes"]:
        print(f"note: {note}")
