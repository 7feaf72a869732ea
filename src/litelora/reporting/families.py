"""The per-family reading of a gated run: what each task recruited, by first-of-family or recurring.

A gate that works recruits for a task of a new family and little for a recurring one, and nothing
for a verbatim repeat. This reads that off a run: ``stream.json`` gives each task's family (and
which task repeats which), ``gates.json`` what the gate chose per target, the accuracy matrix how
the task scored right after its training and at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from litelora._io import read_json
from litelora.adapters.config import AdapterConfig
from litelora.errors import DataError

KINDS: tuple[str, ...] = ("first", "recurring", "repeat")
# A gate's measurements of the whole task (every module of a task shares its probe's losses), kept
# in the digest so a reading such as "carried" can be checked against committed results.
TASK_READINGS: tuple[str, ...] = ("unsolved", "closed_loss", "base_loss")


@dataclass(frozen=True)
class TaskReading:
    """One task of a gated run.

    kind: ``first`` (the first task of its family), ``recurring`` (a later one) or ``repeat`` (a
    verbatim repeat of an earlier task); ``first`` for every task of a stream without families.
    recruited / targets: candidate adapters kept, of those the task had; rank_sum: their ranks
    summed; params: their parameters. acc_after: ``R[t][t]``; acc_final: ``R[T-1][t]``.
    unsolved: the gate's reading of how much of the task the old adapters leave, in [0, 1] (near 0:
    they carry it), where its probe measured one (``None`` for task 0 and gates without a probe).
    """

    task: int
    name: str
    family: str | None
    kind: str
    recruited: int
    targets: int
    rank_sum: int
    params: int
    acc_after: float
    acc_final: float
    unsolved: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_kinds(families: Sequence[str | None], names: Sequence[str], repeat_of: Mapping[str, str]) -> list[str]:
    """``first`` / ``recurring`` / ``repeat`` per task, from the families in stream order."""
    seen: set[str | None] = set()
    kinds = []
    for name, family in zip(names, families):
        kinds.append("repeat" if name in repeat_of else "first" if family is None or family not in seen
                     else "recurring")
        seen.add(family)
    return kinds


def gate_digest(rows: Sequence[Mapping[str, Any]], num_tasks: int, rank: int) -> dict[str, Any]:
    """What ``gates.json`` rows say per task, compact enough to keep beside a suite's results.

    ``targets``: every target named, sorted; per task: ``recruited`` (indices into ``targets``),
    ``rank_sum`` and ``params`` of the recruits, and each of ``TASK_READINGS`` its rows carry
    (``unsolved`` in [0, 1]; the losses in nats, the task's mean over the probe's window). A row without ``rank`` counts ``rank`` for a
    recruit and 0 for a reuse. A task without rows (a gate that records none for the ungated task
    0) recruited every target at ``rank``, each with the parameters its candidate has elsewhere.
    """
    targets = sorted({str(r["target"]) for r in rows})
    index = {t: k for k, t in enumerate(targets)}
    size: dict[str, int] = {}
    for r in rows:
        size.setdefault(str(r["target"]), int(r.get("params_kept", 0)) + int(r.get("params_freed", 0)))
    tasks = []
    for t in range(num_tasks):
        mine = [r for r in rows if r["task"] == t]
        if not mine:
            tasks.append({"recruited": list(range(len(targets))), "rank_sum": rank * len(targets),
                          "params": sum(size.values())})
            continue
        bad = [r["decision"] for r in mine if r.get("decision") not in ("recruit", "reuse")]
        if bad:
            raise DataError(f"gates.json, task {t}: decision {bad[0]!r} is neither 'recruit' nor 'reuse'")
        recruits = [r for r in mine if r["decision"] == "recruit"]
        tasks.append({"recruited": sorted(index[str(r["target"])] for r in recruits),
                      "rank_sum": sum(int(r.get("rank", rank)) for r in recruits) + sum(
                          int(r.get("rank", 0)) for r in mine if r["decision"] == "reuse"),
                      "params": sum(int(r.get("params_kept", 0)) for r in recruits),
                      **_task_readings(mine, t)})
    return {"targets": targets, "tasks": tasks}


def family_reading(names: Sequence[str], families: Sequence[str | None], repeat_of: Mapping[str, str],
                   digest: Mapping[str, Any], R: Sequence[Sequence[float]]) -> list[TaskReading]:
    """One ``TaskReading`` per task from the stream's names / families, a ``gate_digest`` and the
    accuracy matrix ``R`` (T x T)."""
    T = len(names)
    if len(families) != T or len(digest["tasks"]) != T or len(R) != T:
        raise DataError(f"family reading: {T} task names but {len(families)} families, "
                        f"{len(digest['tasks'])} gate digests and a {len(R)}-row accuracy matrix; "
                        "read them from one run")
    kinds = task_kinds(families, names, repeat_of)
    return [TaskReading(t, names[t], families[t], kinds[t], len(d["recruited"]), len(digest["targets"]),
                        d["rank_sum"], d["params"], float(R[t][t]), float(R[T - 1][t]), d.get("unsolved"))
            for t, d in enumerate(digest["tasks"])]


def by_kind(readings: Sequence[TaskReading]) -> dict[str, dict[str, float]]:
    """Mean recruited adapters, rank sum, parameters and accuracies per kind, over tasks 1.. (task 0
    recruits everywhere by default, so it says nothing of the gate)."""
    out = {}
    for kind in KINDS:
        rows = [r for r in readings if r.kind == kind and r.task > 0]
        if rows:
            out[kind] = {"tasks": len(rows), **{k: sum(getattr(r, k) for r in rows) / len(rows)
                                                for k in ("recruited", "rank_sum", "params", "acc_after", "acc_final")}}
    return out


def _task_readings(rows: Sequence[Mapping[str, Any]], task: int) -> dict[str, float]:
    """Each of ``TASK_READINGS`` the task's rows carry, once (every row of a task holds the same)."""
    out = {}
    for key in TASK_READINGS:
        values = {float(r[key]) for r in rows if r.get(key) is not None}
        if len(values) > 1:
            raise DataError(f"gates.json, task {task}: {key!r} differs between its rows ({sorted(values)[:2]}); "
                            "a task-level reading is one value per task: read rows of one run")
        if values:
            out[key] = values.pop()
    return out


