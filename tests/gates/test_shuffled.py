"""The shuffled gate: a reference run's ranks per task, placed at random modules of the same kind."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

from litelora import AdapterConfig, GateConfig, LiteLoRA
from litelora.errors import ConfigError
from litelora.gates.shuffled import module_kind

LAYERS = 6


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.v = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.q(x)) + self.v(x)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(*[_Block() for _ in range(LAYERS)], nn.Linear(8, 3))


# The reference's task-1 ranks: q recruits in two layers (ranks 2 and 1), v in one (rank 2).
REFERENCE_T1 = {**{f"{i}.q": r for i, r in enumerate([2, 0, 1, 0, 0, 0])},
                **{f"{i}.v": r for i, r in enumerate([0, 0, 0, 0, 2, 0])}}


def _reference(directory: Path, task1: dict[str, int] | None = None) -> Path:
    directory.mkdir(exist_ok=True)
    rows = [{"task": 0, "target": t, "rank": 2} for t in REFERENCE_T1]
    rows += [{"task": 1, "target": t, "rank": r} for t, r in (task1 or REFERENCE_T1).items()]
    (directory / "gates.json").write_text(json.dumps(rows))
    return directory


def _decide(gate: GateConfig, seed: int = 0, r: int = 2) -> list[list]:
    """Each task's decisions of a 2-task run (no training: the decisions are made at task start)."""
    ll = LiteLoRA(_model(), AdapterConfig(target_modules=["q", "v"], r=r), num_tasks=2, seed=seed, gate=gate)
    out = []
    for task in range(2):
        ll.start_task(task, steps=1)
        out.append(ll.end_task())
    return out


def _task1_ranks(decisions: str, seed: int, **gate) -> dict[str, int]:
    config = GateConfig(kind="shuffled", params={"decisions": decisions}, **gate)
    return {d.target: d.rank for d in _decide(config, seed)[1]}


def test_each_kind_keeps_the_references_ranks_and_parameters_at_other_layers(tmp_path: Path) -> None:
    ref = str(_reference(tmp_path))
    placements = {seed: _task1_ranks(ref, seed) for seed in range(4)}
    for ranks in placements.values():
        for kind in ("*.q", "*.v"):
            mine = Counter(r for t, r in ranks.items() if module_kind(t) == kind)
            theirs = Counter(r for t, r in REFERENCE_T1.items() if module_kind(t) == kind)
            assert mine == theirs and sum(theirs.values()) == LAYERS
    assert _task1_ranks(ref, 1) == placements[1]  # the run seed decides the placement
    assert len({tuple(sorted(p.items())) for p in placements.values()}) > 1
    assert any(p != REFERENCE_T1 for p in placements.values())


def test_task_0_recruits_everywhere_and_a_real_gates_json_round_trips(tmp_path: Path) -> None:
    """A gated run's own decisions (a random half), written as the trainer writes gates.json,
    replay exactly in count, ranks and parameters."""
    reference = _decide(GateConfig(kind="random", budget=0.5), seed=3)
    rows = [d.to_dict() for task in reference for d in task]
    (tmp_path / "gates.json").write_text(json.dumps(rows))
    shuffled = _decide(GateConfig(kind="shuffled", params={"decisions": str(tmp_path / "gates.json")}))
    assert [(d.rank, d.full_rank, d.gate) for d in shuffled[0]] == [(2, 2, 1.0)] * 2 * LAYERS
    assert sorted(d.rank for d in reference[1]) == [0] * LAYERS + [2] * LAYERS
    for mine, theirs in zip(shuffled, reference):
        assert sorted(d.rank for d in mine) == sorted(d.rank for d in theirs)
        assert sum(d.params_kept for d in mine) == sum(d.params_kept for d in theirs)


def test_a_closed_module_gets_the_configured_reuse_path(tmp_path: Path) -> None:
    ref = str(_reference(tmp_path))
    model = _model()
    ll = LiteLoRA(model, AdapterConfig(target_modules=["q", "v"], r=2), num_tasks=2,
                  gate=GateConfig(kind="shuffled", reuse="scale", params={"decisions": ref}))
    ll.start_task(0, steps=1)
    ll.end_task()
    groups = ll.start_task(1, steps=1)
    closed = [d.target for d in ll.gate.decisions_for(1) if d.rank == 0]
    reuse = [g for g in groups if g.get("name") == "reuse"]
    assert len(closed) == 9 and reuse and sum(p.numel() for p in reuse[0]["params"]) > 0
    assert all(ll.bank.slot(t).reuse for t in closed)


def test_module_kind_blanks_layer_indices_only() -> None:
    assert module_kind("model.layers.12.self_attn.q_proj") == "model.layers.*.self_attn.q_proj"
    assert module_kind("blocks.3.attn.qkv:q") == "blocks.*.attn.qkv:q"
    assert module_kind("encoder.layer.0.attention.self.query") == "encoder.layer.*.attention.self.query"
    assert module_kind("3.q") == "*.q" and module_kind("head") == "head"


def test_a_missing_or_mismatched_reference_fails_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gate\.params\.decisions is required by gate\.kind='shuffled'"):
        _task1_ranks("", 0)
    with pytest.raises(ConfigError, match=r"gate\.params\.decisions=.*no such file; .*run the reference first"):
        _task1_ranks(str(tmp_path / "absent"), 0)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "gates.json").write_text('{"task": 1}')
    with pytest.raises(ConfigError, match=r"not a gates\.json"):
        _task1_ranks(str(tmp_path / "bad"), 0)
    other = {k.replace("q", "k"): r for k, r in REFERENCE_T1.items()}
    with pytest.raises(ConfigError, match=r"task 1 decided other modules than this run's candidates "
                                          r"\(in one and not the other: \['0\.k', '0\.q', '1\.k'\]\)"):
        _task1_ranks(str(_reference(tmp_path / "other", other)), 0)
    higher = {**REFERENCE_T1, "2.q": 3}
    with pytest.raises(ConfigError, match=r"kept rank 3 at '2\.q', above this run's adapter\.r=2"):
        _task1_ranks(str(_reference(tmp_path / "higher", higher)), 0)
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "gates.json").write_text(json.dumps([{"task": 0, "target": t, "rank": 2}
                                                              for t in REFERENCE_T1]))
    with pytest.raises(ConfigError, match=r"no decisions for tasks \[1\] of this run's 2"):
        _decide(GateConfig(kind="shuffled", params={"decisions": str(tmp_path / "short")}))
