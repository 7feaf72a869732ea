"""One self-contained HTML page for a run: figures embedded as base64 PNG, no scripts, no links out
(the table of contents links within the page).

Reads what the run directory holds (``results.json``, ``accuracy_matrix.csv``, ``gates.json``,
``events.jsonl``) and the analysis output (``analysis/analysis.json``); a missing file drops its
sections and is listed at the top. Beside the page: ``data.json`` (every figure's numbers) and
one CSV per section.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litelora.reporting.tables import csv_text
from litelora._io import read_json, write_json, write_text
from litelora.gates.decision import GateDecision
from litelora.reporting import plots
from litelora.errors import ConfigError, DataError, LiteLoraError
from litelora.reporting.run_dir import RunDirectory
from litelora.reporting.templating import render_template



@dataclass
class Section:
    """One block of the page: a figure and/or a table, its data and its CSV rows (header first)."""

    key: str
    title: str
    text: str
    data: dict[str, Any]
    rows: list[list[Any]]
    images: list[bytes] = field(default_factory=list)
    table: list[tuple[str, str]] | None = None
    captions: list[str] = field(default_factory=list)  # one per image: what it shows and how to read it

    def __post_init__(self) -> None:
        if len(self.captions) != len(self.images):
            raise ValueError(f"section {self.key!r}: {len(self.images)} figures but {len(self.captions)} captions")


def _optional(path: Path, reader: Any, missing: list[str]) -> Any:
    if not path.is_file():
        missing.append(path.name)
        return None
    return reader(path)


def _summary(results: dict[str, Any]) -> Section:
    info = {k: v for k, v in results.get("run_info", {}).items() if isinstance(v, (str, int, float)) or v is None}
    metrics = {k: v for k, v in results.get("metrics", {}).items() if isinstance(v, (int, float)) or v is None}
    table = [(k, str(v)) for k, v in info.items()]
    table += [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in metrics.items()]
    return Section("summary", "Run summary", "Run settings and the continual-learning metrics (fractions; defined in docs/evaluation.md).",
                   {"run_info": info, "metrics": metrics}, [["name", "value"], *map(list, table)], table=table)


def _accuracy(R: list[list[float | None]]) -> list[Section]:
    T = len(R)
    series = {f"T{j}": [R[i][j] for i in range(j, T)] for j in range(T)}
    long = [["after_task", "task", "accuracy"]] + [[i, j, R[i][j]] for j in range(T) for i in range(j, T)]
    return [
        Section("accuracy-matrix", "Accuracy matrix", "R[i][j]: accuracy on task j after training task i.",
                {"R": R}, [["after_task"] + [f"task_{j}" for j in range(T)]]
                + [[i, *("" if v is None else v for v in row)] for i, row in enumerate(R)],
                [plots.accuracy_matrix(R)],
                captions=["Accuracy on each task (column) after training each task (row); the diagonal is "
                          "accuracy just after learning, lower rows show what later tasks left of it. Above the "
                          "diagonal is blank: those tasks were not yet seen."]),
        Section("accuracy-over-time", "Accuracy per task over time", "Each line follows one task from when it is "
                "learnt to the end of the stream.", {"series": series}, long, [plots.accuracy_over_time(R)],
                captions=["One line per task (colour, marker and dash differ), from the task it was learnt in "
                          "to the last task; a falling line is forgetting."]),
    ]


def _gates(decisions: list[dict[str, Any]]) -> Section:
    tasks = sorted({d["task"] for d in decisions})
    targets = list(dict.fromkeys(d["target"] for d in decisions))
    recruit: list[list[float | None]] = [[None] * len(targets) for _ in tasks]
    gate: list[list[float | None]] = [[None] * len(targets) for _ in tasks]
    read = [GateDecision.from_dict(d) for d in decisions]
    for d in read:
        i, j = tasks.index(d.task), targets.index(d.target)
        recruit[i][j] = d.rank / d.full_rank if d.full_rank else float(d.recruit)
        gate[i][j] = d.gate
    rows = [["task", "target", "group", "gate", "decision", "rank", "full_rank"]] + [
        [d.task, d.target, d.group, d.gate, d.decision, d.rank, d.full_rank] for d in read]
    kept = sum(d.recruit for d in read)
    rank, full = sum(d.rank for d in read), sum(d.full_rank for d in read)
    ranks = f" at a total rank of {rank} out of the host's {full}" if full else ""
    return Section("gates", "Gate decisions", f"{kept} of {len(decisions)} (task, module) decisions recruited a new "
                   f"adapter{ranks}; the others reuse earlier adapters.",
                   {"tasks": tasks, "targets": targets, "recruit": recruit, "gate": gate}, rows,
                   [plots.gate_grid(tasks, targets, recruit, gate)],
                   captions=["Each cell is one (task, module) decision: dark blue recruits a new adapter at the "
                             "host's rank, lighter blues at a smaller rank, light orange reuses earlier ones; the "
                             "number is the gate's value."])


def _losses(events: list[dict[str, Any]]) -> Section | None:
    curves: dict[int, tuple[list[int], list[float]]] = {}
    for e in events:
        if e.get("event") == "train" and isinstance(e.get("loss"), (int, float)):
            steps, losses = curves.setdefault(int(e["task"]), ([], []))
            steps.append(int(e["step"]))
            losses.append(float(e["loss"]))
    if not curves:
        return None
    rows = [["task", "step", "loss"]] + [[t, s, v] for t, (ss, vs) in sorted(curves.items()) for s, v in zip(ss, vs)]
    return Section("losses", "Training loss", "The mean training loss of each logging window (train.log_every "
                   "steps), per task.", {str(t): {"steps": ss, "loss": vs} for t, (ss, vs) in curves.items()},
                   rows, [plots.loss_curves(curves)],
                   captions=["Training loss against the step within each task, one line per task; each point is "
                             "the mean over a logging window."])


def _active(owned: list[int], cumulative: list[int]) -> Section:
    tasks = list(range(len(owned)))
    rows = [["task", "owned", "active_after_task"]] + [
        [t, owned[t], cumulative[t] if t < len(cumulative) else None] for t in tasks]
    return Section("active-adapters", "Active adapters per task", "Adapters each task owns in the final bank, and "
                   "the bank's size after each task.", {"tasks": tasks, "owned": owned, "cumulative": cumulative},
                   rows, [plots.active_adapters(tasks, owned, cumulative)],
                   captions=["Bars: the adapters each task owns in the final bank. Black line: the bank's active "
                             "adapters after each task."])


def _spread(items: list[str], k: int) -> list[str]:
    """Up to ``k`` items evenly spread over the list (first and last included)."""
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def _expand(m: dict[str, Any], key: str, tasks: list[int]) -> list[list[float | None]]:
    """A module's task x task matrix over its own tasks, placed on the run's task list."""
    pos = {t: i for i, t in enumerate(m["tasks"])}
    return [[m[key][pos[a]][pos[b]] if a in pos and b in pos else None for b in tasks] for a in tasks]


def _similarity(analysis: dict[str, Any]) -> Section:
    summary, modules = analysis["summary"], analysis["modules"]
    tasks = summary["tasks"]
    shown = _spread(list(modules), plots.MAX_MODULE_PANELS)
    names = dict(zip(shown, plots.short_names(shown))) if len(shown) > 1 else {m: m for m in shown}
    data: dict[str, Any] = {"tasks": tasks}
    images, rows = [], [["panel", "space", "task_i", "task_j", "similarity"]]
    for space in ("col", "row"):
        panels = {"mean over modules": summary[f"similarity_{space}_mean"]}
        panels.update({names[m]: _expand(modules[m], f"similarity_{space}", tasks) for m in shown})
        data[space] = panels
        images.append(plots.similarity_heatmaps(panels, tasks))
        rows += [[p, space, tasks[i], tasks[j], v] for p, M in panels.items() for i, r in enumerate(M)
                 for j, v in enumerate(r)]
    text = (f"||U_i^T U_j||_F^2 / min(r_i, r_j) between task adapters (1 = same subspace); first figure column "
            f"spaces, second row spaces. The mean over {len(modules)} modules and up to "
            f"{plots.MAX_MODULE_PANELS} of them.")
    captions = [f"Subspace similarity of the task adapters' {space} spaces, task against task (1: same span, "
                "0: orthogonal); the first panel is the mean over modules." for space in ("column", "row")]
    return Section("similarity", "Subspace similarity", text, data, rows, images, captions=captions)


def _rho(analysis: dict[str, Any]) -> Section:
    s = analysis["summary"]
    per_module = {m: {"tasks": v["tasks"], "rho": v["rho"]} for m, v in analysis["modules"].items()}
    rows = [["task", "rho_mean", "residual_mean"]] + [
        [t, r, e] for t, r, e in zip(s["tasks"], s["rho_per_task"], s["residual_per_task"])]
    table = [(k, "n/a" if s.get(k) is None else f"{s[k]:.4f}") for k in (
        "mean_similarity_col", "mean_similarity_row", "mean_angle_col_deg", "mean_angle_row_deg", "mean_rho",
        "mean_residual", "mean_erank", "mean_redundancy_ratio")]
    text = ("rho(t): share of task t's update (squared Frobenius norm) inside the span of the module's earlier "
            "adapters; near 1 = redundant. Residual: SD-LoRA-KD's representability residual (0 = represented).")
    return Section("rho", "Overlap with earlier adapters", text,
                   {"tasks": s["tasks"], "rho": s["rho_per_task"], "residual": s["residual_per_task"],
                    "per_module": per_module}, rows,
                   [plots.rho_curves(s["tasks"], s["rho_per_task"], s["residual_per_task"],
                                     {m: (v["tasks"], v["rho"]) for m, v in per_module.items()})], table,
                   captions=["rho(t), the share of task t's update inside its module's earlier adapters, and "
                             "the representability residual, each the mean over modules; grey lines are single "
                             "modules' rho(t)."])


def _functional(rows_in: list[dict[str, Any]]) -> Section:
    keys = ["task", "accuracy", "projected_accuracy", "drop", "modules_projected"]
    data = {k: [r[k] for r in rows_in] for k in keys}
    text = ("Accuracy lost when each task's adapters are replaced by their projection onto the earlier adapters' "
            "span; a small drop means the earlier adapters represent the task.")
    return Section("functional", "Functional representability", text, data,
                   [keys] + [[r[k] for k in keys] for r in rows_in],
                   [plots.functional_drop(data["task"], data["drop"])],
                   captions=["Accuracy each task loses when its adapters are projected onto the earlier adapters' "
                             "span; grey bars: not applicable (no earlier adapters)."])


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A file whose content is not as litelora writes it (damaged, edited) becomes one
    ``DataError`` naming it, wherever building its section trips over it."""
    try:
        yield
    except LiteLoraError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as err:
        raise DataError(f"{path}: not as litelora writes it ({type(err).__name__}: {err}); restore it, or delete it "
                        "to leave its section out of the report") from None


