"""Plain-text tables of results: the accuracy matrix and gate decisions."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from litelora.gates.decision import GateDecision


def format_matrix(R: list[list[float]]) -> str:
    T = len(R)
    lines = ["after \\ on " + "".join(f"{f'T{j}':>8}" for j in range(T))]
    for i, row in enumerate(R):
        lines.append(f"{f'T{i}':>11}" + "".join(f"{v:8.3f}" if j <= i else f"{'':>8}" for j, v in enumerate(row)))
    return "\n".join(lines)


def format_decisions(decisions: list[dict[str, Any]]) -> str:
    """Per task: targets recruited out of all, the recruits' total rank out of the host's, and one
    character per target in model order (``.`` reuse, the rank 1-9, ``#`` a rank above 9)."""
    by_task: dict[int, list[GateDecision]] = defaultdict(list)
    for row in decisions:
        d = GateDecision.from_dict(row)
        by_task[d.task].append(d)
    lines = []
    for task, ds in sorted(by_task.items()):
        kept = sum(d.recruit for d in ds)
        rank, full = sum(d.rank for d in ds), sum(d.full_rank for d in ds)
        grid = "".join("." if d.rank == 0 else (str(d.rank) if d.rank < 10 else "#") for d in ds)
        ranks = f"  rank {rank}/{full}" if full else ""
        lines.append(f"  task {task}: recruit {kept:3d}/{len(ds):<3d}{ranks}  {grid}")
    return "\n".join(lines)


def csv_text(rows: list[list[Any]]) -> str:
    """Rows as CSV text (``None`` as an empty cell), ``\n`` line ends."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([["" if v is None else v for v in r] for r in rows])
    return buf.getvalue()

