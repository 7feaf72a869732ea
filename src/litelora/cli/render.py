"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def format_matrix(R: list[list[float]]) -> str:
    T = len(R)
    lines = ["after \\ on " + "".join(f"{f'T{j}':>8}" for j in range(T))]
    for i, row in enumerate(R):
        lines.append(f"{f'T{i}':>11}" + "".join(f"{v:8.3f}" if j <= i else f"{'':>8}" for j, v in enumerate(row)))
    return "\n".join(lines)


def format_decisions(decisions: list[dict[str, Any]]) -> str:
    """Per task: recruited / total targets, and the gate value range."""
    by_task: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for d in decisions:
        by_task[d["task"]].append(d)
    lines = []
    for task, ds in sorted(by_task.items()):
        kept = sum(d["decision"] == "recruit" for d in ds)
        grid = "".join("#" if d["decision"] == "recruit" else "." for d in ds)
        lines.append(f"  task {task}: recruit {kept:3d}/{len(ds):<3d} {grid}")
    return "\n".join(lines)


def print_summary(R: list[list[float]], metrics: dict[str, Any], decisions: list[dict[str, Any]]) -> None:
    print("\naccuracy matrix R[i][j] (accuracy on task j after training task i):")
    print(format_matrix(R))
    if decisions:
        print("\ngate decisions (# recruit, . reuse; one mark per target module):")
        print(format_decisions(decisions))
    keys = ["final_acc_sample", "final_acc_task_mean", "aia_sample", "aia_task_mean", "forgetting_first",
            "forgetting_max", "bwt", "active_adapters", "max_adapters", "adapter_reduction", "adapter_params",
            "adapter_bytes", "train_seconds"]
    print("\nsummary:")
    for k in keys:
        v = metrics.get(k)
        if v is None:
            continue
        print(f"  {k:<22} {v:.4f}" if isinstance(v, float) else f"  {k:<22} {v}")
