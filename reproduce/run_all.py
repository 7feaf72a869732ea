"""Run every experiment suite, then the reports: the one command behind docs/results.md.

    python reproduce/run_all.py                 # full version (hours on 2 CPU cores; resumable)
    python reproduce/run_all.py --only hosts_default savers_default
    python reproduce/run_all.py --quick --root /tmp/q   # tiny models, seconds per suite (a test runs it)

For each suite in ``reproduce/suites/*.yaml`` (the GPU protocols under ``suites/gpu/`` are
never run here) it runs the missing runs, writes ``<results>/<suite>.json``, and writes the
comparison report (table, Pareto plot, HTML) of the suite's runs into ``<root>/<suite>/report``;
then it renders ``docs/results.md`` from the JSON (``--quick`` renders into ``<root>`` instead,
so committed results are never touched by a quick run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_results import render  # noqa: E402
from run_experiments import expand, load_spec, run_suite  # noqa: E402

HERE = Path(__file__).resolve().parent


def suite_specs(only: list[str] | None = None) -> list[Path]:
    specs = sorted((HERE / "suites").glob("*.yaml"))
    if only:
        names = {p.stem for p in specs}
        unknown = sorted(set(only) - names)
        if unknown:
            raise SystemExit(f"unknown suite(s) {unknown}; known: {sorted(names)}")
        specs = [p for p in specs if p.stem in only]
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny version of every suite, in this process")
    parser.add_argument("--only", nargs="+", metavar="SUITE", help="run only these suites (file stems)")
    parser.add_argument("--root", type=Path, default=Path("runs"), help="where run directories go")
    parser.add_argument("--no-report", action="store_true", help="skip the per-suite HTML comparison reports")
    args = parser.parse_args(argv)
    results = args.root / "results" if args.quick else HERE / "results"
    for path in suite_specs(args.only):
        spec = load_spec(path)
        print(f"== suite {spec['suite']} ({path.name})", flush=True)
        run_suite(spec, args.root, results, quick=args.quick)
        if not args.no_report:
            write_report(spec, args.root, args.quick)
    out = args.root / "results.md" if args.quick else HERE.parent / "docs" / "results.md"
    from litelora._io import write_text

    write_text(out, render(results))
    print(f"wrote {out}")
    return 0


def write_report(spec: dict, root: Path, quick: bool) -> None:
    """``litelora report`` over the suite's finished runs: comparison table, Pareto plot, HTML."""
    from litelora.cli.main import main as litelora_main

    run_dirs = [str(root / spec["suite"] / r["name"]) for r in expand(spec, quick)
                if (root / spec["suite"] / r["name"] / "results.json").is_file()]
    if len(run_dirs) > 1 and litelora_main(["report", *run_dirs, "-o", str(root / spec["suite"] / "report")]) != 0:
        raise SystemExit(f"report of suite {spec['suite']} failed")


if __name__ == "__main__":
    sys.exit(main())
