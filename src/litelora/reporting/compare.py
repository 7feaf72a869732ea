"""Compare finished runs: one row per group of runs (a method and gate setting over seeds).

Groups the runs' ``results.json`` by a label (the method, plus the gate kind and strength when a
gate is on: ``lam`` for ``hard_concrete``, ``tau`` for ``representability``; or dotted config
keys, ``label_from``) and writes into one folder: ``comparison.md`` / ``.csv`` (groups as rows,
the DESIGN.md section 7 metrics as mean and sample std over the group's runs), ``comparison.json``
(also every run's values), ``pareto.png`` / ``.csv`` (final accuracy against active adapters, one
point per run, group means marked) and ``comparison.html`` (the table and the figure, self-contained).
Every run is read and checked before anything is written: a bad input leaves no output.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litelora._io import atomic_path, read_json, write_json, write_text
from litelora.errors import ConfigError, DataError
from litelora.metrics import aggregate_seeds
from litelora.reporting.tables import csv_text
from litelora.reporting.pareto import PARETO_X, PARETO_Y, pareto_png, pareto_rows

# (key in results.json "metrics", column title, kind): kind picks the number format.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("final_acc_sample", "final acc", "frac"),
    ("final_acc_task_mean", "final acc (task mean)", "frac"),
    ("aia_sample", "avg incremental acc", "frac"),
    ("aia_task_mean", "avg incremental acc (task mean)", "frac"),
    ("forgetting_first", "forgetting", "frac"),
    ("forgetting_max", "forgetting (max)", "frac"),
    ("bwt", "BWT", "frac"),
    ("active_adapters", "active adapters", "count"),
    ("adapter_reduction", "adapter reduction", "frac"),
    ("adapter_params", "adapter params", "count"),
    ("adapter_bytes", "adapter bytes", "count"),
    ("train_seconds", "train seconds", "seconds"),
)
METRIC_KEYS = tuple(k for k, _, _ in METRICS)


@dataclass
class RunSummary:
    """One finished run: where it is, its group label, seed and metrics (numbers or None)."""

    path: Path
    label: str
    seed: int | None
    benchmark: str | None
    metrics: dict[str, float | None]
    config: dict[str, Any] = field(default_factory=dict)  # flattened: dotted key -> value


# Fields that may differ between the seeds of one experiment without making it another one.
SEED_FIELDS = ("output_dir", "train.seed", "benchmark.seed", "benchmark.class_order", "benchmark.options.order",
               "benchmark.options.tasks", "benchmark.options.skip_missing", "train.progress", "train.num_threads",
               "train.log_every", "train.tensorboard", "train.checkpoint_every", "train.device")


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(config, dict):
        return {prefix: config} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(_flatten(v, key) if isinstance(v, dict) and v else {key: v})
    return out


def split_by_config(runs: list[RunSummary]) -> list[RunSummary]:
    """Runs whose default labels agree but whose configs differ in a field other than the seed's
    (a shorter run, another learning rate) get those fields added to their labels, so they are
    not averaged together."""
    by_label: dict[str, list[RunSummary]] = {}
    for r in runs:
        by_label.setdefault(r.label, []).append(r)
    for label, members in by_label.items():
        keys = sorted({k for r in members for k in r.config} - set(SEED_FIELDS))
        varying = [k for k in keys if len({json.dumps(r.config.get(k), sort_keys=True) for r in members}) > 1]
        for r in members if varying else []:
            r.label = f"{label} ({', '.join(f'{k}={_fmt_value(r.config.get(k))}' for k in varying)})"
    return runs


@dataclass
class Group:
    """Runs sharing a label, and each metric's ``{"mean", "std", "n"}`` over them (None: no run has it)."""

    label: str
    runs: list[RunSummary]
    stats: dict[str, dict[str, float] | None] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int | None]:
        return [r.seed for r in self.runs]


@dataclass
class Comparison:
    groups: list[Group]
    label_from: list[str] | None
    warnings: list[str]

    @property
    def runs(self) -> list[RunSummary]:
        return [r for g in self.groups for r in g.runs]


# ----------------------------------------------------------------------------- reading
def _lookup(config: Any, dotted: str) -> tuple[bool, Any]:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def default_label(run_info: dict[str, Any]) -> str:
    """``method``, or ``method + gate lam=...`` (``tau=...`` for the representability gate,
    ``budget=...`` when a budget replaces either); method params set in the config follow in
    parentheses, so two runs of one method with other params get two groups."""
    method = str(run_info.get("method", "?"))
    found_params, params = _lookup(run_info.get("config"), "method.params")
    if found_params and isinstance(params, dict) and params:
        method += " (" + ", ".join(f"{k}={_fmt_value(v)}" for k, v in sorted(params.items())) + ")"
    gate = run_info.get("gate") or "none"
    if gate == "none":
        return method
    found, gate_cfg = _lookup(run_info.get("config"), "gate")
    strength = {"hard_concrete": "lam", "representability": "tau"}.get(str(gate), "lam")
    if found and isinstance(gate_cfg, dict) and gate_cfg.get("budget") is not None:
        strength = "budget"
    if found and isinstance(gate_cfg, dict) and strength in gate_cfg:
        return f"{method} + {gate} {strength}={_fmt_value(gate_cfg[strength])}"
    return f"{method} + {gate}"


def _label(run_info: dict[str, Any], label_from: Sequence[str] | None, file: Path) -> str:
    if not label_from:
        return default_label(run_info)
    config = run_info.get("config")
    parts = []
    for key in label_from:
        found, value = _lookup(config, key)
        if not found:
            raise ConfigError(f"--label-from {key!r}: {file} has no config field {key!r} under run_info.config "
                              "(use dotted config keys such as method.name or gate.lam)")
        parts.append(f"{key}={_fmt_value(value)}")
    return ", ".join(parts)


