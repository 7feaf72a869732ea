"""Compare finished runs, part 1: read and group them (one group per method and gate setting
over seeds). ``litelora.reporting.compare_report`` renders and writes the comparison.

Groups the runs' ``results.json`` by a label (the method, plus the gate kind and strength when a
gate is on: ``lam`` for ``hard_concrete``, ``tau`` for ``representability``; or dotted config
keys, ``label_from``); runs that differ in any other config field than the seed are split into
groups of their own. Every run is read and checked before anything is written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litelora._config import lookup
from litelora._io import read_json
from litelora.errors import ConfigError, DataError
from litelora.metrics import aggregate_seeds

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
def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def default_label(run_info: dict[str, Any]) -> str:
    """``method``, or ``method + gate lam=...`` (``tau=...`` for the representability gate,
    ``novelty=...`` for litelora, ``budget=...`` when a budget replaces the threshold); method params set in the config follow in
    parentheses, so two runs of one method with other params get two groups."""
    method = str(run_info.get("method", "?"))
    found_params, params = lookup(run_info.get("config"), "method.params")
    if found_params and isinstance(params, dict) and params:
        method += " (" + ", ".join(f"{k}={_fmt_value(v)}" for k, v in sorted(params.items())) + ")"
    gate = run_info.get("gate") or "none"
    if gate == "none":
        return method
    found, gate_cfg = lookup(run_info.get("config"), "gate")
    # The field that sets how much each gate closes (a plugin gate shows its name alone).
    strength = {"hard_concrete": "lam", "representability": "tau", "litelora": "novelty",
                "random": "budget"}.get(str(gate), "")
    if found and isinstance(gate_cfg, dict) and gate_cfg.get("budget") is not None:
        strength = "budget"
    if found and isinstance(gate_cfg, dict) and strength and strength in gate_cfg:
        return f"{method} + {gate} {strength}={_fmt_value(gate_cfg[strength])}"
    return f"{method} + {gate}"


def _label(run_info: dict[str, Any], label_from: Sequence[str] | None, file: Path) -> str:
    if not label_from:
        return default_label(run_info)
    config = run_info.get("config")
    parts = []
    for key in label_from:
        found, value = lookup(config, key)
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
    seed = lookup(run_info.get("config"), "train.seed")[1] if seed is None else seed
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
