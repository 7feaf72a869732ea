"""``run_metrics`` counts what a gate saved against the host's own adapters: a candidate the host
removed by design (InfLoRA, where a task's inputs carry no energy off its memory) is neither an
active adapter nor one the gate saved."""

from __future__ import annotations

import pytest

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.gates import GateDecision
from litelora.methods import create_method
from litelora.methods.inflora import InfLoRA
from litelora.testing import tiny_mlp
from litelora.training.run_metrics import run_metrics


def _bank() -> AdapterBank:
    """3 tasks x 2 targets: task 1's host dropped its candidate at "0", task 2's gate closed "2"."""
    bank = AdapterBank(tiny_mlp(d_in=6, hidden=8, d_out=3), AdapterConfig(target_modules=["0", "2"], r=2))
    for task in range(3):
        bank.add_task(task)
    bank.remove_candidate("0", 1)
    bank.remove_candidate("2", 2)
    return bank


def _decision(task: int, target: str, rank: int, full: int) -> GateDecision:
    kept = full * rank // 2
    return GateDecision(task=task, target=target, group=target, gate=float(rank > 0), rank=rank,
                        full_rank=2, params_kept=kept, params_freed=full - kept)


def test_a_gate_is_credited_only_with_the_adapters_it_closed() -> None:
    bank = _bank()
    size = {t: a.num_parameters() for t, a in bank.candidates(0).items()}  # "0": 2 x (6 + 8), "2": 2 x (8 + 8)
    # The gate saw task 1's one candidate and both of task 2's (task 0's are ungated).
    decisions = [_decision(1, "2", 2, size["2"]), _decision(2, "0", 2, size["0"]), _decision(2, "2", 0, size["2"])]
    R = [[0.9, 0.0, 0.0], [0.8, 0.7, 0.0], [0.8, 0.7, 0.6]]
    m = run_metrics(bank, InfLoRA(), R, n_test=[10, 10, 10], wall=[1.0, 1.0, 1.0], trainable=[1, 1, 1],
                    decisions=decisions)
    assert m["active_adapters"] == 4 and m["active_adapters_per_task"] == [2, 1, 1]
    assert m["max_adapters"] == 5  # 3 x 2, less the one the host removed
    assert m["adapter_reduction"] == pytest.approx(1 - 4 / 5)
    assert size == {"0": 28, "2": 32}
    assert m["adapter_params"] == 2 * 28 + 2 * 32
    assert m["host_adapter_params"] == 2 * 28 + 3 * 32  # plus what the gate freed, not what the host removed
    assert m["param_reduction"] == pytest.approx(1 - 120 / 152)


def test_a_host_run_saves_nothing_against_itself() -> None:
    bank = _bank()
    R = [[0.9, 0.0, 0.0], [0.8, 0.7, 0.0], [0.8, 0.7, 0.6]]
    m = run_metrics(bank, InfLoRA(), R, n_test=[10, 10, 10], wall=[1.0, 1.0, 1.0], trainable=[1, 1, 1])
    assert m["max_adapters"] == m["active_adapters"] == 4
    assert m["adapter_reduction"] == 0.0


def test_a_method_with_one_adapter_per_module_keeps_tasks_x_targets_as_its_count() -> None:
    bank = AdapterBank(tiny_mlp(d_in=6, hidden=8, d_out=3), AdapterConfig(target_modules=["0", "2"], r=2))
    bank.add_task(0)  # seqlora trains task 0's adapters on through every task
    R = [[0.9, 0.0, 0.0], [0.8, 0.7, 0.0], [0.8, 0.7, 0.6]]
    m = run_metrics(bank, create_method("seqlora"), R, n_test=[10, 10, 10], wall=[1.0] * 3, trainable=[1] * 3)
    assert m["active_adapters"] == 2 and m["max_adapters"] == 6 and m["adapter_reduction"] is None
