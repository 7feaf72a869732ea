"""GateDecision: what a gate chose for one target of one task, and on what value."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from litelora.errors import DataError


@dataclass(frozen=True)
class GateDecision:
    """One target's choice for one task: recruit its candidate adapter, or reuse earlier ones.

    task, target: the task and the bank target (``encoder.layer.0.attention.self.query``).
    group: the gate group the target decided with (itself, its block, or the task).
    gate: the value the choice was made on: P(open) for ``hard_concrete``, the score for
        ``litelora``, the residual for ``representability``, 1/0 for ``random``, 1 where the task
        was not gated (task 0).
    recruit: True: the candidate stays and trains; False: it was removed.
    params_kept, params_freed: candidate parameters kept (recruit) or removed (reuse).
    reuse: the reuse path a closed target got (``scale``, ``core``), ``None`` for ``frozen`` or
        a recruit; reuse_params: its parameter count.
    scores: the gate's own measurements (``litelora``: need, unsolved, score, ...).
    """

    task: int
    target: str
    group: str
    gate: float
    recruit: bool
    params_kept: int = 0
    params_freed: int = 0
    reuse: str | None = None
    reuse_params: int = 0
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return "recruit" if self.recruit else "reuse"

    def to_dict(self) -> dict[str, Any]:
        """The row ``gates.json`` holds: the fields, ``decision`` and the scores, flat."""
        row = asdict(self)
        scores = row.pop("scores")
        row.pop("recruit")
        return {**row, "decision": self.decision, **scores}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> GateDecision:
        """Read a ``gates.json`` row back."""
        names = {f.name for f in fields(cls)} - {"recruit", "scores"}
        try:
            if row["decision"] not in ("recruit", "reuse"):
                raise DataError(f"gate decision {row['decision']!r} is neither 'recruit' nor 'reuse'")
            known = {k: row[k] for k in names if k in row}
            scores = {k: v for k, v in row.items() if k not in names and k != "decision"}
            return cls(**known, recruit=row["decision"] == "recruit", scores=scores)
        except (KeyError, TypeError) as err:
            raise DataError(f"malformed gate decision {row!r}: {err}") from None
