"""Method conformance (every registered method) and the InfLoRA specifics, driving the hooks
directly on tiny models (O-LoRA's: test_olora.py; SD-LoRA's: test_sdlora.py)."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.errors import ConfigError
from litelora.methods import TaskContext, create_method, list_methods
from litelora.methods.inflora import InfLoRA, complement_basis, input_covariances, project_off, token_mask
from litelora.methods.sdlora import SDLoRA
from litelora.testing import TinyFusedViT
from method_helpers import D_IN, make_bank as _bank, make_ctx as _ctx, make_data as _data, train_steps as _train


def _factors(bank: AdapterBank) -> dict[tuple[str, str, str], torch.Tensor]:
    return {(t, n, k): getattr(a, k).detach().clone()
            for t in bank.targets for n, a in bank.slot(t).adapters.items() for k in ("lora_A", "lora_B", "magnitude")}


# ---------------------------------------------------------------------------------------- conformance
@pytest.mark.parametrize("name", list_methods())
def test_train_step_moves_only_returned_params_and_old_adapters_stay(name: str) -> None:
    method, bank = create_method(name), _bank()
    finished: dict[tuple[str, str, str], torch.Tensor] = {}
    for task in range(3):
        ctx = _ctx(bank, task)
        params = method.before_task(ctx)
        ids = {id(p) for p in params}
        assert len(ids) == len(params), "a parameter is returned twice"
        assert {id(p) for p in bank.model.parameters() if p.requires_grad} == ids
        before = {id(p): p.detach().clone() for p in bank.model.parameters()}
        _train(method, ctx, params)
        moved = [id(p) for p in bank.model.parameters() if not torch.equal(p, before[id(p)])]
        assert moved and set(moved) <= ids
        method.after_task(ctx)
        assert not [p for p in bank.model.parameters() if p.requires_grad]
        for key, value in finished.items():
            if key[2] == "magnitude" and isinstance(method, SDLoRA):
                continue  # SD-LoRA retrains every magnitude
            if key[2] == "lora_B" and isinstance(method, SDLoRA):
                # and keeps each module's share of its task's magnitude in B: the direction stays
                now = _factors(bank)[key]
                torch.testing.assert_close(now / now.norm(), value / value.norm(), atol=1e-6, rtol=0)
                continue
            if method.adds_candidates:
                assert torch.equal(_factors(bank)[key], value), key
        finished = _factors(bank)


@pytest.mark.parametrize("name", [n for n in list_methods() if create_method(n).adds_candidates])
def test_methods_cope_with_a_removed_candidate(name: str) -> None:
    method, bank = create_method(name), _bank()
    for task in range(2):
        ctx = _ctx(bank, task)
        params = method.before_task(ctx)
        if task == 1:
            bank.remove_candidate("2", 1)  # what a closed gate does between the hooks
        _train(method, ctx, [p for p in params if p.requires_grad])
        method.after_task(ctx)
    assert bank.active_adapters()["2"] == [0] and bank.active_adapters()["0"] == [0, 1]
    fresh = create_method(name)
    fresh.load_state_dict(method.state_dict(), bank)
    loaded, saved = fresh.state_dict(), method.state_dict()
    assert loaded.keys() == saved.keys()
    for key, value in saved.items():  # the values themselves, not only their names
        assert torch.equal(loaded[key], value), key
    if isinstance(method, InfLoRA):  # the memory still grows where the candidate was closed
        assert method.memory["2"].shape[1] > 0


def test_seqlora_trains_one_adapter_through_every_task() -> None:
    """Task 0's adapters are the only ones; each task trains them on (what the previous task left)
    and freezes them when it ends."""
    method, bank = create_method("seqlora"), _bank()
    seen = []
    for task in range(3):
        ctx = _ctx(bank, task)
        params = method.before_task(ctx)
        assert params and all(p.requires_grad for p in params)
        before = [p.detach().clone() for p in params]
        _train(method, ctx, params)
        assert any(not torch.equal(b, p) for b, p in zip(before, params))
        seen.append({id(p) for p in params})
        method.after_task(ctx)
        assert not any(p.requires_grad for p in params)
    assert bank.tasks == [0] and seen[0] == seen[1] == seen[2]
    assert bank.active_adapters() == {"0": [0], "2": [0]}


# ---------------------------------------------------------------------------------------- InfLoRA
def _padded(ids: list[list[int]], length: int) -> dict[str, torch.Tensor]:
    rows = [r + [0] * (length - len(r)) for r in ids]
    mask = [[1] * len(r) + [0] * (length - len(r)) for r in ids]
    return {"input_ids": torch.tensor(rows), "attention_mask": torch.tensor(mask)}


def test_the_covariance_pass_runs_without_dropout_and_restores_the_mode() -> None:
    """BERT's dropout (0.1) would add energy that is not in the inputs: the pass runs in eval mode,
    so two passes agree, and a model in training mode is left in it (an own loop's dropout stays)."""
    from litelora.testing import tiny_bert

    torch.manual_seed(0)
    model = tiny_bert().train()
    bank = AdapterBank(model, AdapterConfig(target_modules=["query"], r=2))
    batch = _padded([[5, 9, 13, 2, 7]], 5)
    ctx = TaskContext(0, 2, bank, train_inputs=lambda: iter([batch]), run_model=lambda b: model(**b).last_hidden_state)
    first, second = InfLoRA().covariances(ctx), InfLoRA().covariances(ctx)
    assert model.training
    for target in first:
        assert torch.equal(first[target], second[target])


def test_padding_changes_neither_the_covariance_nor_the_designed_a() -> None:
    """The same two sentences padded to 7 and to 20 tokens: padding rows never enter X^T X, so
    InfLoRA designs the same down-projection (and without the mask it would not)."""
    from litelora.testing import tiny_bert

    ids = [[5, 9, 13, 2, 7], [3, 8, 11, 4, 6, 12, 10]]

    def setup(batches, mask=None):
        torch.manual_seed(0)
        model = tiny_bert()
        bank = AdapterBank(model, AdapterConfig(target_modules=["query", "value"], r=4))
        return bank, TaskContext(0, 2, bank, train_inputs=lambda: iter(batches),
                                 run_model=lambda b: model(**b, **mask or {}).last_hidden_state)

    designed, covs = [], []
    for length in (7, 20):
        bank, ctx = setup([_padded(ids, length)])
        method = InfLoRA()
        covs.append(method.covariances(ctx))
        method.before_task(ctx)
        designed.append({t: a.lora_A.detach().clone() for t, a in bank.candidates(0).items()})
    for target in covs[0]:
        torch.testing.assert_close(covs[0][target], covs[1][target], rtol=1e-5, atol=1e-6)
        # the top singular vectors match up to sign
        overlap = (designed[0][target] @ designed[1][target].T).abs() * 3
        torch.testing.assert_close(overlap.diagonal(), torch.ones(4, dtype=overlap.dtype), atol=1e-5, rtol=0)
    # the same forward, but the covariance pass cannot see the mask: padding rows count
    padded = _padded(ids, 20)
    _, ctx = setup([{"input_ids": padded["input_ids"]}], mask={"attention_mask": padded["attention_mask"]})
    target = next(iter(covs[0]))
    with_padding = InfLoRA().covariances(ctx)[target]
    assert torch.trace(with_padding) > 1.5 * torch.trace(covs[0][target])


def test_covariance_accumulates_xtx_of_all_tokens_in_float64_across_batches() -> None:
    model = TinyFusedViT(dim=16)
    bank = AdapterBank(model, AdapterConfig(target_modules=["blocks.0.attn.qkv:q,v"], r=4))
    xs = [torch.randn(3, 5, 16) for _ in range(4)]
    with input_covariances(bank, bank.targets) as recorder, torch.no_grad():
        for x in xs:
            model(x)
    X = torch.cat([x.reshape(-1, 16) for x in xs]).double()
    (C,) = recorder.covs.values()
    assert C.dtype == torch.float64
    exact = X.T @ X
    # each batch's product is a float32 matmul: float32 accuracy relative to the matrix's scale
    assert float((C - exact).abs().max() / exact.abs().max()) < 1e-6
    # and its leading subspace (what InfLoRA designs A from) is the exact one
    top = lambda M: torch.linalg.eigh(M).eigenvectors[:, -4:]  # noqa: E731
    assert float((top(C).T @ top(exact)).pow(2).sum()) == pytest.approx(4.0, abs=1e-6)
    ctx = TaskContext(0, 2, bank, train_inputs=lambda: iter(xs), run_model=model)
    per_target = InfLoRA().covariances(ctx)
    assert set(per_target) == {"blocks.0.attn.qkv:q", "blocks.0.attn.qkv:v"}
    torch.testing.assert_close(per_target["blocks.0.attn.qkv:q"], C, rtol=0, atol=0)


def _memory(method: InfLoRA, target: str) -> torch.Tensor:
    U = method.memory[target]
    return complement_basis(U) if method.complement[target] else U


@pytest.mark.parametrize("energy, power, count", [("input", 1, 56), ("covariance", 2, 16)])
def test_inflora_memory_holds_eps_of_the_energy_on_its_scale(energy: str, power: int, count: int) -> None:
    # Inputs whose covariance has eigenvalues 1/i: the memory keeps the fewest leading directions
    # holding 0.97 of sum(1/i) on the input scale, of sum(1/i^2) on the covariance scale (InfLoRA's code).
    d = 64
    lam = 1.0 / torch.arange(1, d + 1, dtype=torch.float64)
    basis = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0]
    C = basis @ torch.diag(lam) @ basis.T
    shares = torch.cumsum(lam**power, 0) / (lam**power).sum()
    expected = int((shares < 0.97).sum()) + 1
    method = InfLoRA(energy=energy)
    method.update_memory("t", C, 0.97)
    M = _memory(method, "t")
    assert M.shape[1] == expected == count
    assert float((M.T @ basis[:, :expected]).pow(2).sum()) == pytest.approx(expected, abs=1e-8)  # the leading ones
    # a second task with the same inputs adds nothing: the memory already holds its share
    method.update_memory("t", C, 0.97)
    assert _memory(method, "t").shape[1] == expected


