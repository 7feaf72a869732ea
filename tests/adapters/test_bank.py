import copy

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig, adapter_name
from litelora.errors import AdapterError, ConfigError, TargetError
from litelora.testing import TinyFusedViT, tiny_bert, tiny_mlp, tiny_vit


def _bert_inputs() -> dict[str, torch.Tensor]:
    return {"input_ids": torch.randint(0, 100, (3, 7)), "attention_mask": torch.ones(3, 7, dtype=torch.long)}


def _bert_out(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**inputs).last_hidden_state


def _gaussian(**kw: object) -> AdapterConfig:
    return AdapterConfig(init_lora_weights="gaussian", **kw)  # type: ignore[arg-type]


def test_default_init_leaves_model_unchanged() -> None:
    model = tiny_bert()
    inputs = _bert_inputs()
    base = _bert_out(model, inputs)
    bank = AdapterBank(model, AdapterConfig(r=4))
    bank.add_task(0)
    assert torch.equal(_bert_out(model, inputs), base)


@pytest.mark.parametrize("builder", ["bert", "vit"])
def test_merge_equals_unmerged_and_unmerge_restores(builder: str) -> None:
    if builder == "bert":
        model, inputs, fwd = tiny_bert(), _bert_inputs(), _bert_out
    else:
        model, inputs = tiny_vit(), {"pixel_values": torch.randn(2, 3, 16, 16)}
        fwd = lambda m, i: m(**i).last_hidden_state  # noqa: E731
    base = fwd(model, inputs)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    targets = ["query", "value"] if builder == "bert" else ["q_proj", "v_proj"]
    bank = AdapterBank(model, _gaussian(target_modules=targets, r=4))
    bank.add_task(0)
    bank.add_task(1, rank=2)
    adapted = fwd(model, inputs)
    assert not torch.allclose(adapted, base, atol=1e-3)
    bank.merge_adapters(safe_merge=True)
    torch.testing.assert_close(fwd(model, inputs), adapted, atol=1e-5, rtol=0)
    bank.unmerge_adapters()
    for name, p in model.named_parameters():
        key = name.replace(".base_layer", "")
        if key in weights:
            torch.testing.assert_close(p, weights[key], atol=1e-6, rtol=0)
    torch.testing.assert_close(fwd(model, inputs), adapted, atol=1e-6, rtol=0)


def test_concatenation_is_exact() -> None:
    model = tiny_mlp()
    bank = AdapterBank(model, _gaussian(target_modules=["2"], r=3))
    for t in range(3):
        bank.add_task(t)
    bank.slot("2").adapters[adapter_name(1)].magnitude.data.fill_(0.3)
    x = torch.randn(5, 16)
    layer = bank.layer("2")
    A, B = bank.concatenated("2")
    assert A.shape == (9, 16) and B.shape == (16, 9)
    hand = sum(a.magnitude * a.scale * a.lora_B @ a.lora_A for a in bank.slot("2").adapters.values())
    torch.testing.assert_close(B @ A, hand, atol=1e-6, rtol=0)  # by hand: task 1's magnitude 0.3 included
    expected = layer.base_layer(x) + x @ A.T @ B.T
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=0)


