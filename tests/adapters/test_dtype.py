"""Adapters of a half-precision model live in float32 (PEFT's ``autocast_adapter_dtype``)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from peft import PeftModel

from litelora.adapters import AdapterBank, AdapterConfig, adapter_name
from litelora.adapters.peft_io import export_peft
from litelora.adapters.reuse import ScaleReuse
from litelora.adapters.serialization import load_bank, save_bank
from litelora.errors import ConfigError
from litelora.testing import tiny_mlp

TARGETS = ["0", "2"]


def _bf16_bank(**kw: object) -> tuple[torch.nn.Module, AdapterBank]:
    torch.manual_seed(0)
    model = tiny_mlp().to(torch.bfloat16)
    bank = AdapterBank(model, AdapterConfig(target_modules=TARGETS, r=2, init_lora_weights="gaussian", **kw))  # type: ignore[arg-type]
    bank.add_task(0)
    bank.add_task(1)
    return model, bank


def test_adapters_of_a_bfloat16_model_are_float32_and_its_output_stays_bfloat16() -> None:
    model, bank = _bf16_bank()
    assert {a.lora_A.dtype for t in TARGETS for a in bank.slot(t).adapters.values()} == {torch.float32}
    x = torch.randn(5, 8, dtype=torch.bfloat16)
    out = model(x)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    grads = [a.lora_B.grad for a in bank.slot("2").adapters.values() if a.lora_B.requires_grad]
    assert grads and all(g is not None and g.dtype == torch.float32 and g.abs().sum() > 0 for g in grads)


def test_the_update_is_added_in_float32_then_rounded_once() -> None:
    model, bank = _bf16_bank()
    layer = bank.layer("0")
    x = torch.randn(5, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        y = layer.base_layer(x)
        update = x.float() @ layer.delta_weight().float().T
        assert layer.delta_weight().dtype == torch.bfloat16  # dense updates take the layer's dtype, for merging
        slot_update = layer.slots["all"](x)
        assert slot_update.dtype == torch.float32
        torch.testing.assert_close(slot_update, update, atol=2e-2, rtol=2e-2)
        torch.testing.assert_close(layer(x), (y + slot_update).to(torch.bfloat16), atol=0, rtol=0)


def test_a_small_step_survives_in_float32_and_rounds_away_in_bfloat16() -> None:
    # A magnitude near 1 (SD-LoRA trains them) moves by 1e-3: bfloat16's spacing there is 2^-7.
    for autocast, moved in ((True, True), (False, False)):
        _, bank = _bf16_bank(autocast_adapter_dtype=autocast)
        m = bank.slot("0").adapters[adapter_name(1)].magnitude
        with torch.no_grad():
            m.add_(1e-3)
        assert (m.item() != 1.0) is moved


def test_autocast_off_keeps_the_model_dtype_and_scale_reuse_follows_the_adapters() -> None:
    model, bank = _bf16_bank(autocast_adapter_dtype=False)
    bank.freeze_task(1)
    slot = bank.slot("2")
    assert {a.lora_A.dtype for a in slot.adapters.values()} == {torch.bfloat16}
    # Two frozen adapters run as one concatenated pair whose per-direction coefficients are a vector:
    # float32 coefficients there made a float32 intermediate that the bfloat16 B could not multiply.
    names = [adapter_name(0), adapter_name(1)]
    slot.reuse["task_002"] = ScaleReuse(names, like=slot.adapters[names[0]].magnitude)
    assert slot.reuse["task_002"].coeffs.dtype == torch.bfloat16
    assert model(torch.randn(3, 8, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_a_saved_bank_of_a_bfloat16_model_loads_exactly(tmp_path: Path) -> None:
    model, bank = _bf16_bank()
    base = tiny_mlp().to(torch.bfloat16)
    base.load_state_dict({k.replace(".base_layer", ""): v for k, v in model.state_dict().items()
                          if "slots" not in k})
    save_bank(bank, tmp_path / "bank")
    loaded = load_bank(base, tmp_path / "bank")
    assert loaded.slot("0").adapters[adapter_name(1)].lora_A.dtype == torch.float32
    x = torch.randn(4, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        assert torch.equal(base(x), model(x))


def test_peft_loads_the_export_of_a_bfloat16_model_to_the_same_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = tiny_mlp().to(torch.bfloat16)
    base = copy.deepcopy(model)
    bank = AdapterBank(model, AdapterConfig(target_modules=TARGETS, r=2, init_lora_weights="gaussian"))
    bank.add_task(0)
    x = torch.randn(6, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        expected = model(x)
        peft_model = PeftModel.from_pretrained(base, str(export_peft(bank, tmp_path / "peft"))).eval()
        assert {p.dtype for n, p in peft_model.named_parameters() if "lora_" in n} == {torch.float32}
        # PEFT too adds its float32 update to the bfloat16 output and rounds once: the same numbers.
        torch.testing.assert_close(peft_model(x), expected, atol=0, rtol=0)


def test_autocast_adapter_dtype_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="autocast_adapter_dtype must be true or false"):
        AdapterConfig(autocast_adapter_dtype="yes")  # type: ignore[arg-type]


def test_a_float32_gate_coefficient_does_not_promote_a_bfloat16_group() -> None:
    # With autocast off, two frozen bfloat16 adapters run as one concatenated pair; a gate's
    # coefficient (float32, as every gate keeps it) made the pair's intermediate float32.
    model, bank = _bf16_bank(autocast_adapter_dtype=False)
    bank.freeze_task(1)
    bank.set_coefficient("2", 1, lambda: torch.tensor(0.5))
    with torch.no_grad():
        assert model(torch.randn(3, 8, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_a_model_cast_to_bfloat16_between_tasks_keeps_one_dtype_per_slot() -> None:
    from litelora.methods import create_method
    from litelora.methods.base import TaskContext

    torch.manual_seed(0)
    model = tiny_mlp()
    bank = AdapterBank(model, AdapterConfig(target_modules=TARGETS, r=2, init_lora_weights="gaussian"))
    bank.add_task(0)
    bank.freeze_task(0)
    model.to(torch.bfloat16)  # what transformers' bf16_full_eval does to a model it evaluates
    method = create_method("olora")
    ctx = TaskContext(task_id=1, num_tasks=2, bank=bank)
    method.before_task(ctx)
    assert {a.lora_A.dtype for t in TARGETS for a in bank.slot(t).adapters.values()} == {torch.bfloat16}
    loss = model(torch.randn(3, 8, dtype=torch.bfloat16)).float().sum() + method.extra_loss(ctx)
    loss.backward()
    assert bank.slot("0").adapters[adapter_name(1)].lora_A.grad is not None


def test_float32_adapters_are_not_folded_into_a_bfloat16_weight() -> None:
    # Folding would round the frozen adapters' float32 update into the bfloat16 working weight.
    for autocast, folds in ((True, False), (False, True)):
        _, bank = _bf16_bank(autocast_adapter_dtype=autocast)
        bank.freeze_task(1)
        assert (bank.fold_frozen() > 0) is folds
        bank.unfold_frozen()
