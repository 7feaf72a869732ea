"""SD-LoRA specifics (sdlora, sdlora-rr, sdlora-kd), driving the hooks directly on tiny models:
normalised directions, one trainable magnitude per task, the rank schedule, the KD gate."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterConfig, save_bank
from litelora.errors import ConfigError
from litelora.gates import GateConfig, RepresentabilityGate
from litelora.methods import create_method
from litelora.methods.sdlora import SDLoRAKD
from method_helpers import D_IN, make_bank as _bank, make_ctx as _ctx, train_steps as _train


def _dense(a: nn.Module) -> torch.Tensor:
    return (a.scale * a.lora_B @ a.lora_A).double()  # type: ignore[operator]


def test_sdlora_normalises_at_task_end_without_changing_the_model(tmp_path) -> None:
    method, bank = create_method("sdlora"), _bank()
    x = torch.randn(16, D_IN)
    folded: dict[int, float] = {}
    for task in range(3):
        ctx = _ctx(bank, task)
        with torch.no_grad():
            before = bank.model(x)
        params = method.before_task(ctx)
        with torch.no_grad():  # re-tying each task's magnitudes (and a new B = 0 adapter) moves nothing
            torch.testing.assert_close(bank.model(x), before, atol=1e-5, rtol=0)
        for t in bank.tasks:  # one shared, trainable magnitude per task, re-initialised each task
            mags = {id(a.magnitude) for a in bank.candidates(t).values()}
            alpha = bank.candidates(t)["0"].magnitude
            # the new task starts at 1, an old one at the mean of its per-module folded magnitudes
            assert len(mags) == 1 and alpha.requires_grad
            assert alpha.item() == pytest.approx(folded.get(t, 1.0), rel=1e-6)
            assert any(p is alpha for p in params)
        _train(method, ctx, params)
        with torch.no_grad():
            y = bank.model(x)
        directions = {k: _dense(a) / _dense(a).norm() for k, a in bank.candidates(task).items()}
        method.after_task(ctx)
        for t in bank.tasks:
            folded[t] = torch.stack([a.magnitude for a in bank.candidates(t).values()]).mean().item()
        with torch.no_grad():
            torch.testing.assert_close(bank.model(x), y, atol=1e-5, rtol=0)
        for k, a in bank.candidates(task).items():
            assert _dense(a).norm().item() == pytest.approx(1.0, abs=1e-5)
            torch.testing.assert_close(_dense(a), directions[k], atol=1e-6, rtol=0)
        save_bank(bank, tmp_path / f"t{task}")  # no aliased magnitudes left between tasks


def test_sdlora_forward_is_the_sum_of_magnitude_weighted_directions() -> None:
    method, bank = create_method("sdlora"), _bank(nn.Sequential(nn.Linear(D_IN, 6)), targets=["0"])
    for task in range(2):
        ctx = _ctx(bank, task)
        params = method.before_task(ctx)
        _train(method, ctx, params)
        if task == 0:
            method.after_task(ctx)
    with torch.no_grad():
        old, new = bank.candidates(0)["0"], bank.candidates(1)["0"]
        old.magnitude.fill_(0.3)
        new.magnitude.fill_(1.7)
        x = torch.randn(5, D_IN)
        dW = 0.3 * _dense(old) / _dense(old).norm() + 1.7 * _dense(new)
        torch.testing.assert_close(bank.model(x), bank.layer("0").base_layer(x) + (x.double() @ dW.T).float(),
                                   atol=1e-5, rtol=0)


def test_sdlora_rr_follows_the_rank_schedule() -> None:
    method, bank = create_method("sdlora-rr"), _bank(targets=["2"])
    ranks = []
    for task in range(10):
        ctx = _ctx(bank, task, 10)
        method.before_task(ctx)
        method.after_task(ctx)
        ranks.append(bank.candidates(task)["2"].r)
    assert ranks == [10] * 4 + [8] * 4 + [6] * 2
    assert create_method("sdlora", {"rank_schedule": [[0, 3], [1, 2]]}).rank(5) == 2


def test_a_rank_the_schedule_overrides_is_named_at_build() -> None:
    """sdlora-rr's schedule sets every task's rank: an ``adapter.r`` or ``rank_pattern`` set beside it
    would silently do nothing; a schedule that starts later leaves the first tasks to ``adapter.r``."""
    with pytest.warns(UserWarning, match=r"adapter\.r=16 and adapter\.rank_pattern have no effect with method "
                                         r"'sdlora-rr'.*10 \(task 0\) -> 8 \(task 4\) -> 6 \(task 8\)"):
        create_method("sdlora-rr").check_adapter(AdapterConfig(r=16, rank_pattern={"2": 4}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_method("sdlora-rr").check_adapter(AdapterConfig())  # the defaults: nothing set, nothing to say
        create_method("sdlora", {"rank_schedule": [[2, 4]]}).check_adapter(AdapterConfig(r=16))
        create_method("sdlora").check_adapter(AdapterConfig(r=16))


@pytest.mark.parametrize("schedule, needle", [([[0, 10], [4, 0]], "rank"), ([[0, 10], [0, 8]], "increase"),
                                              ([[0, 10, 1]], "pair"), ([], "non-empty"), ([[-1, 4]], "first_task")])
def test_sdlora_rejects_bad_rank_schedule(schedule: list, needle: str) -> None:
    with pytest.raises(ConfigError, match=f"rank_schedule.*{needle}|{needle}.*rank_schedule"):
        create_method("sdlora-rr", {"rank_schedule": schedule})


def test_sdlora_kd_declares_the_representability_gate() -> None:
    gate_cfg = GateConfig(**SDLoRAKD.default_gate)
    assert (gate_cfg.kind, gate_cfg.params["tau"], gate_cfg.reuse) == ("representability", 9e-4, "scale")
    method, bank = create_method("sdlora-kd"), _bank()
    gate = RepresentabilityGate(gate_cfg, num_tasks=2)
    for task in range(2):
        ctx = _ctx(bank, task, 2)
        params = method.before_task(ctx)
        _train(method, ctx, params)
        if task == 1:
            old, new = bank.candidates(0)["0"], bank.candidates(1)["0"]
            with torch.no_grad():  # an exact multiple of the old direction in target "0"
                new.lora_A.copy_(old.lora_A)
                new.lora_B.copy_(old.lora_B)
        gate.after_training(ctx)
        method.after_task(ctx)
    assert bank.active_adapters() == {"0": [0], "2": [0, 1]}


def test_weight_decay_does_not_shrink_sdlora_magnitudes() -> None:
    """Decay on an old task's alpha would scale that task's whole update towards 0 every step. With
    a zero gradient AdamW moves a parameter by its decay alone: A shrinks, every alpha stays."""
    from litelora import LiteLoRA
    from litelora.adapters import AdapterConfig
    from litelora.training.optim import build_optimizer

    model = nn.Sequential(nn.Linear(D_IN, 6))
    lite = LiteLoRA(model, AdapterConfig(target_modules=["0"], r=2, init_lora_weights="gaussian"),
                    method="sdlora", num_tasks=2, lr=1e-2)
    x = torch.randn(4, D_IN)
    lite.start_task(0, 1)
    lite.end_task()
    groups = lite.start_task(1, 3)
    alphas = {t: lite.bank.candidates(t)["0"].magnitude for t in range(2)}
    before = {t: a.item() for t, a in alphas.items()}
    A = lite.bank.candidates(1)["0"].lora_A
    A0 = A.detach().clone()
    optimizer = build_optimizer(groups, weight_decay=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        (0.0 * model(x).sum()).backward()
        optimizer.step()
    assert {t: a.item() for t, a in alphas.items()} == before
    torch.testing.assert_close(A.detach(), A0 * (1 - 1e-2 * 0.5) ** 3)