def test_inflora_designs_A_off_the_memory_and_memory_grows_by_schedule() -> None:
    T = 3
    method, bank = InfLoRA(eps_b=0.9), _bank()
    sizes = []
    for task in range(T):
        ctx = _ctx(bank, task, T, data=_data(task, dims=2))
        params = method.before_task(ctx)
        for target, a in bank.candidates(task).items():
            assert not a.lora_A.requires_grad and a.scale == 1.0 and not a.lora_B.any()
            A = a.lora_A.double()
            torch.testing.assert_close(3 * A @ A.T, torch.eye(a.r, dtype=torch.float64), atol=1e-5, rtol=0)
            if task > 0:
                M = _memory(method, target)
                assert (A @ M).abs().max() < 1e-6 * A.abs().max()
        assert {id(p) for p in params} == {id(a.lora_B) for a in bank.candidates(task).values()}
        _train(method, ctx, params)
        method.after_task(ctx)
        covs = method.covariances(ctx)  # the model is fixed now: the covariance the update used
        for target in bank.targets:
            M = _memory(method, target)
            torch.testing.assert_close(M.T @ M, torch.eye(M.shape[1], dtype=torch.float64), atol=1e-10, rtol=0)
            C = covs[target]
            assert torch.trace(M.T @ C @ M) / torch.trace(C) >= method.eps(task, T) - 1e-9
        sizes.append([_memory(method, t).shape[1] for t in bank.targets])
    assert all(a < b for s0, s1 in zip(sizes, sizes[1:]) for a, b in zip(s0, s1))
    assert method.eps(0, 4) == pytest.approx(0.9) and method.eps(2, 4) == pytest.approx(0.95)


