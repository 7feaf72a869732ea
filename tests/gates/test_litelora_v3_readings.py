"""Gate v3's readings: what counts as novel (only what a closed module's reuse path cannot give,
over every earlier adapter of the module) and how each ``unsolved`` reading scales the demands."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterConfig
from litelora.gates import GateConfig, build_gate
from litelora.gates.probe_run import ProbeReading
from litelora.training.controller import LiteLoRA

D = 16


def test_a_negative_loss_reads_as_nothing_left_at_chance() -> None:
    gate = build_gate(GateConfig(kind="litelora-v3", params={"unsolved": "chance"}), num_tasks=2)
    reading = ProbeReading(needs={}, progress=1.0, closed_loss=-0.5)
    assert gate.unsolved(reading, math.log(2)) == 0.0
    assert gate.unsolved(ProbeReading(needs={}, progress=1.0, closed_loss=5.0), math.log(2)) == 1.0


@pytest.mark.parametrize(("reading", "expected"), [("carried", 0.25), ("progress", 0.6), ("none", 1.0)])
def test_each_unsolved_reading_takes_its_own_measure(reading: str, expected: float) -> None:
    gate = build_gate(GateConfig(kind="litelora-v3", params={"unsolved": reading}), num_tasks=2)
    probe = ProbeReading(needs={}, progress=0.6, closed_loss=0.5, base_loss=2.0)  # carried: 0.5 / 2.0
    assert gate.unsolved(probe) == pytest.approx(expected)


@pytest.mark.parametrize(("reuse", "recruits"), [("core", False), ("frozen", True)])
def test_an_update_inside_the_old_span_is_novel_only_where_a_closed_module_cannot_give_it(
        reuse: str, recruits: bool) -> None:
    """Task 1 asks for the old adapter's update once more (B0 A0, inside its span). A closed module
    with gate.reuse=core trains U C V^T there, so the probe projects it out and reads no novel
    demand: the module reuses. With frozen reuse a closed module gives nothing: the same task recruits."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, D, bias=False))
    lite = LiteLoRA(model, AdapterConfig(target_modules=["0"], r=2), "inclora",
                    GateConfig(kind="litelora-v3", reuse=reuse, params={"unsolved": "none"}), num_tasks=2)
    x = torch.eye(D) * math.sqrt(D)  # inputs whose covariance is the identity: the gradient is the update itself
    lite.start_task(0, 8, batches=lambda: iter([(x, x)]), loss_fn=lambda a, b: (model(a) - b).pow(2).mean())
    with torch.no_grad():  # task 0's adapter, as if trained: a rank-2 update
        adapter = lite.bank.candidates(0)["0"]
        adapter.lora_A.copy_(torch.randn(2, D))
        adapter.lora_B.copy_(torch.randn(D, 2))
    lite.end_task()
    with torch.no_grad():
        with lite.bank.disable_adapters():
            base = model(x)
        target = 2 * model(x) - base  # the old update applied twice

    def loss_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (model(a) - b).pow(2).mean()

    lite.start_task(1, 40, batches=lambda: iter([(x, target)]), loss_fn=loss_fn)
    [decision] = lite.end_task()
    assert decision.recruit is recruits, decision.scores
    assert (decision.scores["need"] < 1e-9) is not recruits  # exactly inside the span: nothing left over


def test_a_core_reuse_path_spans_every_earlier_adapter() -> None:
    """Two earlier adapters of rank 2: the core's bases hold both adapters' B columns and A rows."""
    from litelora.adapters import AdapterBank
    from litelora.gates.base import reuse_name
    from litelora.methods import TaskContext, create_method

    torch.manual_seed(0)
    bank = AdapterBank(nn.Sequential(nn.Linear(D, D, bias=False)), AdapterConfig(target_modules=["0"], r=2))
    method = create_method("inclora")
    for task in range(3):
        ctx = TaskContext(task_id=task, num_tasks=3, bank=bank)
        method.before_task(ctx)
        if task < 2:
            with torch.no_grad():
                bank.candidates(task)["0"].lora_B.copy_(torch.randn(D, 2))
            method.after_task(ctx)
    gate = build_gate(GateConfig(kind="litelora-v3", reuse="core"), num_tasks=3)
    gate.attach_reuse(ctx, ["0"])
    core = bank.slot("0").reuse[reuse_name(2)]
    assert core.U.shape[1] == core.V.shape[1] == 4
    for task in (0, 1):
        old = bank.candidates(task)["0"]
        B, A = old.lora_B.detach().to(core.U.dtype), old.lora_A.detach().to(core.V.dtype)
        torch.testing.assert_close(core.U @ (core.U.T @ B), B)
        torch.testing.assert_close(A @ core.V @ core.V.T, A)
