"""The Pareto view of a comparison: final accuracy against active adapters, per run and per
group mean, with the non-dominated runs marked (``pareto.csv`` / ``pareto.png``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from matplotlib.figure import Figure

from litelora.reporting.plots import png, series_style



class _Run(Protocol):
    path: Any
    seed: int | None
    metrics: dict[str, float | None]


class _Group(Protocol):
    """What the Pareto data reads of a comparison's group (``compare.Group``)."""

    label: str
    runs: Sequence[_Run]
    stats: dict[str, Any]

PARETO_X, PARETO_Y = "active_adapters", "final_acc_sample"


def _dominated(p: tuple[float, float], points: Sequence[tuple[float, float]]) -> bool:
    """Fewer adapters and higher accuracy are better: is some point at least as good in both and better in one?"""
    return any(q[0] <= p[0] and q[1] >= p[1] and (q[0] < p[0] or q[1] > p[1]) for q in points)


def pareto_rows(groups: Sequence[_Group]) -> list[list[Any]]:
    """Header first: one ``run`` row per run with both numbers, one ``group_mean`` row per group;
    ``pareto_optimal`` is 1 for runs no other run beats on both axes (means: among the means)."""
    header = ["kind", "group", "run_dir", "seed", PARETO_X, PARETO_Y, PARETO_X + "_std", PARETO_Y + "_std",
              "pareto_optimal"]
    runs = [(g, r) for g in groups for r in g.runs
            if r.metrics[PARETO_X] is not None and r.metrics[PARETO_Y] is not None]
    run_pts = [(r.metrics[PARETO_X], r.metrics[PARETO_Y]) for _, r in runs]
    rows: list[list[Any]] = [header]
    for (g, r), p in zip(runs, run_pts):
        rows.append(["run", g.label, str(r.path), r.seed, p[0], p[1], None, None, int(not _dominated(p, run_pts))])
    means = [(g, g.stats[PARETO_X], g.stats[PARETO_Y]) for g in groups
             if g.stats[PARETO_X] is not None and g.stats[PARETO_Y] is not None]
    mean_pts = [(sx["mean"], sy["mean"]) for _, sx, sy in means]  # type: ignore[index]
    for (g, sx, sy), p in zip(means, mean_pts):
        rows.append(["group_mean", g.label, None, None, p[0], p[1], sx["std"], sy["std"],  # type: ignore[index]
                     int(not _dominated(p, mean_pts))])
    return rows


def pareto_png(rows: list[list[Any]], labels: Sequence[str]) -> bytes:
    """The Pareto figure from ``pareto_rows``: runs as dots coloured by group, group means as
    diamonds with std error bars, the non-dominated runs joined by a dashed step line."""
    head, data = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(head)}
    style = {label: series_style(i) for i, label in enumerate(labels)}
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for label in labels:
        pts = [r for r in data if r[col["group"]] == label and r[col["kind"]] == "run"]
        if pts:
            ax.scatter([r[col[PARETO_X]] for r in pts], [r[col[PARETO_Y]] for r in pts], color=style[label]["color"],
                       marker=style[label]["marker"], alpha=0.7, s=32, label=label)
        for r in data:
            if r[col["group"]] == label and r[col["kind"]] == "group_mean":
                y, sy = r[col[PARETO_Y]], r[col[PARETO_Y + "_std"]] or 0.0
                # An accuracy bar stops at 0 and 1: the spread says where runs fell, not past certainty.
                yerr = [[min(sy, y)], [min(sy, 1.0 - y)]]
                ax.errorbar(r[col[PARETO_X]], y, xerr=r[col[PARETO_X + "_std"]], yerr=yerr, fmt="D", ms=9,
                            color=style[label]["color"], mec="black", ecolor=style[label]["color"], capsize=3,
                            zorder=3)
    front = sorted((r[col[PARETO_X]], r[col[PARETO_Y]]) for r in data
                   if r[col["kind"]] == "run" and r[col["pareto_optimal"]])
    if len(front) > 1:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", ls="--", color="grey", lw=0.8,
                label="Pareto front (runs)")
    ax.set_xlabel("active adapters (fewer is better)")
    ax.set_ylabel("final accuracy (sample-weighted)")
    ax.grid(alpha=0.3)
    if labels:
        ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5), title="diamond: group mean ± std",
                  title_fontsize=9)
    return png(fig)