def collect_sections(run_dir: str | os.PathLike[str], analysis: dict[str, Any] | None = None) -> tuple[
        list[Section], list[str]]:
    """The page's sections from a run directory, and the names of the inputs that were missing."""
    run = RunDirectory(run_dir)
    if not run.is_run():
        raise ConfigError(f"{run.root} holds no config.yaml: not a litelora run directory")
    missing: list[str] = []
    sections = []
    with _reading(run.path("results.json")):
        results = _optional(run.path("results.json"), read_json, missing)
        if results is not None:
            sections.append(_summary(results))
        owned = (results or {}).get("metrics", {}).get("active_adapters_per_task")
        if owned is not None and not (isinstance(owned, list) and all(isinstance(n, int) for n in owned)):
            raise TypeError(f"metrics.active_adapters_per_task is {owned!r:.40}, not a list of counts")
    with _reading(run.path("accuracy_matrix.csv")):
        matrix = run.read_matrix() if run.path("accuracy_matrix.csv").is_file() else None
        if matrix is None:
            missing.append("accuracy_matrix.csv")
        elif matrix:
            sections += _accuracy(matrix)
    with _reading(run.path("gates.json")):
        decisions = read_json(run.path("gates.json")) if run.path("gates.json").is_file() else None
        if decisions:
            sections.append(_gates(decisions))
    with _reading(run.path("events.jsonl")):
        events = run.events() if run.path("events.jsonl").is_file() else []
        losses = _losses(events)
        if losses is not None:
            sections.append(losses)
        if owned:
            sections.append(_active(owned, [e["active_adapters"] for e in events if e.get("event") == "task_end"]))
    with _reading(run.path("analysis", "analysis.json")):
        if analysis is None:
            analysis = _optional(run.path("analysis", "analysis.json"), read_json, missing)
        if analysis and analysis.get("modules"):
            sections += [_similarity(analysis), _rho(analysis)]
        if analysis and analysis.get("functional"):
            sections.append(_functional(analysis["functional"]))
    return sections, missing