def test_optimizer_step_moves_only_the_candidate() -> None:
    model = tiny_bert()
    inputs = _bert_inputs()
    bank = AdapterBank(model, _gaussian(r=4))
    bank.add_task(0)
    params = bank.add_task(1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(params, lr=0.5)
    out = _bert_out(model, inputs)
    (out * torch.randn_like(out)).sum().backward()  # LayerNorm output: a norm-based loss has ~0 gradient
    opt.step()
    candidate_ids = {id(p) for p in params}
    changed = 0
    for name, p in model.named_parameters():
        if id(p) in candidate_ids:
            changed += not torch.equal(p, before[name])
        else:
            assert torch.equal(p, before[name]), f"{name} moved"
            assert p.grad is None, f"{name} received a gradient"
    assert changed == len(params)
    assert set(map(id, bank.trainable_parameters())) == candidate_ids


def test_old_adapters_stay_active_and_frozen() -> None:
    bank = AdapterBank(tiny_mlp(), _gaussian(target_modules=["0", "2"], r=2))
    bank.add_task(0)
    bank.add_task(1)
    assert bank.active_adapters() == {"0": [0, 1], "2": [0, 1]}
    for a in bank.candidates(0).values():
        assert not a.lora_A.requires_grad and not a.lora_B.requires_grad
    assert bank.num_active() == 4 and bank.num_active(task_id=1) == 2


def test_fused_qkv_slice_changes_only_q_and_v_columns() -> None:
    model = TinyFusedViT(dim=16)
    x = torch.randn(2, 5, 16)
    qkv = model.blocks[0]["attn"].qkv
    base = qkv(x)
    bank = AdapterBank(model, _gaussian(target_modules=["qkv:q,v"], r=2))
    assert bank.targets == ["blocks.0.attn.qkv:q", "blocks.0.attn.qkv:v", "blocks.1.attn.qkv:q", "blocks.1.attn.qkv:v"]
    bank.add_task(0)
    out = bank.layer("blocks.0.attn.qkv:q")(x)
    assert torch.equal(out[..., 16:32], base[..., 16:32])
    assert not torch.allclose(out[..., :16], base[..., :16], atol=1e-4)
    assert not torch.allclose(out[..., 32:], base[..., 32:], atol=1e-4)
    assert bank.candidates(0)["blocks.0.attn.qkv:q"].lora_B.shape == (16, 2)


def test_save_load_reproduces_outputs(tmp_path) -> None:
    from litelora.adapters import load_bank, save_bank

    model = tiny_bert()
    fresh = copy.deepcopy(model)
    inputs = _bert_inputs()
    bank = AdapterBank(model, _gaussian(r=4))
    bank.add_task(0)
    bank.add_task(1)
    bank.remove_candidate("encoder.layer.0.attention.self.query", task_id=1)
    expected = _bert_out(model, inputs)
    save_bank(bank, tmp_path / "bank")
    loaded = load_bank(fresh, tmp_path / "bank")
    torch.testing.assert_close(_bert_out(fresh, inputs), expected, atol=1e-6, rtol=0)
    assert loaded.active_adapters() == bank.active_adapters()
    assert not loaded.trainable_parameters()


def test_disable_adapters_gives_base_output() -> None:
    model = tiny_mlp()
    x = torch.randn(4, 8)
    base = model(x)
    bank = AdapterBank(model, _gaussian(target_modules=r"[024]", r=2))
    bank.add_task(0)
    with bank.disable_adapters():
        assert torch.equal(model(x), base)
    assert not torch.equal(model(x), base)


def test_removed_candidate_equals_zero_coefficient() -> None:
    model = tiny_mlp()
    x = torch.randn(4, 8)
    bank = AdapterBank(model, _gaussian(target_modules=["2"], r=2))
    bank.add_task(0)
    bank.add_task(1)
    bank.set_coefficient("2", 1, lambda: torch.tensor(0.0))
    zeroed = model(x)
    bank.remove_candidate("2")
    torch.testing.assert_close(model(x), zeroed, atol=1e-6, rtol=0)
    assert adapter_name(1) not in dict(model.named_modules())["2"].slots["all"].adapters


def test_accounting_counts_params_and_bytes() -> None:
    bank = AdapterBank(tiny_mlp(), AdapterConfig(target_modules=["0", "4"], r=2))
    bank.add_task(0)
    s = bank.summary()
    # layer 0: A 2x8 + B 16x2 = 48; layer 4: A 2x16 + B 4x2 = 40
    assert s["adapter_params"] == 88 and s["adapter_bytes"] == 88 * 4
    assert s["per_target"] == {"0": {"adapters": 1, "params": 48, "bytes": 192},
                               "4": {"adapters": 1, "params": 40, "bytes": 160}}


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"target_modules": ["nonexistent"]}, TargetError, "nonexistent"),
        ({"target_modules": ["1"]}, TargetError, "ReLU"),
        ({"target_modules": ["0"], "r": 0}, ConfigError, "r must be a positive integer"),
        ({"target_modules": ["0"], "r": -3}, ConfigError, "-3"),
        ({"target_modules": ["0:q"]}, TargetError, "split into 3"),
    ],
)
def test_bad_config_raises_and_leaves_model_unchanged(kwargs, error, needle) -> None:
    model = tiny_mlp()
    before = repr(model)
    with pytest.raises(error, match=needle):
        AdapterBank(model, AdapterConfig(**kwargs))
    assert repr(model) == before
    assert all(p.requires_grad for p in model.parameters())


def test_no_match_lists_existing_modules() -> None:
    with pytest.raises(TargetError, match=r"Some linear modules of this model: \['0', '2', '4'\]"):
        AdapterBank(tiny_mlp(), AdapterConfig(target_modules="nothing.*"))


def test_exclude_is_checked_first() -> None:
    bank = AdapterBank(tiny_bert(), AdapterConfig(target_modules=["query"], exclude_modules=["layer.0.attention.self.query"]))
    assert bank.targets == ["encoder.layer.1.attention.self.query"]


def test_regex_target_fullmatches() -> None:
    bank = AdapterBank(tiny_bert(), AdapterConfig(target_modules=r".*\.(query|value)"))
    assert len(bank.targets) == 4
    with pytest.raises(TargetError):
        AdapterBank(tiny_bert(), AdapterConfig(target_modules=r"query"))


def test_task_errors_leave_bank_unchanged() -> None:
    bank = AdapterBank(tiny_mlp(), AdapterConfig(target_modules=["0"], r=2))
    bank.add_task(0)
    state = bank.describe()
    with pytest.raises(AdapterError, match="task 0 already has adapters"):
        bank.add_task(0)
    with pytest.raises(ConfigError, match="rank must be a positive integer"):
        bank.add_task(1, rank=0)
    with pytest.raises(AdapterError, match="holds no adapter for task 5"):
        bank.remove_candidate("0", task_id=5)
    with pytest.raises(AdapterError, match="unknown target 'zz'"):
        bank.remove_candidate("zz")
    assert bank.describe() == state


def test_merged_bank_refuses_structural_changes() -> None:
    bank = AdapterBank(tiny_mlp(), _gaussian(target_modules=["0"], r=2))
    bank.add_task(0)
    bank.merge_adapters()
    with pytest.raises(AdapterError, match="unmerge_adapters"):
        bank.add_task(1)
    assert bank.tasks == [0]


def test_safe_merge_rejects_non_finite() -> None:
    model = tiny_mlp()
    bank = AdapterBank(model, _gaussian(target_modules=["0"], r=2))
    bank.add_task(0)
    bank.candidates(0)["0"].lora_B.data[0, 0] = float("nan")
    w = model[0].base_layer.weight.detach().clone()
    with pytest.raises(AdapterError, match="NaN"):
        bank.merge_adapters(safe_merge=True)
    assert torch.equal(model[0].base_layer.weight, w)
