"""O-LoRA and InfLoRA dynamics, every candidate-adding method under the hard-concrete gate
(planted-redundancy and tiny-text streams), and the remaining bad-input errors.

Complements test_methods.py (hook-level conformance and the per-method specifics)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.errors import ConfigError
from litelora.methods import TaskContext, create_method, list_methods
from litelora.methods.inflora import InfLoRA, complement_basis
from litelora.methods.olora import OLoRA
from litelora.methods.sdlora import SDLoRA
from litelora.training.build import build_trainer
from litelora.training.config import RunConfig
from litelora.training.trainer import ContinualTrainer
from method_helpers import make_bank as _bank, make_ctx as _ctx, make_data as _data, train_steps as _train

GATED_METHODS = [n for n in list_methods() if create_method(n).adds_candidates]


def _memory(method: InfLoRA, target: str) -> torch.Tensor:
    """The memory basis M (d, k), also where the complement of it is stored."""
    U = method.memory[target]
    return complement_basis(U) if method.complement[target] else U


# ---------------------------------------------------------------------------------------- O-LoRA
def _overlap(bank: AdapterBank, task: int) -> float:
    """sum over targets and old adapters of |A_old A_new^T|_1, read from the bank."""
    total = 0.0
    for target, new in bank.candidates(task).items():
        for old in bank.slot(target).adapters.values():
            if old is not new:
                total += (old.lora_A @ new.lora_A.T).abs().sum().item()
    return total


def _olora_after_task0(params: dict[str, Any], n: int = 3) -> tuple[OLoRA, AdapterBank, TaskContext]:
    method, bank = create_method("olora", params), _bank()
    ctx = _ctx(bank, 0)
    _train(method, ctx, method.before_task(ctx))
    method.after_task(ctx)
    return method, bank, _ctx(bank, 1, data=_data(1, n=n))  # type: ignore[return-value]


def test_olora_penalty_gradient_lowers_the_overlap_at_every_step() -> None:
    method, bank, ctx = _olora_after_task0({"lambda_1": 1.0})
    params = method.before_task(ctx)
    opt = torch.optim.SGD(params, lr=1e-3)
    overlaps = [_overlap(bank, 1)]
    for _ in range(5):
        opt.zero_grad()
        method.extra_loss(ctx).backward()
        opt.step()
        overlaps.append(_overlap(bank, 1))
    assert overlaps[0] > 0
    assert all(b < a for a, b in zip(overlaps, overlaps[1:])), overlaps


def test_olora_large_lambda_with_the_task_loss_ends_near_orthogonal() -> None:
    method, bank, ctx = _olora_after_task0({"lambda_1": 100.0}, n=50)
    params = method.before_task(ctx)
    start = _overlap(bank, 1)
    b_before = [a.lora_B.detach().clone() for a in bank.candidates(1).values()]
    opt = torch.optim.SGD(params, lr=1e-3)
    # An L1 (subgradient) penalty: a decaying step, or SGD oscillates at ~lr * lambda around 0.
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.92)
    for batch in ctx.train_inputs():  # 50 steps of task loss + penalty
        loss = (ctx.run_model(batch) - 1.0).pow(2).mean() + method.extra_loss(ctx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    assert start > 0.5 and _overlap(bank, 1) < 0.02 * start
    # the task loss trained too (B only moves through it)
    assert any(not torch.equal(a.lora_B, b) for a, b in zip(bank.candidates(1).values(), b_before))


# ---------------------------------------------------------------------------------------- InfLoRA
@pytest.mark.parametrize("dims, stored", [(3, "basis"), (None, "complement")])
def test_inflora_each_adapted_module_is_unchanged_on_its_memory_subspace(dims: int | None, stored: str) -> None:
    """Every adapted module (not only the first), over two later tasks; the memory is kept
    as a basis for low-dimensional inputs and as its complement for full-rank ones."""
    T = 3
    method, bank = InfLoRA(eps_b=0.9), _bank()
    storage = set()
    for task in range(T):
        ctx = _ctx(bank, task, T, data=_data(task, dims=dims))
        params = method.before_task(ctx)
        probes = {}
        if task > 0:
            for target in bank.targets:
                storage.add("complement" if method.complement[target] else "basis")
                M = _memory(method, target).float()
                x_mem = torch.randn(10, M.shape[1]) @ M.T
                x_any = torch.randn(10, M.shape[0])
                with torch.no_grad():
                    probes[target] = (x_mem, bank.layer(target)(x_mem), x_any, bank.layer(target)(x_any))
        _train(method, ctx, params, lr=0.5)
        with torch.no_grad():
            for target, (x_mem, y_mem, x_any, y_any) in probes.items():
                torch.testing.assert_close(bank.layer(target)(x_mem), y_mem, atol=1e-5, rtol=0)
                assert (bank.layer(target)(x_any) - y_any).abs().max() > 1e-3  # the module did learn
        method.after_task(ctx)
        covs = method.covariances(ctx)
        for target in bank.targets:
            M, C = _memory(method, target), covs[target]
            assert torch.trace(M.T @ C @ M) / torch.trace(C) >= method.eps(task, T) - 1e-9
    assert stored in storage


# ---------------------------------------------------------------------------------------- with the gate
# Gates that close every candidate after task 0: the first gate with a penalty it cannot resist,
# and the LiteLoRA gate with a threshold no score reaches (it closes before anything trains).
CLOSE_ALL = {"hard_concrete": None, "litelora": {"kind": "litelora", "params": {"novelty": 0.999}}}


def _planted(tmp_path, method: str, params: dict[str, Any], gate: dict | None = None) -> RunConfig:
    return RunConfig.from_dict({  # tests/gates/test_planted.py's config; 2 epochs, lambda 100
        "benchmark": {"name": "planted-redundancy", "seed": 0},
        "model": {"name": "planted-mlp"},
        "method": {"name": method, "params": params},
        "adapter": {"target_modules": ["in_a", "in_b", "fc"], "r": 2, "lora_alpha": 2},
        # gate lr 0.3 (0.1 there): 8 search steps a task must surely close every gate
        "gate": gate or {"kind": "hard_concrete", "params": {"lam": 100.0, "lr": 0.3}},
        "train": {"epochs": 2, "batch_size": 32, "lr": 0.01, "head_lr": 0.05, "progress": False, "seed": 0},
        "output_dir": str(tmp_path / "run"),
    })


def _tiny_text(tmp_path, method: str, params: dict[str, Any], gate: dict | None = None) -> RunConfig:
    return RunConfig.from_dict({  # 6 steps a task: a faster gate so that it closes by the decision
        "benchmark": {"name": "tiny-text"},
        "model": {"name": "tiny-bert", "max_length": 16},
        "method": {"name": method, "params": params},
        "gate": gate or {"kind": "hard_concrete", "params": {"lam": 100.0, "lr": 0.5}},
        "train": {"epochs": 1, "batch_size": 8, "progress": False, "lr": 5e-3},
        "output_dir": str(tmp_path / "run"),
    })


def _poison_closed_candidates(trainer: ContinualTrainer, monkeypatch) -> list[tuple[int, str]]:
    """Fill every candidate the gate deletes with NaN: a method (or forward) that still used
    one would make the loss non-finite and the trainer raise."""
    bank, closed = trainer.bank, []
    real = bank.remove_candidate

    def remove(target: str, task_id: int | None = None) -> None:
        task = bank.tasks[-1] if task_id is None else task_id
        adapter = bank.candidates(task)[target]
        real(target, task_id)
        with torch.no_grad():
            adapter.lora_A.fill_(math.nan)
            adapter.lora_B.fill_(math.nan)
        closed.append((task, target))

    monkeypatch.setattr(bank, "remove_candidate", remove)
    return closed


def _check_olora(trainer: ContinualTrainer, monkeypatch, seen: list) -> None:
    method = trainer.method
    assert isinstance(method, OLoRA)
    real = method.extra_loss

    def extra_loss(ctx: TaskContext) -> torch.Tensor | None:
        value = real(ctx)
        bank, t = ctx.bank, ctx.task_id
        present = {task for tasks in bank.active_adapters().values() for task in tasks}
        if t > 0 and bank.candidates(t):
            assert present == {0, t}  # every earlier task but 0 was closed
        expected = torch.zeros(())
        for target, new in bank.candidates(t).items():
            held = bank.slot(target).adapters
            for old_task in range(t):  # by hand, from what the bank holds
                if f"task_{old_task:03d}" in held:
                    old = held[f"task_{old_task:03d}"]
                    expected += method.lambda_1 * (old.lora_A @ new.lora_A.T).abs().sum()
            expected += method.lambda_2 * (new.lora_A.norm() + new.lora_B.norm())
        if not bank.candidates(t):  # the gate closed this task's candidates: nothing to penalise
            assert value is None
        else:
            assert value is not None and value.item() == pytest.approx(expected.item(), rel=1e-5)
        seen.append((t, present, None if value is None else value.item()))
        return value

    monkeypatch.setattr(method, "extra_loss", extra_loss)


def _check_sdlora(trainer: ContinualTrainer, monkeypatch, seen: list) -> None:
    method = trainer.method
    assert isinstance(method, SDLoRA)
    real = method.before_task

    def before_task(ctx: TaskContext) -> list[nn.Parameter]:
        params = real(ctx)
        bank = ctx.bank
        adapters = [a for t in bank.targets for a in bank.slot(t).adapters.values()]
        magnitudes = [p for p in params if p.ndim == 0]
        directions = set()
        for alpha in magnitudes:
            owners = {a.task_id for a in adapters if a.magnitude is alpha}
            assert len(owners) == 1, owners  # one alpha per task, carried by that task's adapters
            directions |= owners
        assert directions == {a.task_id for a in adapters}  # exactly the tasks the bank still holds
        assert len(magnitudes) == len(directions)
        seen.append((ctx.task_id, directions))
        return params

    monkeypatch.setattr(method, "before_task", before_task)


def _memory_dim(method: InfLoRA, target: str) -> int:
    U = method.memory[target]
    return U.shape[0] - U.shape[1] if method.complement[target] else U.shape[1]


def _check_inflora(trainer: ContinualTrainer, monkeypatch, seen: list) -> None:
    method = trainer.method
    assert isinstance(method, InfLoRA)
    real = method.after_task

    def after_task(ctx: TaskContext) -> None:
        before = {t: _memory_dim(method, t) if t in method.memory else 0 for t in ctx.bank.targets}
        real(ctx)
        covs = method.covariances(ctx)
        eps = method.eps(ctx.task_id, ctx.num_tasks)
        for target in ctx.bank.targets:  # also where the gate closed the candidate
            M, C = _memory(method, target), covs[target]
            assert torch.trace(M.T @ C @ M) / torch.trace(C) >= eps - 1e-9, target
        seen.append((ctx.task_id, before, {t: _memory_dim(method, t) for t in ctx.bank.targets}))

    monkeypatch.setattr(method, "after_task", after_task)


CHECKS: dict[type, Callable[..., None]] = {OLoRA: _check_olora, SDLoRA: _check_sdlora, InfLoRA: _check_inflora}


@pytest.mark.parametrize("gate", list(CLOSE_ALL))
@pytest.mark.parametrize("stream", [_planted, _tiny_text], ids=["planted", "tiny-text"])
@pytest.mark.parametrize("name", GATED_METHODS)
def test_closed_candidates_never_enter_the_method_state(tmp_path, monkeypatch, name: str, stream, gate: str) -> None:
    params = {"lambda_2": 0.01} if name == "olora" else {}
    trainer = build_trainer(stream(tmp_path, name, params, CLOSE_ALL[gate]))
    closed = _poison_closed_candidates(trainer, monkeypatch)
    seen: list = []
    check = next((c for cls, c in CHECKS.items() if isinstance(trainer.method, cls)), None)
    if check is not None:
        check(trainer, monkeypatch, seen)
    result = trainer.run()

    T, targets = len(trainer.stream.tasks), trainer.bank.targets
    assert sorted(closed) == [(t, target) for t in range(1, T) for target in sorted(targets)]
    assert trainer.bank.active_adapters() == {t: [0] for t in targets}
    assert result.metrics["active_adapters"] == len(targets)
    assert all(math.isfinite(v) for row in result.accuracy_matrix for v in row)
    fresh = create_method(name, params)
    fresh.load_state_dict(trainer.method.state_dict(), trainer.bank)

    if isinstance(trainer.method, OLoRA):
        tasks = {t for t, _, _ in seen}
        assert tasks == set(range(T))
        assert all(v is not None and v > 0 for t, _, v in seen if t == 0)  # lambda_2 only
        for t in range(1, T):
            values = [v for u, _, v in seen if u == t]
            if gate == "hard_concrete":  # penalised before the decision, nothing left to penalise after it
                assert values[0] is not None and values[0] > 0 and values[-1] is None
            else:  # the litelora gate closed them before the task's first step
                assert values and all(v is None for v in values)
    elif isinstance(trainer.method, SDLoRA):
        assert seen == [(0, {0})] + [(t, {0, t}) for t in range(1, T)]
    elif isinstance(trainer.method, InfLoRA):
        # Every candidate of tasks >= 1 was closed, yet the memory grows wherever the task's
        # inputs left it: on planted-redundancy where a new hidden block reaches the module
        # (the planted truth), on tiny-text in every target at every task.
        truth = trainer.stream.meta.get("truth")
        assert [t for t, _, _ in seen] == list(range(T))
        for task, before, after in seen[1:]:
            assert all(after[t] >= before[t] for t in targets)
            must_grow = [t for t in targets if truth[task][t]] if truth else targets
            assert all(after[t] > before[t] for t in must_grow), (task, before, after)
        if truth:
            assert sum(truth[t][m] for t in range(1, T) for m in targets) >= 2


# ---------------------------------------------------------------------------------------- bad input
def test_inflora_rank_above_one_targets_input_dim_names_it_and_adds_nothing() -> None:
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    bank = AdapterBank(model, AdapterConfig(target_modules=["0", "2"], r=4))
    with pytest.raises(ConfigError, match=r"rank 4 exceeds the input dimension 3 of target '0'.*adapter\.r"):
        InfLoRA().before_task(_ctx(bank, 0, data=[{"x": torch.randn(4, 3)}]))
    assert bank.tasks == [] and bank.active_adapters() == {"0": [], "2": []}
    # a rank_pattern entry that fits both targets' inputs is accepted
    bank = AdapterBank(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)),
                       AdapterConfig(target_modules=["0", "2"], r=4, rank_pattern={"0": 3}))
    ctx = _ctx(bank, 0, data=[{"x": torch.randn(4, 3)}])
    InfLoRA().before_task(ctx)
    assert {t: a.r for t, a in bank.candidates(0).items()} == {"0": 3, "2": 4}


def test_inflora_rank_above_input_dim_fails_a_run_before_training(tmp_path) -> None:
    cfg = _planted(tmp_path, "inflora", {}).to_dict()
    cfg["adapter"]["r"] = 9  # in_a and in_b read 8 inputs, fc 64
    trainer = build_trainer(RunConfig.from_dict(cfg))
    with pytest.raises(ConfigError, match="rank 9 exceeds the input dimension 8 of target 'in_a'"):
        trainer.run()
    assert trainer.bank.tasks == []


@pytest.mark.parametrize("params, needle", [
    ({"lambda_2": -0.1}, r"lambda_2 must be a non-negative number, got -0\.1"),
    ({"lambda_1": float("nan")}, r"method\.params\.lambda_1: expected a finite number, got nan"),
    ({"lambda_1": True}, r"method\.params\.lambda_1: expected a number, got bool True"),
    ({"lambda_1_schedule": [0.5, -1e-3]}, r"lambda_1_schedule\[1\] must be a non-negative number"),
])
def test_olora_negative_or_non_numeric_weights_are_refused(params: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        create_method("olora", params)


@pytest.mark.parametrize("name", ["sdlora-rr", "sdlora"])
@pytest.mark.parametrize("rank, needle", [
    (-2, r"rank_schedule\[1\] rank must be a positive integer rank, got -2"),
    (2.5, r"method\.params\.rank_schedule\[1\]\[1\]: expected an integer, got float 2\.5"),
    (True, r"method\.params\.rank_schedule\[1\]\[1\]: expected an integer, got bool True"),
])
def test_sdlora_rank_schedule_refuses_non_positive_or_non_int_ranks(name: str, rank: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        create_method(name, {"rank_schedule": [[0, 10], [4, rank]]})
