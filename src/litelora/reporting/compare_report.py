"""Compare finished runs, part 2: render a :class:`~litelora.reporting.compare.Comparison` and
write it into one folder: ``comparison.md`` / ``.csv`` (groups as rows, the continual-learning
metrics as mean and sample std over each group's runs), ``comparison.json`` (also every run's
values), ``pareto.png`` / ``.csv`` (final accuracy against active adapters, one point per run,
group means marked) and ``comparison.html`` (the table and the figure, self-contained). A bad
input leaves no output: the runs are read and checked before anything is written.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litelora._io import atomic_path, write_json, write_text
from litelora.reporting.compare import METRIC_KEYS, METRICS, Comparison, Group, compare_runs
from litelora.reporting.pareto import PARETO_X, PARETO_Y, pareto_png, pareto_rows
from litelora.reporting.tables import csv_text
from litelora.reporting.templating import render_template


def format_stat(stat: dict[str, float] | None, kind: str) -> str:
    """``mean ± std`` in the metric's format; ``n/a`` when no run has the metric."""
    if stat is None:
        return "n/a"
    m, s = stat["mean"], stat["std"]
    if kind == "frac":
        return f"{m:.4f} ± {s:.4f}"
    if kind == "count" and float(m).is_integer() and float(s).is_integer():
        return f"{m:,.0f} ± {s:,.0f}"
    return f"{m:,.1f} ± {s:,.1f}"


def _seeds_text(g: Group) -> str:
    return " ".join("?" if s is None else str(s) for s in g.seeds)


def table_rows(cmp: Comparison) -> list[list[str]]:
    """The human table (header first): group, n, seeds, one ``mean ± std`` column per metric."""
    rows = [["group", "n", "seeds", *[title for _, title, _ in METRICS]]]
    for g in cmp.groups:
        rows.append([g.label, str(len(g.runs)), _seeds_text(g), *[format_stat(g.stats[k], kind)
                                                                   for k, _, kind in METRICS]])
    return rows


def csv_rows(cmp: Comparison) -> list[list[Any]]:
    """The machine table (header first): ``<metric>_mean``, ``<metric>_std`` and ``<metric>_n`` per metric."""
    rows: list[list[Any]] = [["group", "n", "seeds", *[f"{k}_{p}" for k in METRIC_KEYS for p in ("mean", "std", "n")]]]
    for g in cmp.groups:
        row: list[Any] = [g.label, len(g.runs), _seeds_text(g)]
        for k in METRIC_KEYS:
            st = g.stats[k]
            row += [None, None, 0] if st is None else [st["mean"], st["std"], st["n"]]
        rows.append(row)
    return rows


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(cmp: Comparison) -> str:
    rows = table_rows(cmp)
    lines = [f"# litelora comparison: {len(cmp.runs)} runs in {len(cmp.groups)} groups", ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in rows[0]) + " |")
    lines.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(rows[0]) - 3)) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows[1:]]
    lines += ["", _legend(cmp), ""]
    if cmp.warnings:
        lines += ["Notes:", *[f"- {w}" for w in cmp.warnings], ""]
    lines.append("Runs:")
    for g in cmp.groups:
        lines.append(f"- {_md_cell(g.label)}: " + ", ".join(f"`{r.path}`" for r in g.runs))
    return "\n".join(lines) + "\n"


def _legend(cmp: Comparison) -> str:
    by = f"grouped by {', '.join(cmp.label_from)}" if cmp.label_from else "grouped by method, gate and its strength"
    return (f"Mean ± sample std (ddof=1) over each group's runs ({by}); n = runs, std 0 for one run. "
            "Accuracies, forgetting, BWT and adapter reduction are fractions (defined in docs/evaluation.md).")


def render_html(cmp: Comparison, png: bytes | None, n_points: int) -> str:
    """The page from ``templates/comparison.html``: inline CSS, the figure as a ``data:`` URI, a
    linked table of contents, no script and no link out."""
    rows = table_rows(cmp)
    return render_template(
        "comparison.html", title=f"litelora comparison: {len(cmp.runs)} runs in {len(cmp.groups)} groups",
        warnings=cmp.warnings, legend=_legend(cmp), header=rows[0], rows=rows[1:], n_points=n_points,
        png=None if png is None else base64.b64encode(png).decode("ascii"),
        groups=[{"label": g.label, "runs": ", ".join(str(r.path) for r in g.runs)} for g in cmp.groups])


# ----------------------------------------------------------------------------- writing
def comparison_json(cmp: Comparison) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "label_from": cmp.label_from,
        "metrics": [{"key": k, "title": t, "kind": kind} for k, t, kind in METRICS],
        "pareto": {"x": PARETO_X, "y": PARETO_Y},
        "warnings": cmp.warnings,
        "groups": [{"label": g.label, "n": len(g.runs), "seeds": g.seeds, "runs": [str(r.path) for r in g.runs],
                    "stats": g.stats} for g in cmp.groups],
        "runs": [{"path": str(r.path), "label": r.label, "seed": r.seed, "benchmark": r.benchmark,
                  "metrics": r.metrics} for r in cmp.runs],
    }


def write_comparison(cmp: Comparison, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write every output into ``out_dir`` (each file atomically); returns them by name."""
    out = Path(out_dir)
    rows = pareto_rows(cmp.groups)
    n_points = sum(r[0] == "run" for r in rows[1:])
    png = pareto_png(rows, [g.label for g in cmp.groups]) if n_points else None
    files = {name: out / name for name in ("comparison.md", "comparison.csv", "comparison.json", "pareto.csv",
                                           "pareto.png", "comparison.html")}
    write_text(files["comparison.md"], render_markdown(cmp))
    write_text(files["comparison.csv"], csv_text(csv_rows(cmp)))
    write_json(files["comparison.json"], comparison_json(cmp))
    write_text(files["pareto.csv"], csv_text(rows))
    if png is not None:
        with atomic_path(files["pareto.png"]) as tmp:
            tmp.write_bytes(png)
    else:
        del files["pareto.png"]
        (out / "pareto.png").unlink(missing_ok=True)  # a figure left by an earlier comparison would mislead
    write_text(files["comparison.html"], render_html(cmp, png, n_points))
    return files


def build_comparison(run_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                     label_from: Sequence[str] | None = None) -> tuple[Comparison, dict[str, Path]]:
    """Read, group and aggregate ``run_dirs``, then write the outputs into ``out_dir``."""
    cmp = compare_runs(run_dirs, label_from)
    return cmp, write_comparison(cmp, out_dir)
