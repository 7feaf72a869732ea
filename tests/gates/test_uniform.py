"""The uniform-rank gate (an ablation): after task 0 every candidate keeps ``gate.params.rank``
(at most its own), so the same parameters are spread evenly where a gate would size them."""

from __future__ import annotations

import torch
from torch import nn

from litelora import AdapterConfig, GateConfig, LiteLoRA

R = 4


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


def _run(rank: int, tasks: int = 3) -> tuple[LiteLoRA, list[list]]:
    ll = LiteLoRA(_model(), AdapterConfig(target_modules=["0", "2"], r=R), num_tasks=tasks,
                  gate=GateConfig(kind="uniform", params={"rank": rank}))
    out = []
    for task in range(tasks):
        ll.start_task(task, steps=1)
        out.append(ll.end_task())
    return ll, out


def test_every_later_candidate_keeps_the_uniform_rank_and_task_0_stays_whole() -> None:
    ll, decisions = _run(rank=1)
    assert [d.rank for d in decisions[0]] == [R, R]  # task 0 recruits at the host's rank
    for task in (1, 2):
        assert [(d.rank, d.full_rank) for d in decisions[task]] == [(1, R), (1, R)]
        for d in decisions[task]:
            assert d.params_kept * R == (d.params_kept + d.params_freed)  # 1 of R directions kept
    for target in ("0", "2"):
        shapes = {a.task_id: tuple(a.lora_A.shape) for a in ll.bank.slot(target).adapters.values()}
        assert shapes == {0: (R, 8), 1: (1, 8), 2: (1, 8)}


def test_a_rank_at_or_above_the_hosts_changes_nothing() -> None:
    host = LiteLoRA(_model(), AdapterConfig(target_modules=["0", "2"], r=R), num_tasks=2, gate=GateConfig(kind="none"))
    for task in range(2):
        host.start_task(task, steps=1)
        host.end_task()
    ll, decisions = _run(rank=2 * R, tasks=2)
    assert all(d.rank == d.full_rank == R for d in decisions[1])
    assert ll.bank.summary()["adapter_params"] == host.bank.summary()["adapter_params"] == 2 * 2 * R * 16
