"""``litelora compare RUN_DIR...``: one table (mean ± std over seeds) and a Pareto plot for several runs."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare finished runs: metrics table (mean ± std over seeds) and Pareto plot",
        description="Group finished runs (by method, gate and gate strength, or by --label-from config keys) and "
                    "write comparison.md/.csv/.json, pareto.png/.csv and comparison.html into OUT_DIR.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run directories (holding results.json)")
    p.add_argument("-o", "--output-dir", default="comparison", help="output folder (default ./comparison)")
    p.add_argument("--label-from", action="append", default=[], metavar="KEY[,KEY...]",
                   help="group by these dotted config keys instead (e.g. method.name,gate.params.lam); repeatable")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.reporting.compare_report import build_comparison, table_rows

    from litelora._paths import refuse_inside

    for run_dir in args.run_dirs:
        refuse_inside(args.output_dir, run_dir, "compared")
    keys = [k for item in args.label_from for k in item.split(",") if k.strip()]
    cmp, files = build_comparison(args.run_dirs, args.output_dir, keys or None)
    rows = table_rows(cmp)
    shown = [0, 1, 3, 7, 10]  # group, n, final acc, forgetting, active adapters
    widths = [max(len(r[i]) for r in rows) for i in shown]
    for row in rows:
        print("  ".join(row[i].ljust(w) for i, w in zip(shown, widths)).rstrip())
    for w in cmp.warnings:
        print(f"note: {w}")
    print(f"comparison written to {files['comparison.md'].parent} ({', '.join(files)})")
    return 0
