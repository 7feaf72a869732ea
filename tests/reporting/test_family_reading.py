"""The per-family reading: first-of-family / recurring / repeat, what each task recruited (rank and
parameters, with the rank of a row defaulting by its decision), beside its accuracies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from litelora.errors import DataError
from litelora.reporting.families import by_kind, family_reading, gate_digest, read_run, task_kinds

NAMES = ["bbc-topics-a", "rt-sentiment-a", "bbc-topics-b", "bbc-topics-a-repeat"]
FAMILIES = ["topic", "sentiment", "topic", "topic"]
REPEAT = {"bbc-topics-a-repeat": "bbc-topics-a"}
R = [[0.9, 0, 0, 0], [0.8, 0.7, 0, 0], [0.7, 0.6, 0.5, 0], [0.6, 0.5, 0.4, 0.95]]


def _row(task: int, target: str, decision: str, **extra) -> dict:
    size = 100
    kept = size if decision == "recruit" else 0
    return {"task": task, "target": target, "decision": decision, "params_kept": kept,
            "params_freed": size - kept, **extra}


ROWS = [_row(1, "q", "recruit"), _row(1, "v", "recruit"),
        _row(2, "q", "recruit", rank=3), _row(2, "v", "reuse"),
        _row(3, "q", "reuse"), _row(3, "v", "reuse", rank=1)]


def test_kinds_follow_the_families_in_stream_order() -> None:
    assert task_kinds(FAMILIES, NAMES, REPEAT) == ["first", "first", "recurring", "repeat"]
    assert task_kinds([None, None], ["a", "b"], {}) == ["first", "first"]


def test_each_task_reads_its_recruits_ranks_parameters_and_accuracies() -> None:
    digest = gate_digest(ROWS, num_tasks=4, rank=8)
    assert digest["targets"] == ["q", "v"]
    readings = family_reading(NAMES, FAMILIES, REPEAT, digest, R)
    got = [(r.kind, r.recruited, r.rank_sum, r.params) for r in readings]
    # task 0 has no rows: both targets at rank 8 with their candidates' 100 parameters each
    assert got == [("first", 2, 16, 200), ("first", 2, 16, 200), ("recurring", 1, 3, 100), ("repeat", 0, 1, 0)]
    assert [(r.acc_after, r.acc_final) for r in readings] == [(0.9, 0.6), (0.7, 0.5), (0.5, 0.4), (0.95, 0.95)]
    kinds = by_kind(readings)
    assert kinds["first"] == {"tasks": 1, "recruited": 2, "rank_sum": 16, "params": 200, "acc_after": 0.7,
                              "acc_final": 0.5}  # task 0 is never gated: only task 1 counts
    assert kinds["recurring"]["recruited"] == 1 and kinds["repeat"]["params"] == 0


def test_the_digest_keeps_each_tasks_probe_readings_and_rejects_rows_that_disagree() -> None:
    rows = [_row(1, "q", "recruit", unsolved=0.4, closed_loss=1.2, base_loss=3.0),
            _row(1, "v", "reuse", unsolved=0.4, closed_loss=1.2, base_loss=3.0),
            _row(2, "q", "reuse", unsolved=0.0), _row(2, "v", "reuse", unsolved=0.0)]
    tasks = gate_digest(rows, num_tasks=3, rank=8)["tasks"]
    assert "unsolved" not in tasks[0]  # task 0 has no rows, so no probe
    assert {k: tasks[1][k] for k in ("unsolved", "closed_loss", "base_loss")} == {
        "unsolved": 0.4, "closed_loss": 1.2, "base_loss": 3.0}
    assert tasks[2]["unsolved"] == 0.0 and "base_loss" not in tasks[2]
    assert "unsolved" not in gate_digest(ROWS, num_tasks=4, rank=8)["tasks"][1]  # a gate without a probe
    mixed = [_row(1, "q", "reuse", unsolved=0.4), _row(1, "v", "reuse", unsolved=0.5)]
    with pytest.raises(DataError, match="task 1: 'unsolved' differs between its rows"):
        gate_digest(mixed, num_tasks=2, rank=8)


def test_mismatched_inputs_and_unknown_decisions_are_errors() -> None:
    digest = gate_digest(ROWS, num_tasks=4, rank=8)
    with pytest.raises(DataError, match="read them from one run"):
        family_reading(NAMES[:3], FAMILIES[:3], REPEAT, digest, R[:3])
    with pytest.raises(DataError, match="neither 'recruit' nor 'reuse'"):
        gate_digest([_row(1, "q", "maybe")], num_tasks=2, rank=8)


def test_a_gated_run_directory_reads_end_to_end(tmp_path: Path) -> None:
    from litelora.cli.main import main

    out = tmp_path / "run"
    sets = ["benchmark.name=tiny-text", "benchmark.options.num_tasks=3", "model.name=tiny-bert",
            "model.max_length=16", "train.max_steps_per_task=1", "train.num_threads=1", "gate.kind=random",
            "gate.budget=0.5", "adapter.r=4"]
    assert main(["train", "--no-progress", "-o", str(out), *[x for s in sets for x in ("--set", s)]]) == 0
    readings = read_run(out)
    gates = json.loads((out / "gates.json").read_text())
    targets = len({g["target"] for g in gates})
    assert [r.kind for r in readings] == ["first", "first", "first"]  # tiny-text has no families
    assert readings[0].recruited == targets and readings[0].rank_sum == 4 * targets
    for r in readings[1:]:
        assert r.recruited == round(0.5 * targets) and r.rank_sum == 4 * r.recruited
        assert r.params == sum(g["params_kept"] for g in gates if g["task"] == r.task)


def test_the_table_sets_each_task_beside_the_other_runs_on_it() -> None:
    from litelora.reporting.families import readings_table

    readings = family_reading(NAMES, FAMILIES, REPEAT, gate_digest(ROWS, num_tasks=4, rank=8), R)
    host = [[round(row[j] + 0.05, 3) if j <= i else 0 for j in range(4)] for i, row in enumerate(R)]
    lines = readings_table(readings, {"host": host})
    assert lines[0].endswith("| after / end | host: after / end |")
    assert lines[4] == "| 2 | bbc-topics-b | topic | recurring | - | 1 / 2 | 3 | 100 | 0.500 / 0.400 | 0.550 / 0.450 |"
    probed = [_row(1, "q", "reuse", unsolved=0.25), _row(1, "v", "reuse", unsolved=0.25)]
    read = family_reading(NAMES[:2], FAMILIES[:2], {}, gate_digest(probed, num_tasks=2, rank=8), [[0.9, 0], [0.8, 0.7]])
    assert [r.unsolved for r in read] == [None, 0.25]
    assert readings_table(read)[3].startswith("| 1 | rt-sentiment-a | sentiment | first | 0.250 | 0 / 2 |")
    with pytest.raises(DataError, match="compare runs of one stream and seed"):
        readings_table(readings, {"closed": R[:2]})
