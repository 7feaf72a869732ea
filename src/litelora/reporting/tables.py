"""Plain-text tables of results: the accuracy matrix and gate decisions."""

from __future__ import annotations

import csv
import io
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


def csv_text(rows: list[list[Any]]) -> str:
    """Rows as CSV text (``None`` as an empty cell), ``\n`` line ends."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([["" if v is None else v for v in r] for r in rows])
    return buf.getvalue()

