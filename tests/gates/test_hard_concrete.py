import math

import pytest
import torch

from litelora.adapters import AdapterBank, AdapterConfig, load_bank, save_bank
from litelora.errors import ConfigError
from litelora.gates import GateConfig, HardConcreteGate, deterministic_gate, group_targets, prob_open
from litelora.gates.hard_concrete import log_a_for
from litelora.methods import TaskContext, create_method
from litelora.training.pairing import gate_for
from litelora.testing import tiny_mlp
from litelora.training.optim import build_optimizer


COMMON = {"budget", "reuse", "group", "reuse_lr", "first_task_recruits"}


def _config(**kw) -> GateConfig:
    """A hard_concrete config: shared fields as they are, the gate's own under ``params``."""
    return GateConfig(kind="hard_concrete", **{k: v for k, v in kw.items() if k in COMMON},
                      params={k: v for k, v in kw.items() if k not in COMMON})


def _setup(**gate_kw):
    model = tiny_mlp()
    bank = AdapterBank(model, AdapterConfig(target_modules=["0", "2", "4"], r=2, init_lora_weights="gaussian"))
    method = create_method("inclora")
    gate = HardConcreteGate(_config(**gate_kw), num_tasks=2)
    for t in range(2):
        ctx = TaskContext(task_id=t, num_tasks=2, bank=bank)
        params = method.before_task(ctx)
        groups = [{"params": params, "lr": 0.1}, *gate.before_task(ctx)]
        if t == 0:
            method.after_task(ctx)
    return model, bank, gate, ctx, groups


def test_gate_starts_open_and_penalty_reaches_log_a() -> None:
    model, bank, gate, ctx, _ = _setup(lam=1.0, init_open=0.9)
    assert gate.log_a is not None
    torch.testing.assert_close(prob_open(gate.log_a), torch.full((3,), 0.9))
    model(torch.randn(4, 8)).sum().backward()
    task_grad = gate.log_a.grad.clone()
    gate.log_a.grad = None
    gate.penalty().backward()
    assert gate.log_a.grad is not None and (gate.log_a.grad > 0).all()
    assert not torch.equal(task_grad, torch.zeros(3))


def test_penalty_weights_groups_by_adapter_size() -> None:
    _, bank, gate, _, _ = _setup(lam=1.0)
    sizes = [bank.candidates(1)[t].num_parameters() for t in ["0", "2", "4"]]  # 48, 64, 40
    assert sizes == [48, 64, 40]
    torch.testing.assert_close(gate.cost, torch.tensor(sizes, dtype=torch.float32) / 64)
    expected = sum(c * 0.9 for c in gate.cost.tolist())
    assert gate.penalty().item() == pytest.approx(expected, rel=1e-5)


def test_hard_concrete_formulas() -> None:
    log_a = torch.tensor([-10.0, 0.0, 10.0])
    torch.testing.assert_close(deterministic_gate(log_a), torch.tensor([0.0, 0.5, 1.0]), atol=1e-3, rtol=0)
    assert log_a_for(0.5) == pytest.approx((2 / 3) * math.log(0.1 / 1.1))


def test_closed_candidate_leaves_nothing_behind(tmp_path) -> None:
    model, bank, gate, ctx, groups = _setup(lam=0.0)
    opt = build_optimizer(groups, 0.0)
    x = torch.randn(6, 8)
    model(x).sum().backward()
    opt.step()
    with torch.no_grad():
        gate.log_a.copy_(torch.tensor([10.0, -10.0, 10.0]))  # close target "2"
    closed = bank.candidates(1)["2"]
    closed_ids = {id(p) for p in closed.parameters()}
    model.eval()
    bank.set_coefficient("2", 1, lambda: torch.tensor(0.0))
    with torch.no_grad():
        zero_coef = model(x)
    bank.set_coefficient("2", 1, gate._coefficient(1))
    assert gate.decide(ctx) == [True, False, True]
    with torch.no_grad():
        torch.testing.assert_close(model(x), zero_coef, atol=1e-6, rtol=0)
    assert closed_ids.isdisjoint({id(p) for p in model.parameters()})
    opt = build_optimizer(groups, 0.0, previous=opt)
    assert closed_ids.isdisjoint({id(p) for g in opt.param_groups for p in g["params"]})
    assert closed_ids.isdisjoint({id(p) for p in opt.state})
    assert bank.active_adapters() == {"0": [0, 1], "2": [0], "4": [0, 1]}
    save_bank(bank, tmp_path)
    from safetensors import safe_open

    with safe_open(tmp_path / "adapters.safetensors", "pt") as f:
        assert not [k for k in f.keys() if k.startswith("2/task_001")]
    assert load_bank(tiny_mlp(), tmp_path).active_adapters() == bank.active_adapters()
    assert [d.decision for d in gate.decisions_for(1)] == ["recruit", "reuse", "recruit"]
    assert gate.decisions_for(1)[1].params_freed == 64


@pytest.mark.parametrize(("budget", "kept"), [(0.34, 1), (0.5, 2), (0.67, 2), (1.0, 3)])
def test_budget_keeps_exactly_round_fraction(budget: float, kept: int) -> None:
    _, bank, gate, ctx, _ = _setup(budget=budget)
    with torch.no_grad():
        gate.log_a.copy_(torch.tensor([0.3, -0.2, 0.1]))
    recruit = gate.decide(ctx)
    assert sum(recruit) == kept == round(budget * 3)
    by_rank = [True, False, True] if kept == 2 else [True, False, False] if kept == 1 else [True] * 3
    assert recruit == by_rank  # the highest gates win: group 0 (0.3), then group 2 (0.1)
    assert bank.num_active(task_id=1) == kept