def render_html(title: str, sections: list[Section], missing: list[str]) -> str:
    """The page from ``templates/report.html`` (jinja2, every value escaped): a linked table of
    contents, inline CSS, each figure a captioned ``data:image/png;base64`` URI; no script, no link out."""
    number = 0
    views = []
    for s in sections:
        figures = []
        for png, caption in zip(s.images, s.captions):
            number += 1
            figures.append({"number": number, "caption": caption, "png": base64.b64encode(png).decode("ascii")})
        views.append({"key": s.key, "title": s.title, "text": s.text, "table": s.table, "figures": figures})
    return render_template("report.html", title=title, sections=views, missing=missing)


def build_report(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 analysis: dict[str, Any] | None = None) -> Path:
    """Write ``out`` (default ``RUN_DIR/report/report.html``), ``data.json`` and one CSV per
    section beside it; returns the HTML path. ``analysis`` defaults to ``analysis/analysis.json``."""
    sections, missing = collect_sections(run_dir, analysis)
    out = Path(out) if out is not None else RunDirectory(run_dir).path("report", "report.html")
    for s in sections:
        write_text(out.parent / f"{s.key}.csv", csv_text(s.rows))
    write_json(out.parent / "data.json", {"missing": missing, **{s.key: s.data for s in sections}})
    write_text(out, render_html(f"litelora run report: {Path(run_dir).resolve().name}", sections, missing))
    return out
