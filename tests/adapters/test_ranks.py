"""Candidates of any rank: sizing keeps the host's semantics, scales follow the rank, and a bank of
mixed ranks merges, folds and exports exactly (values checked against hand-written oracles)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.adapters.peft_io import export_peft
from litelora.errors import AdapterError
from litelora.testing import tiny_mlp


def _bank(alpha: float = 16.0, r: int = 8, keep: list | None = None) -> tuple[torch.nn.Module, AdapterBank]:
    """A tiny MLP with a bank on its three linear layers; ``keep`` receives a copy of the bare model."""
    torch.manual_seed(0)
    model = tiny_mlp()
    if keep is not None:
        keep.append(copy.deepcopy(model))
    return model, AdapterBank(model, AdapterConfig(target_modules=["0", "2", "4"], r=r, lora_alpha=alpha,
                                                   init_lora_weights="gaussian"))


def _oracle(x: torch.Tensor, layer: torch.nn.Linear, adapters) -> torch.Tensor:
    """y = W x + b + sum_a m_a (alpha / r_a) B_a A_a x, written out by hand."""
    y = x @ layer.weight.T + layer.bias
    for a, alpha in adapters:
        y = y + a.magnitude * (alpha / a.r) * (x @ a.lora_A.T @ a.lora_B.T)
    return y


@pytest.mark.parametrize("k", [1, 3, 8])
def test_add_task_at_rank_k_scales_by_alpha_over_k(k: int) -> None:
    model, bank = _bank()
    bank.add_task(0, rank=k)
    a = bank.candidates(0)["0"]
    assert a.lora_A.shape == (k, 8) and a.lora_B.shape[1] == k and a.scale == 16.0 / k
    x = torch.randn(5, 8)
    layer = bank.layer("0")
    torch.testing.assert_close(layer(x), _oracle(x, layer.base_layer, [(a, 16.0)]))


def test_resize_keeps_the_first_k_directions_the_same_parameters_and_the_hosts_scale() -> None:
    _, bank = _bank()
    bank.add_task(0)
    a = bank.candidates(0)["2"]
    A_id, B_id, A0, B0 = id(a.lora_A), id(a.lora_B), a.lora_A.detach().clone(), a.lora_B.detach().clone()
    bank.resize_candidate("2", 0, 3)
    assert (id(a.lora_A), id(a.lora_B)) == (A_id, B_id)  # an optimizer group built before still holds them
    assert torch.equal(a.lora_A, A0[:3]) and torch.equal(a.lora_B, B0[:, :3])
    assert a.r == 3 and a.scale == 16.0 / 8  # each kept direction trains as in the host's rank-8 adapter
    assert bank.records()[1].num_params == 3 * (a.lora_A.shape[1] + a.lora_B.shape[0])
    bank.resize_candidate("2", 0, 3)  # its own rank: nothing changes
    assert a.r == 3
    for bad in (0, 4):
        with pytest.raises(AdapterError, match="rank"):
            bank.resize_candidate("2", 0, bad)


def test_resize_with_rescale_takes_alpha_over_k_but_keeps_a_scale_the_method_set_itself() -> None:
    """rescale=True: a fresh rank-k adapter's alpha / k; InfLoRA sets scale 1 (no alpha / r), kept."""
    _, bank = _bank()
    bank.add_task(0)
    bank.resize_candidate("2", 0, 2, rescale=True)
    assert bank.candidates(0)["2"].scale == 16.0 / 2
    a = bank.candidates(0)["0"]
    a.scale = 1.0
    bank.resize_candidate("0", 0, 2, rescale=True)
    assert a.scale == 1.0


def test_default_merge_and_unmerge_of_mixed_ranks_are_exact() -> None:
    model, bank = _bank()
    bank.add_task(0)
    bank.add_task(1)
    bank.resize_candidate("0", 1, 2)
    bank.remove_candidate("4", 1)
    x = torch.randn(6, 8)
    with torch.no_grad():
        expected = model(x)
        W0 = bank.layer("0").base_layer.weight.detach().clone()
        resized = bank.candidates(1)["0"]
        assert resized.r == 2 and resized.scale == 16.0 / 8  # the host's scale, kept by the resize
        dense = sum(a.magnitude * a.scale * (a.lora_B @ a.lora_A) for a in bank.slot("0").adapters.values())
        bank.merge_adapters()  # the default branch (safe_merge=False)
        torch.testing.assert_close(bank.layer("0").base_layer.weight, W0 + dense)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
        bank.unmerge_adapters()
        torch.testing.assert_close(bank.layer("0").base_layer.weight, W0, atol=1e-6, rtol=0)


def test_fold_with_a_magnitude_other_than_one_is_exact() -> None:
    model, bank = _bank()
    bank.add_task(0)
    with torch.no_grad():
        for a in bank.candidates(0).values():
            a.magnitude.fill_(-2.5)
    bank.add_task(1, rank=3)
    x = torch.randn(4, 8)
    with torch.no_grad():
        expected = model(x)
        layer = bank.layer("2")
        by_hand = _oracle(torch.relu(bank.layer("0")(x)), layer.base_layer,
                          [(a, 16.0) for a in bank.slot("2").adapters.values()])
        with bank.frozen_folded() as folded:
            assert folded == 3
            torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
            torch.testing.assert_close(layer(torch.relu(bank.layer("0")(x))), by_hand, atol=1e-5, rtol=0)


def test_a_bank_of_mixed_ranks_exports_with_rank_pattern_and_peft_reproduces_it(tmp_path: Path) -> None:
    bare: list = []
    model, bank = _bank(keep=bare)
    base = bare[0]
    bank.add_task(0)
    bank.add_task(1)
    bank.resize_candidate("0", 1, 3)
    bank.resize_candidate("2", 1, 1)
    bank.remove_candidate("4", 1)
    x = torch.randn(5, 8)
    with torch.no_grad():
        expected = model(x)
    out = export_peft(bank, tmp_path / "peft")
    config = json.loads((out / "adapter_config.json").read_text())
    assert sorted(config["rank_pattern"].values()) == [8, 9, 11]  # 8 + 3, 8 + 1, 8 + 0
    with torch.no_grad():
        peft_model = PeftModel.from_pretrained(base, str(out)).eval()
        torch.testing.assert_close(peft_model(x), expected, atol=1e-5, rtol=0)
