"""``litelora report RUN_DIR``: one self-contained HTML page of a run (analysing it first if
needed); with several run directories, the comparison table and Pareto plot (``compare``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report of a run directory")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("-o", "--output", help="HTML file (default RUN_DIR/report/report.html); with several runs, "
                                          "the comparison folder (default ./comparison)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora._paths import confined, refuse_inside
    from litelora.analysis import write_analysis
    from litelora.workflows.analysis import analyze_run_dir
    from litelora.errors import ConfigError
    from litelora.reporting import RunDirectory
    from litelora.reporting.html_report import build_report

    if len(args.run_dirs) > 1:
        from litelora.cli import compare_cmd

        return compare_cmd.run(argparse.Namespace(run_dirs=args.run_dirs, output_dir=args.output or "comparison",
                                                  label_from=[]))
    run_dir = Path(args.run_dirs[0])
    run = RunDirectory(run_dir)
    if not run.is_run():
        raise ConfigError(f"{run_dir} holds no config.yaml: not a litelora run directory")
    if args.output is not None:
        if not args.output:
            raise ConfigError("-o is empty; name the HTML file to write")
        # The page's CSVs and data.json go beside it: its folder must be the run's report/ or elsewhere.
        refuse_inside(args.output, run_dir, "reported", allowed="report", is_file=True)
    analysis_json = confined(run.analysis, "analysis.json")
    finished = run.path("results.json").is_file()
    if finished and not analysis_json.is_file() and confined(run.adapters, "bank.json").is_file():
        # The factor analysis is cheap (no model, no data): run it so the report has its figures.
        write_analysis(analyze_run_dir(run_dir), analysis_json.parent)
    out = build_report(run_dir, args.output)
    print(f"report written to {out}")
    return 0
