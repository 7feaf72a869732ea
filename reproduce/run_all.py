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
ANALYSIS_FIGURES = ("similarity", "rho", "functional")


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
        summary = run_suite(spec, args.root, results, quick=args.quick)
        if not args.no_report:
            figures = args.root / "figures" if args.quick else HERE.parent / "docs" / "figures"
            write_report(spec, args.root, figures)
            write_analysis_figures(spec, summary, args.root, figures)
    out = args.root / "results.md" if args.quick else HERE.parent / "docs" / "results.md"
    from litelora._io import write_text

    write_text(out, render(results, figures_dir=out.parent / "figures"))
    print(f"wrote {out}")
    return 0


def write_report(spec: dict, root: Path, figures: Path) -> None:
    """``litelora report`` over the suite's finished runs (and its ``peers``, the runs of another
    suite it is read against): comparison table, Pareto plot, HTML; the Pareto plot is copied to
    ``figures/<suite>-pareto.png``."""
    from litelora.cli.main import main as litelora_main

    run_dirs = [root / spec["suite"] / r["name"] for r in expand(spec)]
    peers = spec.get("peers")
    if peers:
        run_dirs += [root / peers["suite"] / f"{g}_s{peers['seed']}" for g in peers["groups"]]
    run_dirs = [d for d in run_dirs if (d / "results.json").is_file()]
    out = root / spec["suite"] / "report"
    if len(run_dirs) < 2:
        return
    if litelora_main(["report", *map(str, run_dirs), "-o", str(out)]) != 0:
        raise SystemExit(f"report of suite {spec['suite']} failed")
    if (out / "pareto.png").is_file():
        _write_png(figures / f"{spec['suite']}-pareto.png", (out / "pareto.png").read_bytes())


def write_analysis_figures(spec: dict, summary: dict, root: Path, figures: Path) -> None:
    """The redundancy figures (similarity heat maps, rho(t), functional drop) of the suite's first
    analysed run, as ``figures/<suite>-<section>-<i>.png``."""
    from litelora.reporting.html_report import collect_sections

    analysed = list(summary.get("analysis", {}))
    if not analysed:
        return
    sections, _ = collect_sections(root / spec["suite"] / analysed[0])
    for section in sections:
        if section.key in ANALYSIS_FIGURES:
            for i, png in enumerate(section.images):
                _write_png(figures / f"{spec['suite']}-{section.key}-{i}.png", png)


def _write_png(path: Path, data: bytes) -> None:
    from litelora._io import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


if __name__ == "__main__":
    sys.exit(main())