def test_inflora_memory_from_the_design_pass_is_one_pass_and_exact_on_a_first_layer() -> None:
    """memory_inputs="before" passes over each task once (not twice); a first target layer's inputs
    do not depend on any adapter, so its memory is the one the second pass would build."""
    memories, passes = {}, {}
    for mode in ("after", "before"):
        torch.manual_seed(0)
        method = InfLoRA(eps_b=0.9, memory_inputs=mode)
        bank = _bank(nn.Sequential(nn.Linear(D_IN, 6)), targets=["0"])
        calls = []
        measure = method.covariances
        method.covariances = lambda ctx, measure=measure, calls=calls: calls.append(1) or measure(ctx)  # type: ignore[method-assign]
        for task in range(3):
            ctx = _ctx(bank, task, 3, data=_data(task, dims=3))
            _train(method, ctx, method.before_task(ctx))
            method.after_task(ctx)
        memories[mode], passes[mode] = _memory(method, "0"), len(calls)
    assert passes == {"after": 6, "before": 3}
    torch.testing.assert_close(memories["before"], memories["after"], atol=1e-10, rtol=0)
    with pytest.raises(ConfigError, match=r"method\.params\.memory_inputs: 'during' is not allowed"):
        InfLoRA(memory_inputs="during")


def test_inflora_training_leaves_memory_subspace_outputs_unchanged() -> None:
    method, bank = InfLoRA(), _bank(nn.Sequential(nn.Linear(D_IN, 6)), targets=["0"])
    ctx = _ctx(bank, 0, data=_data(0, dims=3))
    _train(method, ctx, method.before_task(ctx))
    method.after_task(ctx)
    M = _memory(method, "0").float()
    x = torch.randn(10, M.shape[1]) @ M.T
    ctx = _ctx(bank, 1, data=_data(1, dims=3))
    params = method.before_task(ctx)
    with torch.no_grad():
        y0 = bank.model(x)
    _train(method, ctx, params, lr=0.5)
    assert bank.candidates(1)["0"].lora_B.abs().sum() > 0
    with torch.no_grad():
        torch.testing.assert_close(bank.model(x), y0, atol=1e-5, rtol=0)