def run_families(run_dir: str | Path) -> dict[str, Any]:
    """A run directory's stream facts and gate digest (the inputs of ``family_reading`` but the
    matrix): ``names``, ``families``, ``repeat_of`` and ``gates`` (``None`` without ``gates.json``)."""
    run = Path(run_dir)
    stream = read_json(run / "stream.json")
    names = [t["name"] for t in stream["tasks"]]
    config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    rank = int(((config or {}).get("adapter") or {}).get("r", AdapterConfig.r))
    gates = run / "gates.json"
    return {"names": names, "families": [t.get("family") for t in stream["tasks"]],
            "repeat_of": dict(stream.get("meta", {}).get("repeat_of", {})),
            "gates": gate_digest(read_json(gates), len(names), rank) if gates.is_file() else None}


def read_run(run_dir: str | Path) -> list[TaskReading]:
    """The per-family reading of a gated run directory (``results.json`` gives the matrix)."""
    facts = run_families(run_dir)
    if facts["gates"] is None:
        raise DataError(f"{run_dir}: no gates.json; the per-family reading needs a gated run")
    R = read_json(Path(run_dir) / "results.json")["train_info"]["accuracy_matrix"]
    return family_reading(facts["names"], facts["families"], facts["repeat_of"], facts["gates"], R)


def readings_table(readings: Sequence[TaskReading],
                   others: Mapping[str, Sequence[Sequence[float]]] | None = None) -> list[str]:
    """A markdown table, one row per task; ``others`` adds, per named run (``host``, ``closed``),
    its accuracy on the same task right after it and at the end (the runs must share the order)."""
    others = dict(others or {})
    T = len(readings)
    for who, R in others.items():
        if len(R) != T:
            raise DataError(f"run {who!r} has {len(R)} tasks, the gated run {T}: compare runs of one stream and seed")
    extra = "".join(f" | {who}: after / end" for who in others)
    lines = [f"| task | name | family | kind | unsolved | adapters | rank sum | parameters | after / end{extra} |",
             "|---|---|---|---|---|---|---|---|---" + "|---" * len(others) + "|"]
    for r in readings:
        cells = "".join(f" | {R[r.task][r.task]:.3f} / {R[T - 1][r.task]:.3f}" for R in others.values())
        unsolved = "-" if r.unsolved is None else f"{r.unsolved:.3f}"
        lines.append(f"| {r.task} | {r.name} | {r.family or '-'} | {r.kind} | {unsolved} | {r.recruited} / {r.targets} "
                     f"| {r.rank_sum} | {r.params} | {r.acc_after:.3f} / {r.acc_final:.3f}{cells} |")
    return lines
