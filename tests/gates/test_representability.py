import torch

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.adapters.subspace import representability
from litelora.gates import GateConfig, RepresentabilityGate
from litelora.methods import TaskContext, create_method
from litelora.testing import tiny_mlp


def _run(reuse: str, num_tasks: int, edit):
    """inclora on one target of a tiny MLP under the representability gate (tau 1e-6); ``edit(bank,
    t)`` sets task t's adapters (no_grad) after they are added and before the gate decides."""
    model = tiny_mlp()
    bank = AdapterBank(model, AdapterConfig(target_modules=["2"], r=2, init_lora_weights="gaussian"))
    method = create_method("inclora")
    gate = RepresentabilityGate(GateConfig(kind="representability", reuse=reuse, params={"tau": 1e-6}),
                                num_tasks=num_tasks)
    for t in range(num_tasks):
        ctx = TaskContext(task_id=t, num_tasks=num_tasks, bank=bank)
        method.before_task(ctx)
        gate.before_task(ctx)
        with torch.no_grad():
            edit(bank, t)
        gate.after_training(ctx)
        method.after_task(ctx)
    return model, bank, gate


def _two_tasks(reuse: str, in_span: bool, old_magnitude: float = 1.0):
    def edit(bank, t):
        if t == 1:
            bank.candidates(0)["2"].magnitude.fill_(old_magnitude)
        if t == 1 and in_span:
            old, new = bank.candidates(0)["2"], bank.candidates(1)["2"]
            new.lora_A.copy_(old.lora_A)  # new update = 0.7 x old update: exactly representable
            new.lora_B.copy_(0.7 * old.lora_B)

    return _run(reuse, 2, edit)


def test_representable_candidate_is_folded_into_scale() -> None:
    x = torch.randn(5, 16)
    model, bank, gate = _two_tasks("scale", in_span=True)
    assert bank.active_adapters() == {"2": [0]}
    assert gate.decisions_for(1)[0].decision == "reuse"
    # the folded magnitude reproduces the dropped update: (1 + 0.7) x old update
    layer = bank.layer("2")
    old = bank.candidates(0)["2"]
    expected = layer.base_layer(x) + 1.7 * old.scale * (x @ old.lora_A.T @ old.lora_B.T)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=0)


def test_fold_keeps_the_sign_of_a_negative_old_magnitude() -> None:
    """With m_old = -1 the old update is -B A and the candidate 0.7 B A: the folded magnitude must
    be -1 + 0.7 (a delta of +0.7), not -1 - 0.7."""
    x = torch.randn(5, 16)
    _, bank, gate = _two_tasks("scale", in_span=True, old_magnitude=-1.0)
    assert gate.decisions_for(1)[0].decision == "reuse"
    layer, old = bank.layer("2"), bank.candidates(0)["2"]
    expected = layer.base_layer(x) + (-1.0 + 0.7) * old.scale * (x @ old.lora_A.T @ old.lora_B.T)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=0)


def test_representable_candidate_kept_as_core() -> None:
    x = torch.randn(5, 16)
    model, bank, gate = _two_tasks("core", in_span=True)
    layer = bank.layer("2")
    old = bank.candidates(0)["2"]
    expected = layer.base_layer(x) + 1.7 * old.scale * (x @ old.lora_A.T @ old.lora_B.T)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=0)


def test_new_direction_is_recruited() -> None:
    _, bank, gate = _two_tasks("scale", in_span=False)
    assert bank.active_adapters() == {"2": [0, 1]}
    assert gate.decisions_for(1)[0].gate > 0.1


def test_residual_values() -> None:
    B, A = torch.randn(6, 2), torch.randn(2, 5)
    res, beta = representability([(B, A)], (2 * B, A))
    assert res < 1e-12 and beta[0].item() > 0.99
    B2, A2 = torch.randn(6, 2), torch.randn(2, 5)
    res2, _ = representability([(B, A)], (B2, A2))
    assert 0.0 < res2 <= 1.0
    res3, _ = representability([], (B2, A2))
    assert res3 == 1.0


def test_budget_keeps_the_least_representable_fraction_and_folds_the_rest() -> None:
    """Four targets; task 1's candidates made 0 %, 30 %, 60 % and 100 % new (the rest a copy of
    task 0's update): a budget of 0.5 keeps the two newest, whatever tau says."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(8, 8) for _ in range(4)])
    bank = AdapterBank(model, AdapterConfig(target_modules=["0", "1", "2", "3"], r=2, init_lora_weights="gaussian"))
    method = create_method("inclora")
    gate = RepresentabilityGate(GateConfig(kind="representability", reuse="scale", budget=0.5, params={"tau": 0.0}), num_tasks=2)
    for t in range(2):
        ctx = TaskContext(task_id=t, num_tasks=2, bank=bank)
        method.before_task(ctx)
        gate.before_task(ctx)
        if t == 1:
            for i, share in enumerate([0.0, 0.3, 0.6, 1.0]):
                old, new = bank.candidates(0)[str(i)], bank.candidates(1)[str(i)]
                with torch.no_grad():
                    new.lora_A.copy_((1 - share) * old.lora_A + share * new.lora_A)
                    new.lora_B.copy_((1 - share) * old.lora_B + share * new.lora_B)
        gate.after_training(ctx)
        method.after_task(ctx)
    assert bank.active_adapters() == {"0": [0], "1": [0], "2": [0, 1], "3": [0, 1]}
    residuals = [d.gate for d in gate.decisions_for(1)]
    assert residuals[0] < 1e-6 < residuals[1] < residuals[2] and residuals[2] > residuals[0]


def _three_tasks(reuse: str):
    """Task 2's candidate is exactly 0.5 x task 0's update - 0.8 x task 1's (both share A, so the
    combination has the candidates' rank 2)."""
    def edit(bank, t):
        first = bank.candidates(0)["2"]
        if t == 1:
            bank.candidates(1)["2"].lora_A.copy_(first.lora_A)
        if t == 2:
            second, new = bank.candidates(1)["2"], bank.candidates(2)["2"]
            new.lora_A.copy_(first.lora_A)
            new.lora_B.copy_(0.5 * first.lora_B - 0.8 * second.lora_B)

    torch.manual_seed(0)
    _, bank, gate = _run(reuse, 3, edit)
    return bank, gate


def test_a_fold_over_two_earlier_adapters_gives_each_its_own_coefficient() -> None:
    x = torch.randn(5, 16)
    for reuse in ("scale", "core"):
        bank, gate = _three_tasks(reuse)
        assert [d.decision for d in gate.decisions_for(2)] == ["reuse"] and bank.active_adapters() == {"2": [0, 1]}
        fold = list(bank.slot("2").reuse.parameters())
        assert fold and not any(p.requires_grad for p in fold)  # a fold after training: nothing left to train
        layer, (a0, a1) = bank.layer("2"), (bank.candidates(t)["2"] for t in (0, 1))
        update = 1.5 * a0.scale * a0.lora_B @ a0.lora_A + 0.2 * a1.scale * a1.lora_B @ a1.lora_A
        torch.testing.assert_close(layer(x), layer.base_layer(x) + x @ update.T, atol=1e-5, rtol=0)
