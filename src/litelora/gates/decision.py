"""GateDecision: what a gate chose for one target of one task (a rank; 0 = reuse), and on what value."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from litelora.errors import DataError


@dataclass(frozen=True)
class GateDecision:
    """One target's choice for one task: the rank its candidate adapter keeps (0 = reuse).

    task, target: the task and the bank target (``encoder.layer.0.attention.self.query``).
    group: the gate group the target decided with (itself, its block, or the task).
    gate: the value the choice was made on: P(open) for ``hard_concrete``, the score for
        ``litelora``, the residual for ``representability``, 1/0 for ``random``, the rank over the
        host's rank for ``shuffled``, 1 where the task was not gated (task 0).
    rank: the rank the candidate keeps: 0 = it was removed (the target reuses earlier adapters),
        1..r = it trains at that rank (r: the host's rank, a full recruit).
    full_rank: the rank the host gave the candidate (what ``rank`` is out of).
    params_kept, params_freed: candidate parameters kept and removed (a rank-k recruit of a
        rank-r candidate keeps k/r of them).
    reuse: the reuse path a closed target got (``scale``, ``core``), ``None`` for ``frozen`` or
        a recruit; reuse_params: its parameter count.
    scores: the gate's own measurements (``litelora``: need, unsolved, score, ...).
    """

    task: int
    target: str
    group: str
    gate: float
    rank: int
    full_rank: int = 0
    params_kept: int = 0
    params_freed: int = 0
    reuse: str | None = None
    reuse_params: int = 0
    scores: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rank < 0 or (self.full_rank and self.rank > self.full_rank):
            raise DataError(f"gate decision for {self.target!r}: rank {self.rank} outside [0, {self.full_rank}]")

    @property
    def recruit(self) -> bool:
        """The candidate stays (at any rank above 0)."""
        return self.rank > 0

    @property
    def decision(self) -> str:
        return "recruit" if self.recruit else "reuse"

    def to_dict(self) -> dict[str, Any]:
        """The row ``gates.json`` holds: the fields, ``decision`` and the scores, flat."""
        row = asdict(self)
        scores = row.pop("scores")
        return {**row, "decision": self.decision, **scores}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> GateDecision:
        """Read a ``gates.json`` row back. Rows written before decisions carried a rank read as
        rank 0 (reuse) or, for a recruit, the full rank their kept parameters imply when known, else 1."""
        names = {f.name for f in fields(cls)} - {"scores"}
        try:
            if row["decision"] not in ("recruit", "reuse"):
                raise DataError(f"gate decision {row['decision']!r} is neither 'recruit' nor 'reuse'")
            known = {k: row[k] for k in names if k in row}
            if "rank" not in known:
                known["rank"] = max(1, int(known.get("full_rank") or 1)) if row["decision"] == "recruit" else 0
            elif (known["rank"] > 0) != (row["decision"] == "recruit"):
                raise DataError(f"gate decision says {row['decision']!r} but rank {known['rank']}")
            scores = {k: v for k, v in row.items() if k not in names and k != "decision"}
            return cls(**known, scores=scores)
        except (KeyError, TypeError) as err:
            raise DataError(f"malformed gate decision {row!r}: {err}") from None
