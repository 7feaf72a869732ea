"""Functional representability: can the earlier adapters stand in for a task's own?

For task t, every module's task-t update B_t A_t is replaced by its projection onto the
span of the earlier adapters of that module, P_U B_t A_t P_V = (U U^T B_t)(A_t V V^T): the
factors keep their shapes, so the swap is two in-place copies, undone exactly afterwards.
Task t is then re-evaluated; the accuracy drop says how much of the task lives outside
what earlier tasks learned (the direct test of "earlier adapters faithfully represent it").
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from litelora.adapters import AdapterSlot, BankLinear, LoraAdapter
from litelora.analysis.redundancy import live_slots
from litelora.analysis.subspace import factor_svd, orthonormal_union, union_tolerance
from litelora.benchmarks.stream import Task
from litelora.reporting.progress_bar import tqdm
from litelora.workflows.runs import load_run_model
from litelora.training.data import iter_batches
from litelora.training.evaluation import evaluate_task
from litelora.models.classifier import ContinualModel


def projected_factors(
    B: torch.Tensor, A: torch.Tensor, olds: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(U U^T B, A V V^T)`` with U, V orthonormal bases of the column and row spaces of the
    earlier updates ``olds`` (each ``(B_i, A_i)``); zeros when there are none. Shapes and
    dtype of B (d_out, r) and A (r, d_in) are kept."""
    if not olds:
        return torch.zeros_like(B), torch.zeros_like(A)
    svds = [factor_svd(Bi, Ai) for Bi, Ai in olds]
    tol = union_tolerance(B.dtype, B.shape[0], A.shape[1], sum(Bi.shape[1] for Bi, _ in olds))
    U = orthonormal_union([f.U for f in svds], tol)
    V = orthonormal_union([f.V for f in svds], tol)
    B64, A64 = B.detach().double(), A.detach().double()
    return (U @ (U.T @ B64)).to(B.dtype), ((A64 @ V) @ V.T).to(A.dtype)


def _update(a: LoraAdapter) -> tuple[torch.Tensor, torch.Tensor]:
    return a.lora_B.detach() * (a.magnitude.detach() * a.scale), a.lora_A.detach()


@contextmanager
def projected_task(slots: dict[str, AdapterSlot], task_id: int) -> Iterator[int]:
    """Inside the block every adapter of ``task_id`` is projected onto its module's earlier
    adapters (task ids below ``task_id``); yields how many adapters were projected. The
    original tensors are copied back on exit, bit for bit, even after an error."""
    saved: list[tuple[LoraAdapter, torch.Tensor, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for slot in slots.values():
                adapters = [a for a in slot.adapters.values() if isinstance(a, LoraAdapter)]
                for a in (a for a in adapters if a.task_id == task_id):
                    olds = [_update(o) for o in adapters if o.task_id < task_id]
                    B, A = projected_factors(a.lora_B.detach(), a.lora_A.detach(), olds)
                    saved.append((a, a.lora_A.detach().clone(), a.lora_B.detach().clone()))
                    a.lora_B.copy_(B)
                    a.lora_A.copy_(A)
        yield len(saved)
    finally:
        with torch.no_grad():
            for a, A, B in saved:
                a.lora_A.copy_(A)
                a.lora_B.copy_(B)


def functional_representability(
    model: ContinualModel, slots: dict[str, AdapterSlot], tasks: Sequence[Task], scenario: str,
    batch_size: int = 64,
) -> list[dict[str, Any]]:
    """Per task: accuracy as is, accuracy with its adapters projected onto the earlier span,
    and the drop (as-is minus projected). A task with no earlier adapter in any of its modules
    has nothing to be represented by, and one without adapters (every gate closed) has nothing
    to project: both get ``projected_accuracy = drop = None`` and a ``note``."""
    rows = []
    for task in tqdm(tasks, desc="functional test", unit="task", leave=False):
        t = task.task_id
        own = [s for s in slots.values() if any(getattr(a, "task_id", None) == t for a in s.adapters.values())]
        has_earlier = any(getattr(a, "task_id", t) < t for s in own for a in s.adapters.values())
        acc = evaluate_task(model, task, scenario, batch_size)
        row: dict[str, Any] = {"task": t, "accuracy": acc, "projected_accuracy": None, "drop": None,
                               "modules_projected": 0, "note": None}
        if not own:
            row["note"] = "no adapters of its own (the gate reused earlier ones everywhere)"
        elif not has_earlier:
            row["note"] = "no earlier adapters in its modules"
        else:
            with projected_task(slots, t) as count:
                projected = evaluate_task(model, task, scenario, batch_size)
            row.update(projected_accuracy=projected, drop=acc - projected, modules_projected=count)
        rows.append(row)
    return rows


@torch.no_grad()
def capture_probes(model: ContinualModel, root: nn.Module, tasks: Sequence[Task], per_task: int = 32,
                   max_rows: int = 2048) -> dict[str, torch.Tensor]:
    """Inputs (n, d_in) that each bank layer under ``root`` sees on the first ``per_task`` test
    examples of every task (token positions flattened), keyed by target name, at most
    ``max_rows`` rows each: the probe inputs for the adapters' output CKA."""
    names = {m: n for n, m in root.named_modules() if isinstance(m, BankLinear)}
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in names.values()}

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        rows = module.rows(args[0].detach())  # type: ignore[operator]  # channels last for 1x1 convs
        seen[names[module]].append(rows.reshape(-1, rows.shape[-1]).double().cpu())

    handles = [m.register_forward_pre_hook(hook) for m in names]
    device = next(model.parameters()).device
    try:
        model.eval()
        for task in tasks:
            for batch, _ in iter_batches(model.backbone, task.test[:per_task], per_task, device=device):
                model(batch)
    finally:
        for h in handles:
            h.remove()
    out: dict[str, torch.Tensor] = {}
    for target, slot in live_slots(root).items():
        X = torch.cat(seen[target.split(":")[0]]) if seen[target.split(":")[0]] else None
        if X is not None and slot.adapters:
            out[target] = X[torch.linspace(0, len(X) - 1, min(len(X), max_rows)).long()]
    return out


def functional_from_run(run_dir: str | os.PathLike[str], device: str = "cpu",
                        with_probes: bool = False) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """Load a finished run (``load_run_model``) and compute ``functional_representability``;
    with ``with_probes`` also the per-target probe inputs for CKA (else an empty dict)."""
    config, stream, model = load_run_model(run_dir)
    model.to(device)
    root = model.backbone.encoder  # where load_run_model injects the bank
    slots = live_slots(root)
    rows = functional_representability(model, slots, stream.tasks, stream.scenario, config.train.eval_batch_size)
    probes = capture_probes(model, root, stream.tasks) if with_probes else {}
    return rows, probes
