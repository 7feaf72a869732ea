"""O-LoRA's orthogonality penalty and its schedule, driving the hooks directly on tiny models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterBank
from litelora.errors import ConfigError
from litelora.methods import ContinualMethod, TaskContext, create_method
from method_helpers import make_bank as _bank, make_ctx as _ctx


def _olora_small(**params: object) -> tuple[ContinualMethod, AdapterBank, TaskContext]:
    bank = _bank(nn.Sequential(nn.Linear(2, 2)), targets=["0"], r=1)
    method = create_method("olora", params)
    As = [[[1.0, 2.0]], [[0.0, 3.0]], [[4.0, -1.0]]]
    for task in range(3):
        ctx = _ctx(bank, task, data=[{"x": torch.randn(4, 2)}])
        method.before_task(ctx)
        with torch.no_grad():
            bank.candidates(task)["0"].lora_A.copy_(torch.tensor(As[task]))
            bank.candidates(task)["0"].lora_B.copy_(torch.tensor([[1.0], [2.0]]))
        if task < 2:
            method.after_task(ctx)
    return method, bank, ctx


def test_olora_penalty_equals_hand_computed_value_and_reaches_new_A_only() -> None:
    method, bank, ctx = _olora_small(lambda_1=0.5, lambda_2=0.1)
    # |A0 A2^T| = |4 - 2| = 2, |A1 A2^T| = |-3| = 3 (an L1 sum: 5, where squares would give 13);
    # ||A2|| = sqrt(17), ||B2|| = sqrt(5)
    expected = 0.5 * 5.0 + 0.1 * (math.sqrt(17) + math.sqrt(5))
    assert method.extra_loss(ctx).item() == pytest.approx(expected, rel=1e-6)
    method, bank, ctx = _olora_small(lambda_1=0.5)
    method.extra_loss(ctx).backward()
    old = [bank.candidates(t)["0"] for t in (0, 1)]
    new = bank.candidates(2)["0"]
    assert new.lora_A.grad is not None and new.lora_A.grad.abs().sum() > 0
    assert new.lora_B.grad is None and all(a.lora_A.grad is None and a.lora_B.grad is None for a in old)


def test_olora_schedule_overrides_lambda_and_first_task_has_no_penalty() -> None:
    method, _, ctx = _olora_small(lambda_1_schedule=[0.0, 0.5, 5.0])
    assert method.extra_loss(ctx).item() == pytest.approx(5.0 * 5.0)  # task 2 reads the schedule's 5.0, not lambda_1
    bank = _bank()
    method = create_method("olora")
    ctx = _ctx(bank, 0)
    method.before_task(ctx)
    assert method.extra_loss(ctx) is None
    with pytest.raises(ConfigError, match="lambda_1_schedule"):
        create_method("olora", {"lambda_1_schedule": [0.5]}).before_task(_ctx(_bank(), 1))


def test_a_short_olora_schedule_fails_before_anything_trains() -> None:
    from litelora import LiteLoRA
    from litelora.adapters import AdapterConfig
    from litelora.testing import tiny_mlp

    with pytest.raises(ConfigError, match=r"lambda_1_schedule has 2 values for a stream of 3 tasks"):
        LiteLoRA(tiny_mlp(), AdapterConfig(target_modules=["0"]), method="olora",
                 method_params={"lambda_1_schedule": [0.0, 0.5]}, num_tasks=3)


def test_olora_penalty_drives_overlap_to_zero() -> None:
    method, bank = create_method("olora", {"lambda_1": 10.0}), _bank()
    ctx = _ctx(bank, 0)
    method.before_task(ctx)
    method.after_task(ctx)
    ctx = _ctx(bank, 1)
    params = method.before_task(ctx)
    opt = torch.optim.SGD(params, lr=1e-3)
    first = method.extra_loss(ctx).item()
    assert first > 0
    for _ in range(300):
        opt.zero_grad()
        method.extra_loss(ctx).backward()
        opt.step()
    assert method.extra_loss(ctx).item() < 0.05 * first


@pytest.mark.parametrize("params, needle", [({"lambda_1": -1}, "lambda_1"), ({"lambda_2": "x"}, "lambda_2"),
                                            ({"lambda_1_schedule": [0.5, -2]}, "lambda_1_schedule"),
                                            ({"lambda_3": 1}, "lambda_3")])
def test_olora_rejects_bad_params(params: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        create_method("olora", params)