def test_core_reuse_stays_in_old_span() -> None:
    model, bank, gate, ctx, groups = _setup(lam=0.0, reuse="core")
    opt = build_optimizer(groups, 0.0)
    for _ in range(5):
        opt.zero_grad()
        model(torch.randn(6, 8)).pow(2).sum().backward()
        opt.step()
        gate.after_step(ctx, 0, 100)
    core = bank.slot("2").reuse["task_001"]
    delta = core.delta_weight().double()
    assert delta.norm() > 0
    old = bank.candidates(0)["2"]
    U, _ = torch.linalg.qr(old.lora_B.double())
    V, _ = torch.linalg.qr(old.lora_A.double().T)
    residual = delta - U @ U.T @ delta @ V @ V.T
    assert residual.norm() / delta.norm() < 1e-6


def test_group_targets() -> None:
    targets = ["enc.layer.0.q", "enc.layer.0.v", "enc.layer.1.q", "head"]
    assert group_targets(targets, "module") == {t: [t] for t in targets}
    assert group_targets(targets, "layer") == {"enc.layer.0": targets[:2], "enc.layer.1": [targets[2]],
                                               "model": ["head"]}
    assert group_targets(targets, "task") == {"task": targets}


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"decide_at": 0.0}, "decide_at"),
        ({"decide_at": 1.5}, "decide_at"),
        ({"budget": 0.0}, "budget"),
        ({"budget": 1.2}, "budget"),
        ({"reuse": "core", "first_task_recruits": False}, "core"),
        ({"lam": -1.0}, "lam"),
    ],
)
def test_bad_gate_config(kw, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        HardConcreteGate(_config(**kw), num_tasks=2)


def test_gate_on_seqlora_is_rejected() -> None:
    with pytest.raises(ConfigError, match="seqlora"):
        gate_for(create_method("seqlora"), GateConfig(kind="hard_concrete"), num_tasks=3)


def _push_closed(gate: HardConcreteGate, lr: float, steps: int) -> torch.Tensor:
    """``steps`` Adam steps on the penalty alone (every candidate wants to close)."""
    opt = torch.optim.AdamW([gate.log_a], lr=lr, weight_decay=0.0)
    for _ in range(steps):
        opt.zero_grad()
        gate.penalty().backward()
        opt.step()
    return deterministic_gate(gate.log_a.detach())


def test_too_short_search_warns_and_the_warning_is_true() -> None:
    _, _, gate, ctx, _ = _setup(lam=10.0, lr=0.05)
    with pytest.warns(UserWarning, match=r"searches for 9 steps.*needs about 12.*gate.kind=litelora"):
        gate.after_step(ctx, 1, 18)
    assert (_push_closed(gate, 0.05, 9 - 1) > 0.5).all()  # as warned: nothing can close
    _, _, gate, ctx, _ = _setup(lam=10.0, lr=0.07)
    assert (_push_closed(gate, 0.07, 9) < 0.5).all()  # 12 steps' worth of lr x steps closes it


def test_samples_come_from_the_gate_generator_not_the_global_stream() -> None:
    """Paired randomness: a gated run draws the host's global random numbers."""
    model, _, gate, ctx, _ = _setup(lam=0.1)
    model.train()
    before = torch.random.get_rng_state()
    first = gate.z().clone()
    assert torch.equal(torch.random.get_rng_state(), before)
    gate.after_step(ctx, 1, 100)  # next step: a new sample
    second = gate.z().clone()
    assert not torch.equal(first, second)
    _, _, again, _, _ = _setup(lam=0.1)
    again._bank.model.train()
    assert torch.equal(again.z(), first)  # seeded per task from the run's seed


def test_recruited_module_drops_its_reuse_path() -> None:
    model, bank, gate, ctx, groups = _setup(lam=0.0, reuse="scale")
    assert all("task_001" in bank.slot(t).reuse for t in bank.targets)
    gate.decide(ctx)
    for target, decision in zip(bank.targets, gate.decisions_for(1)):
        assert ("task_001" in bank.slot(target).reuse) == (decision.decision == "reuse")
    assert any(d.decision == "recruit" for d in gate.decisions_for(1))


def test_long_enough_search_does_not_warn(recwarn) -> None:
    _, _, gate, ctx, _ = _setup(lam=0.01, lr=0.05)
    gate.after_step(ctx, 1, 60)
    assert not [w for w in recwarn if "gate searches" in str(w.message)]


def test_the_decision_folds_the_gate_into_b_so_the_function_does_not_jump() -> None:
    """A recruit learned under its gate value z (here strictly between 0 and 1); from the decision
    on it runs at coefficient 1 with z folded into B: the model's eval output is unchanged."""
    model, bank, gate, ctx, _ = _setup(budget=1.0)
    with torch.no_grad():
        gate.log_a.copy_(torch.tensor([0.3, -0.2, 0.1]))
    z = deterministic_gate(gate.log_a.detach())
    assert ((z > 0.05) & (z < 0.95)).all()  # the fold is not the identity
    model.eval()
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(x)
        assert gate.decide(ctx) == [True, True, True]
        torch.testing.assert_close(model(x), before, atol=1e-6, rtol=0)


def test_the_gate_decides_once_its_search_steps_are_done() -> None:
    """decide_at=0.5 of 10 steps: the search takes steps 1-5 and the decision follows step 5, once."""
    _, bank, gate, ctx, _ = _setup(budget=1.0, decide_at=0.5)
    decided = [step for step in range(1, 11) if gate.after_step(ctx, step, 10)]
    assert decided == [5]
    assert len(gate.decisions_for(1)) == 3