def _number(value: Any, key: str, file: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{file}: metrics.{key} must be a number or null, got {type(value).__name__} {value!r}")
    value = float(value)
    return value if math.isfinite(value) else None


def load_run_summary(run_dir: str | os.PathLike[str], label_from: Sequence[str] | None = None) -> RunSummary:
    """The comparison's view of one run directory; a clear error when it is not a finished run."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ConfigError(f"{root} does not exist or is not a folder: not a litelora run directory")
    file = root / "results.json"
    if not file.is_file():
        if (root / "config.yaml").is_file():
            why = "the run has not finished (resume it with litelora train --resume)"
        elif any(p.is_dir() and (p / "results.json").is_file() for p in sorted(root.iterdir())):
            why = f"it holds run directories: pass those instead (e.g. {root}{os.sep}*)"
        else:
            why = "not a litelora run directory"
        raise ConfigError(f"{root} has no results.json: {why}")
    try:
        results = read_json(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(results, dict) or not isinstance(results.get("metrics"), dict):
        raise DataError(f"{file}: expected an object with a 'metrics' object (a litelora results.json)")
    run_info = results.get("run_info") if isinstance(results.get("run_info"), dict) else {}
    train_info = results.get("train_info") if isinstance(results.get("train_info"), dict) else {}
    seed = train_info.get("seed")
    seed = _lookup(run_info.get("config"), "train.seed")[1] if seed is None else seed
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    metrics = {k: _number(results["metrics"].get(k), k, file) for k in METRIC_KEYS}
    benchmark = run_info.get("benchmark")
    return RunSummary(root, _label(run_info, label_from, file), seed,
                      benchmark if isinstance(benchmark, str) else None, metrics, _flatten(run_info.get("config")))


def compare_runs(run_dirs: Sequence[str | os.PathLike[str]], label_from: Sequence[str] | None = None) -> Comparison:
    """Read every run, group them by label (in order of first appearance) and aggregate each metric."""
    if not run_dirs:
        raise ConfigError("compare needs at least one run directory")
    label_from = [k.strip() for k in label_from or [] if k.strip()] or None
    seen: dict[Path, str] = {}
    runs = []
    for d in run_dirs:
        key = Path(d).resolve()
        if key in seen:
            raise ConfigError(f"run directory {d} is given twice (also as {seen[key]}): each run counts once")
        seen[key] = str(d)
        runs.append(load_run_summary(d, label_from))
    if label_from is None:
        runs = split_by_config(runs)
    groups: dict[str, Group] = {}
    for r in runs:
        groups.setdefault(r.label, Group(r.label, [])).runs.append(r)
    warnings = []
    for g in groups.values():
        for k in METRIC_KEYS:
            values = [r.metrics[k] for r in g.runs if r.metrics[k] is not None]
            g.stats[k] = aggregate_seeds(values) if values else None
        seeds = [s for s in g.seeds if s is not None]
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            warnings.append(f"group {g.label!r} has more than one run with seed {repeated}: its std is not a spread "
                            "over seeds")
        partial = [title for k, title, _ in METRICS if g.stats[k] is not None and g.stats[k]["n"] < len(g.runs)]
        if partial:
            warnings.append(f"group {g.label!r}: {', '.join(partial)} missing in some runs (their n is smaller)")
    benchmarks = sorted({r.benchmark for r in runs if r.benchmark})
    if len(benchmarks) > 1:
        warnings.append(f"the runs come from different benchmarks {benchmarks}: their numbers are not comparable")
    return Comparison(list(groups.values()), label_from, warnings)


# ----------------------------------------------------------------------------- tables
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
            "Accuracies, forgetting, BWT and adapter reduction are fractions (DESIGN.md section 7).")


# ----------------------------------------------------------------------------- HTML
def render_html(cmp: Comparison, png: bytes | None, n_points: int) -> str:
    """The page: inline CSS, the figure as a ``data:`` URI, no script and no link."""
    e = html.escape
    rows = table_rows(cmp)
    style = ("body{font-family:sans-serif;max-width:1300px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}"
             "td{text-align:right}td:first-child,td:nth-child(3){text-align:left}"
             "img{max-width:100%;display:block;margin:0.5em 0}.note{color:#a40}")
    title = f"litelora comparison: {len(cmp.runs)} runs in {len(cmp.groups)} groups"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{style}</style></head><body>", f"<h1>{e(title)}</h1>"]
    parts += [f"<p class='note'>{e(w)}</p>" for w in cmp.warnings]
    parts.append(f"<section id='table'><h2>Metrics</h2><p>{e(_legend(cmp))}</p><table>")
    parts.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in rows[0]) + "</tr>")
    parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows[1:]]
    parts.append("</table><p><small>Data: comparison.csv and comparison.json.</small></p></section>")
    parts.append("<section id='pareto'><h2>Final accuracy against active adapters</h2>")
    if png is None:
        parts.append("<p class='note'>No run has both final_acc_sample and active_adapters: no figure.</p>")
    else:
        parts.append(f"<p>{n_points} runs, one dot each, coloured by group; diamonds are group means with their "
                     "std. Up and to the left is better.</p>")
        parts.append(f"<img alt='Pareto plot' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>")
    parts.append("<p><small>Data: pareto.csv.</small></p></section>")
    parts.append("<section id='runs'><h2>Runs</h2><ul>" + "".join(
        f"<li>{e(g.label)}: {e(', '.join(str(r.path) for r in g.runs))}</li>" for g in cmp.groups)
        + "</ul></section></body></html>")
    return "\n".join(parts)


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
