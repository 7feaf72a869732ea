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


def _reference(tmp_path: Path, task1: dict[str, int] | None = None) -> Path:
    rows = [{"task": 0, "target": t, "rank": 2} for t in REFERENCE_T1]
    rows += [{"task": 1, "target": t, "rank": r} for t, r in (task1 or REFERENCE_T1).items()]
    (tmp_path / "gates.json").write_text(json.dumps(rows))
    return tmp_path


def _task1_ranks(decisions: str, seed: int) -> dict[str, int]:
    model = _model()
    ll = LiteLoRA(model, AdapterConfig(target_modules=["q", "v"], r=2), num_tasks=2, seed=seed,
                  gate=GateConfig(kind="shuffled", params={"decisions": decisions}))
    for task in range(2):
        ll.start_task(task, steps=1)
        decisions_of_task = ll.end_task()
    return {d.target: d.rank for d in decisions_of_task}


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


def test_module_kind_blanks_layer_indices_only() -> None:
    assert module_kind("model.layers.12.self_attn.q_proj") == "model.layers.*.self_attn.q_proj"
    assert module_kind("blocks.3.attn.qkv:q") == "blocks.*.attn.qkv:q"
    assert module_kind("encoder.layer.0.attention.self.query") == "encoder.layer.*.attention.self.query"
    assert module_kind("3.q") == "*.q" and module_kind("head") == "head"


def test_a_missing_or_mismatched_reference_fails_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs gate\.params\.decisions"):
        _task1_ranks("", 0)
    with pytest.raises(ConfigError, match=r"gate\.params\.decisions=.*no such file; .*run the reference first"):
        _task1_ranks(str(tmp_path / "absent"), 0)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "gates.json").write_text('{"task": 1}')
    with pytest.raises(ConfigError, match=r"not a gates\.json"):
        _task1_ranks(str(tmp_path / "bad"), 0)
    other = {k.replace("q", "k"): r for k, r in REFERENCE_T1.items()}
    with pytest.raises(ConfigError, match=r"task 1 decided other modules than this run's candidates"):
        _task1_ranks(str(_reference(tmp_path, other)), 0)
    rows = [{"task": 0, "target": t, "rank": 2} for t in REFERENCE_T1]
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "gates.json").write_text(json.dumps(rows))
    with pytest.raises(ConfigError, match=r"no decisions for task 1"):
        _task1_ranks(str(tmp_path / "short"), 0)
