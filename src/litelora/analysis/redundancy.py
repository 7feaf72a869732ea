"""Redundancy of task adapters, per module and summarised: which later tasks could the earlier
adapters have represented? Input is factors only (from a live bank, a saved bank or PEFT folders)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litelora.reporting.tables import csv_text
from litelora._io import check_tensor, write_json, write_text
from litelora.adapters import AdapterBank, AdapterSlot, BankLinear, LoraAdapter
from litelora.adapters.peft_io import peft_scale, read_peft
from litelora.adapters.serialization import BANK_JSON, BANK_TENSORS, read_saved_bank
from litelora.analysis.subspace import (
    Factors,
    effective_rank_of,
    extend_basis,
    factor_svd,
    frobenius_gram,
    linear_cka,
    pairwise_subspaces,
    projected_norm_sq,
    residuals_from_gram,
    stacked_effective_rank_ratio,
    union_tolerance,
)
from litelora.errors import AdapterError

# One task's adapter of one module: (task_id, A (r, d_in), B (d_out, r), scale * magnitude).
TaskFactors = tuple[int, torch.Tensor, torch.Tensor, float]


# ---------------------------------------------------------------------------- inputs
def live_slots(root: nn.Module) -> dict[str, AdapterSlot]:
    """Target name (``module`` or ``module:slice``, relative to ``root``) -> slot, for every
    bank layer under ``root``; works on a model rebuilt without its ``AdapterBank`` object."""
    out: dict[str, AdapterSlot] = {}
    for name, module in root.named_modules():
        if isinstance(module, BankLinear):
            for key, slot in module.slots.items():
                out[name if key == BankLinear.FULL else f"{name}:{key}"] = slot  # type: ignore[assignment]
    return out


def factors_from_slots(slots: dict[str, AdapterSlot]) -> dict[str, list[TaskFactors]]:
    """Each slot's task adapters as ``(task_id, A, B, scale * magnitude)``; later tasks' reuse
    terms are left out, so each entry is the update its own task trained."""
    out: dict[str, list[TaskFactors]] = {}
    for target, slot in slots.items():
        entries = []
        for a in slot.adapters.values():
            assert isinstance(a, LoraAdapter)
            entries.append((a.task_id, a.lora_A.detach(), a.lora_B.detach(), float(a.magnitude) * a.scale))
        if entries:
            out[target] = entries
    return out


def factors_from_bank(bank: AdapterBank) -> dict[str, list[TaskFactors]]:
    """Factors of a live bank, per target."""
    return factors_from_slots({t: bank.slot(t) for t in bank.targets})


def factors_from_saved_bank(directory: str | os.PathLike[str]) -> dict[str, list[TaskFactors]]:
    """Factors of a bank saved by ``save_bank`` (``bank.json`` + ``adapters.safetensors``),
    read without rebuilding the model it was trained on."""
    directory = Path(directory)
    desc, tensors = read_saved_bank(directory)
    out: dict[str, list[TaskFactors]] = {}
    for target, entry in desc["targets"].items():
        rows = []
        for info in entry["adapters"]:
            key, r = f"{target}/{info['name']}", info["r"]
            where = str(directory / BANK_TENSORS)
            A = tensors.get(f"{key}/lora_A")
            B = tensors.get(f"{key}/lora_B")
            if A is None or B is None:
                raise AdapterError(f"{where} has no tensors for {key!r}: it does not match {BANK_JSON}")
            check_tensor(tensors, f"{key}/lora_A", (r, A.shape[-1]), where)
            check_tensor(tensors, f"{key}/lora_B", (B.shape[0], r), where)
            mag = float(check_tensor(tensors, f"{key}/magnitude", (), where)) if f"{key}/magnitude" in tensors else 1.0
            rows.append((int(info["task_id"]), A, B, mag * float(info["scale"])))
        if rows:
            out[target] = rows
    return out


def factors_from_peft(dirs: Sequence[str | os.PathLike[str]]) -> dict[str, list[TaskFactors]]:
    """One PEFT LoRA folder per task (task ids 0, 1, ... in the given order); modules matched
    by name, each update scaled by PEFT's ``lora_alpha / r`` (or rsLoRA's)."""
    out: dict[str, list[TaskFactors]] = {}
    for task_id, d in enumerate(dirs):
        cfg, loras = read_peft(d)
        for module, (A, B) in loras.items():
            out.setdefault(module, []).append((task_id, A, B, peft_scale(cfg, module)[1]))
    return out


# ---------------------------------------------------------------------------- analysis
def _num(x: float) -> float | None:
    """JSON has no NaN: undefined values are written as null."""
    return None if x is None or math.isnan(x) else float(x)


def _matrix(M: torch.Tensor) -> list[list[float | None]]:
    return [[_num(float(v)) for v in row] for row in M]


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _shape_problem(entries: list[TaskFactors]) -> str | None:
    d_in, d_out = entries[0][1].shape[1], entries[0][2].shape[0]
    for task, A, B, _ in entries:
        if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[1]:
            return f"task {task}: A {tuple(A.shape)} and B {tuple(B.shape)} do not form B @ A"
        if A.shape[1] != d_in or B.shape[0] != d_out:
            return (f"task {task}: update is {B.shape[0]} x {A.shape[1]} but task {entries[0][0]}'s is "
                    f"{d_out} x {d_in}; the folders/banks were not trained on the same model")
    return None


def analyze_module(entries: list[TaskFactors], probes: torch.Tensor | None = None) -> dict[str, Any]:
    """All redundancy measures of one module's task adapters (sorted by task id).

    Returns lists aligned with ``tasks``: rank, Frobenius norm, erank, rho (overlap with the
    union of earlier adapters), representability residual; task x task matrices of subspace
    similarity and mean principal angle (radians) for column and row spaces; stacked erank and
    its redundancy ratio; with ``probes`` (n, d_in) also the task x task linear CKA of outputs.
    """
    entries = sorted(entries, key=lambda e: e[0])
    updates: list[Factors] = [(B.detach().double() * coef, A.detach().double()) for _, A, B, coef in entries]
    src = entries[0][1].dtype  # rank tolerances follow the precision the factors were stored in
    svds = [factor_svd(B, A, src) for B, A in updates]
    n = len(entries)
    d_out, d_in = updates[0][0].shape[0], updates[0][1].shape[1]
    sim, angle = {}, {}
    for space, attr in (("col", "U"), ("row", "V")):
        s, a = pairwise_subspaces([getattr(f, attr) for f in svds])
        sim[space], angle[space] = _matrix(s), _matrix(a)
    # One Gram for every task's residual, and union bases grown task by task: no earlier
    # inner product or basis is recomputed, which keeps 20 tasks x 24 modules in seconds.
    residual: list[float | None] = [None] + [_num(r) for r in residuals_from_gram(frobenius_gram(updates))]
    tol = union_tolerance(src, d_out, d_in, sum(f.rank for f in svds))
    U, V = svds[0].U[:, :0], svds[0].V[:, :0]
    rho: list[float | None] = []
    for t, ((B, A), f) in enumerate(zip(updates, svds)):
        norm_sq = float(f.s.square().sum())
        rho.append(None if t == 0 or norm_sq == 0 else projected_norm_sq(B, A, U, V) / norm_sq)
        U, V = extend_basis(U, f.U, tol), extend_basis(V, f.V, tol)
    ratio, stacked, total = stacked_effective_rank_ratio(updates)
    out: dict[str, Any] = {
        "tasks": [e[0] for e in entries],
        "shape": [d_out, d_in],
        "rank": [f.rank for f in svds],
        "norm": [float(f.s.square().sum().sqrt()) for f in svds],
        "erank": [effective_rank_of(f.s) for f in svds],
        "rho": rho,
        "residual": residual,
        "similarity_col": sim["col"], "similarity_row": sim["row"],
        "angle_col": angle["col"], "angle_row": angle["row"],
        "stacked_erank": stacked, "sum_erank": total, "redundancy_ratio": _num(ratio),
    }
    if probes is not None:
        X = probes.detach().double().reshape(-1, d_in)
        outs = [(X @ A.T) @ B.T for B, A in updates]
        out["cka"] = [[_num(linear_cka(outs[i], outs[j])) for j in range(n)] for i in range(n)]
    return out


def _offdiag_mean(matrix: list[list[float | None]]) -> float | None:
    return _mean([v for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j])


def analyze_factors(
    per_target: dict[str, list[TaskFactors]], probes: dict[str, torch.Tensor] | None = None
) -> dict[str, Any]:
    """Per-module measures (``analyze_module``) and a summary over modules.

    Modules whose adapters do not share one shape are skipped with the reason in
    ``skipped``; the rest are analysed. ``summary`` holds, aligned with ``tasks``, the mean
    over modules of rho and residual, and a task x task mean similarity (col and row) over
    the modules holding both tasks; plus scalar means. JSON-ready (undefined values are null).
    """
    modules: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for target, entries in per_target.items():
        problem = _shape_problem(entries) if entries else "no adapters"
        if problem is not None:
            skipped[target] = problem
            continue
        modules[target] = analyze_module(entries, (probes or {}).get(target))
    tasks = sorted({t for m in modules.values() for t in m["tasks"]})
    index = {t: i for i, t in enumerate(tasks)}
    per_task: dict[str, list[list[float]]] = {k: [[] for _ in tasks] for k in ("rho", "residual")}
    sums: dict[str, list[list[list[float]]]] = {s: [[[] for _ in tasks] for _ in tasks] for s in ("col", "row")}
    for m in modules.values():
        for k in per_task:
            for t, v in zip(m["tasks"], m[k]):
                if v is not None:
                    per_task[k][index[t]].append(v)
        for s in sums:
            for i, ti in enumerate(m["tasks"]):
                for j, tj in enumerate(m["tasks"]):
                    if m[f"similarity_{s}"][i][j] is not None:
                        sums[s][index[ti]][index[tj]].append(m[f"similarity_{s}"][i][j])
    mods = list(modules.values())
    summary = {
        "modules": len(modules),
        "tasks": tasks,
        "rho_per_task": [_mean(v) for v in per_task["rho"]],
        "residual_per_task": [_mean(v) for v in per_task["residual"]],
        "similarity_col_mean": [[_mean(c) for c in row] for row in sums["col"]],
        "similarity_row_mean": [[_mean(c) for c in row] for row in sums["row"]],
        "mean_similarity_col": _mean([_offdiag_mean(m["similarity_col"]) for m in mods]),
        "mean_similarity_row": _mean([_offdiag_mean(m["similarity_row"]) for m in mods]),
        "mean_angle_col_deg": _deg(_mean([_offdiag_mean(m["angle_col"]) for m in mods])),
        "mean_angle_row_deg": _deg(_mean([_offdiag_mean(m["angle_row"]) for m in mods])),
        "mean_rho": _mean([v for m in mods for v in m["rho"]]),
        "mean_residual": _mean([v for m in mods for v in m["residual"]]),
        "mean_erank": _mean([v for m in mods for v in m["erank"]]),
        "mean_redundancy_ratio": _mean([m["redundancy_ratio"] for m in mods]),
    }
    notes = []
    if len(tasks) < 2:
        notes.append("fewer than two tasks: nothing to compare, so pairwise and rho/residual values are empty")
    if skipped:
        notes.append(f"{len(skipped)} module(s) skipped; see 'skipped'")
    return {"summary": summary, "modules": modules, "skipped": skipped, "notes": notes}


def _deg(x: float | None) -> float | None:
    return None if x is None else math.degrees(x)


def write_analysis(result: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``analysis.json`` and long-format CSVs (``similarity.csv``: every module, space and
    task pair; ``per_task.csv``: every module and task; ``modules.csv``; ``tasks.csv``: the
    per-task means, with the functional test when present) into ``out_dir``; returns the JSON path."""
    out_dir = Path(out_dir)
    sim = [["module", "space", "task_i", "task_j", "similarity", "mean_angle_deg"]]
    per_task = [["module", "task", "rank", "norm", "erank", "rho", "residual"]]
    mods = [["module", "tasks", "stacked_erank", "sum_erank", "redundancy_ratio"]]
    for name, m in result["modules"].items():
        for space in ("col", "row"):
            for i, ti in enumerate(m["tasks"]):
                for j, tj in enumerate(m["tasks"]):
                    a = m[f"angle_{space}"][i][j]
                    sim.append([name, space, ti, tj, m[f"similarity_{space}"][i][j], _deg(a)])
        for k, t in enumerate(m["tasks"]):
            per_task.append([name, t] + [m[c][k] for c in ("rank", "norm", "erank", "rho", "residual")])
        mods.append([name, len(m["tasks"]), m["stacked_erank"], m["sum_erank"], m["redundancy_ratio"]])
    s = result["summary"]
    functional = {r["task"]: r for r in result.get("functional") or []}
    extra = ["accuracy", "projected_accuracy", "drop"] if functional else []
    means = {t: (r, e) for t, r, e in zip(s["tasks"], s["rho_per_task"], s["residual_per_task"])}
    tasks = [["task", "rho_mean", "residual_mean", *extra]] + [
        [t, *means.get(t, (None, None)), *[functional.get(t, {}).get(k) for k in extra]]
        for t in sorted(set(means) | set(functional))]
    for fname, rows in (("similarity.csv", sim), ("per_task.csv", per_task), ("modules.csv", mods),
                        ("tasks.csv", tasks)):
        write_text(out_dir / fname, csv_text(rows))
    write_json(out_dir / "analysis.json", result)
    return out_dir / "analysis.json"