def test_complement_storage_projects_like_the_basis_and_round_trips() -> None:
    M = torch.linalg.qr(torch.randn(10, 7, dtype=torch.float64)).Q
    X = torch.randn(30, 10, dtype=torch.float64)
    C = X.T @ X
    torch.testing.assert_close(project_off(C, complement_basis(M), True), project_off(C, M, False))
    # Full-rank inputs and a high eps: the memory outgrows d/2 and is stored as its complement.
    method, bank = InfLoRA(eps_b=0.9), _bank(nn.Sequential(nn.Linear(D_IN, 6)), targets=["0"], r=2)
    ctx = _ctx(bank, 0, 2)
    method.before_task(ctx)
    method.after_task(ctx)
    assert method.complement["0"] and 0 < method.memory["0"].shape[1] < D_IN / 2
    method.before_task(_ctx(bank, 1, 2))
    A = bank.candidates(1)["0"].lora_A.double()
    assert A.abs().max() > 0 and (A @ _memory(method, "0")).abs().max() < 1e-6 * A.abs().max()
    fresh = InfLoRA()
    fresh.load_state_dict(method.state_dict(), bank)
    assert fresh.complement == method.complement
    torch.testing.assert_close(fresh.memory["0"], method.memory["0"])


def test_inflora_rejects_bad_params() -> None:
    with pytest.raises(ConfigError, match="rank 8 exceeds the input dimension 4 of target '0'"):
        InfLoRA().before_task(_ctx(_bank(nn.Sequential(nn.Linear(4, 4)), targets=["0"], r=8), 0))
    with pytest.raises(ConfigError, match="eps_b"):
        create_method("inflora", {"eps_b": 1.5})


# ---------------------------------------------------------------------------------------- SD-LoRA


def test_decoder_cross_attention_keys_and_values_are_masked_by_the_encoders_tokens() -> None:
    # Prompt and label lengths equal (the case a shape check cannot tell apart), different padding.
    batch = {"attention_mask": torch.tensor([[1, 1, 1, 0]]), "labels": torch.tensor([[5, 6, -100, -100]])}
    rows = torch.zeros(1, 4, 3)
    encoder_tokens, labelled = [True, True, True, False], [True, True, False, False]
    for name, expected in (("decoder.block.0.layer.1.EncDecAttention.k", encoder_tokens),
                           ("decoder.block.0.layer.1.EncDecAttention.v", encoder_tokens),
                           ("model.decoder.layers.0.encoder_attn.v_proj", encoder_tokens),
                           ("decoder.block.0.layer.1.EncDecAttention.q", labelled),
                           ("decoder.block.0.layer.0.SelfAttention.k", labelled),
                           ("encoder.block.0.layer.0.SelfAttention.k", encoder_tokens)):
        assert token_mask(batch, name, rows).tolist() == [expected], name


def test_inflora_refuses_a_state_that_does_not_fit_by_name() -> None:
    method, bank = InfLoRA(), _bank()
    ctx = _ctx(bank, 0)
    method.before_task(ctx)
    method.after_task(ctx)
    state = method.state_dict()
    fresh = InfLoRA()
    fresh.load_state_dict(state, bank)  # a state that fits loads
    assert {t: m.shape for t, m in fresh.memory.items()} == {t: m.shape for t, m in method.memory.items()}
    with pytest.raises(ConfigError, match=r"unexpected key 'extra/0'; expected memory/<t> or complement/<t>"):
        InfLoRA().load_state_dict({**state, "extra/0": torch.zeros(1)}, bank)
    with pytest.raises(ConfigError, match=r"memory and complement flags name different targets: \['2'\]"):
        InfLoRA().load_state_dict({k: v for k, v in state.items() if k != "complement/2"}, bank)
    moved = {k.replace("/0", "/9"): v for k, v in state.items()}
    with pytest.raises(ConfigError, match=r"memories of targets \['9'\] that this model does not have"):
        InfLoRA().load_state_dict(moved, bank)
