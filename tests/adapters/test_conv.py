"""1x1 Conv2d targets: the bank treats a pointwise convolution as a linear map over channels."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig, BankConv1x1, adapter_name, load_bank, save_bank
from litelora.adapters.peft_io import export_peft, import_peft
from litelora.analysis.redundancy import factors_from_slots, live_slots
from litelora.errors import TargetError
from litelora.methods.inflora import input_covariances

PREFIX = "base_model.model."


class TinyConvNet(nn.Module):
    """stem 3x3 -> expand 1x1 -> depthwise 3x3 -> project 1x1 (stride 2) -> pool: an MBConv in miniature."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.expand = nn.Conv2d(8, 16, 1, bias=False)
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.project = nn.Conv2d(16, 12, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(self.depthwise(torch.relu(self.expand(x))))
        return self.project(x).mean(dim=(-2, -1))


def _gaussian(**kw: object) -> AdapterConfig:
    return AdapterConfig(init_lora_weights="gaussian", **kw)  # type: ignore[arg-type]


def _net_and_input() -> tuple[TinyConvNet, torch.Tensor]:
    torch.manual_seed(0)
    return TinyConvNet().eval(), torch.randn(2, 3, 9, 9)  # odd size: the stride-2 conv reads rows 0, 2, .., 8


def test_conv_layer_equals_its_channel_map() -> None:
    """The wrapped conv's update is F.linear over channels at every (strided) pixel, by hand."""
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 1, stride=2)
    model = nn.Sequential(conv)
    bank = AdapterBank(model, _gaussian(target_modules=["0"], r=2, lora_alpha=4))
    bank.add_task(0)
    layer = model[0]
    assert isinstance(layer, BankConv1x1) and bank.specs["0"].kind == "conv1x1"
    a = bank.slot("0").adapters[adapter_name(0)]
    x = torch.randn(3, 4, 5, 7)
    with torch.no_grad():
        W = conv.weight[:, :, 0, 0] + 2.0 * a.lora_B @ a.lora_A  # scale = alpha / r = 2
        expected = torch.einsum("oc,nchw->nohw", W, x[:, :, ::2, ::2]) + conv.bias[None, :, None, None]
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(model(x[0]), expected[0], atol=1e-5, rtol=0)  # unbatched input works too


def test_default_init_leaves_model_unchanged() -> None:
    model, x = _net_and_input()
    base = model(x)
    bank = AdapterBank(model, AdapterConfig(target_modules=["expand", "project"], r=4))
    bank.add_task(0)
    assert torch.equal(model(x), base)


def test_targets_pick_only_supported_convs() -> None:
    model, _ = _net_and_input()
    bank = AdapterBank(model, AdapterConfig(target_modules=r".*", exclude_modules=["stem", "depthwise"], r=2))
    assert bank.targets == ["expand", "project"]
    assert [bank.specs[t].in_features for t in bank.targets] == [8, 16]
    assert [bank.specs[t].out_features for t in bank.targets] == [16, 12]


@pytest.mark.parametrize(
    "target, needle",
    [("stem", r"kernel_size=\(3, 3\)"), ("depthwise", r"groups=16"), ("padded", r"padding=\(1, 1\)")],
)
def test_unsupported_conv_names_the_problem(target: str, needle: str) -> None:
    model, x = _net_and_input()
    model.padded = nn.Conv2d(3, 3, 1, padding=1)
    before = model(x)
    with pytest.raises(TargetError, match=needle) as info:
        AdapterBank(model, AdapterConfig(target_modules=[target], r=2))
    assert target in str(info.value) and "exclude_modules" in str(info.value)
    assert torch.equal(model(x), before) and all(p.requires_grad for p in model.parameters())


def test_conv_subclass_with_own_forward_is_refused() -> None:
    class SamePadConv(nn.Conv2d):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(nn.functional.pad(x, (0, 1, 0, 1)))

    with pytest.raises(TargetError, match="SamePadConv overrides Conv2d.forward"):
        AdapterBank(nn.Sequential(SamePadConv(4, 4, 1)), AdapterConfig(target_modules=["0"], r=2))


def test_merge_equals_unmerged_and_unmerge_restores() -> None:
    model, x = _net_and_input()
    base = model(x)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    bank = AdapterBank(model, _gaussian(target_modules=["expand", "project"], r=4))
    bank.add_task(0)
    bank.add_task(1, rank=2)
    with torch.no_grad():
        adapted = model(x)
        assert not torch.allclose(adapted, base, atol=1e-3)
        bank.merge_adapters(safe_merge=True)
        assert model.project.base_layer.weight.shape == (12, 16, 1, 1)
        torch.testing.assert_close(model(x), adapted, atol=1e-5, rtol=0)
        bank.unmerge_adapters()
        for name, p in model.named_parameters():
            key = name.replace(".base_layer", "")
            if key in weights:
                torch.testing.assert_close(p, weights[key], atol=1e-6, rtol=0)
        torch.testing.assert_close(model(x), adapted, atol=1e-6, rtol=0)
        merged = bank.merge_and_unload()
        assert type(merged.project) is nn.Conv2d
        torch.testing.assert_close(merged(x), adapted, atol=1e-5, rtol=0)


def test_concatenation_equals_bank() -> None:
    model, x = _net_and_input()
    bank = AdapterBank(model, _gaussian(target_modules=["expand"], r=3))
    for t in range(3):
        bank.add_task(t)
    bank.slot("expand").adapters[adapter_name(1)].magnitude.data.fill_(0.4)
    A, B = bank.concatenated("expand")
    assert A.shape == (9, 8) and B.shape == (16, 9)
    # by hand, from each adapter's own factors, magnitude and scale (task 1's magnitude is 0.4)
    hand = sum(a.magnitude * a.scale * a.lora_B.reshape(16, 3) @ a.lora_A.reshape(3, 8)
               for a in bank.slot("expand").adapters.values())
    torch.testing.assert_close(B @ A, hand, atol=1e-6, rtol=0)
    rows = torch.randn(5, 8)
    torch.testing.assert_close(bank.slot("expand")(rows), rows @ (B @ A).T, atol=1e-5, rtol=0)
    torch.testing.assert_close(bank.layer("expand").delta_weight()[:, :, 0, 0], B @ A, atol=1e-6, rtol=0)


def test_optimizer_step_moves_only_the_candidate() -> None:
    model, x = _net_and_input()
    bank = AdapterBank(model, _gaussian(target_modules=["expand", "project"], r=2))
    bank.add_task(0)
    params = bank.add_task(1)
    assert params == bank.trainable_parameters() and len(params) == 4
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(params, lr=0.1)
    model(x).pow(2).sum().backward()
    opt.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {f"{m}.slots.all.adapters.task_001.{k}" for m in ("expand", "project") for k in ("lora_A", "lora_B")}


def test_save_load_reproduces_outputs(tmp_path: Path) -> None:
    model, x = _net_and_input()
    fresh = copy.deepcopy(model)
    bank = AdapterBank(model, _gaussian(target_modules=["expand", "project"], r=3))
    bank.add_task(0)
    bank.add_task(1, rank=2)
    save_bank(bank, tmp_path / "bank")
    loaded = load_bank(fresh, tmp_path / "bank")
    assert loaded.active_adapters() == bank.active_adapters()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), atol=0, rtol=0)


def test_peft_export_round_trips_through_peft_model(tmp_path: Path) -> None:
    model, x = _net_and_input()
    base = copy.deepcopy(model)
    fresh = copy.deepcopy(model)
    bank = AdapterBank(model, _gaussian(target_modules=["expand", "project"], r=4))
    bank.add_task(0)
    bank.add_task(1, rank=2)
    with torch.no_grad():
        expected = model(x)
        assert not torch.allclose(expected, base(x), atol=1e-3)
    out = export_peft(bank, tmp_path / "peft")
    tensors = load_file(str(out / "adapter_model.safetensors"))
    assert tensors[f"{PREFIX}project.lora_A.weight"].shape == (6, 16, 1, 1)
    assert tensors[f"{PREFIX}project.lora_B.weight"].shape == (12, 6, 1, 1)
    with torch.no_grad():
        peft_model = PeftModel.from_pretrained(base, str(out)).eval()
        torch.testing.assert_close(peft_model(x), expected, atol=1e-5, rtol=0)
    imported = import_peft(fresh, out, task_id=3)
    assert isinstance(fresh.project, BankConv1x1) and imported.num_active(3) == 2
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), expected, atol=1e-5, rtol=0)


def test_import_conv_adapter_saved_by_peft(tmp_path: Path) -> None:
    model, x = _net_and_input()
    fresh = copy.deepcopy(model)
    peft_model = get_peft_model(model, LoraConfig(r=3, lora_alpha=6, target_modules=["expand", "project"],
                                                  init_lora_weights=False)).eval()
    peft_model.save_pretrained(str(tmp_path / "peft"))
    with torch.no_grad():
        expected = peft_model(x)
    bank = import_peft(fresh, tmp_path / "peft")
    assert bank.slot("project").adapters[adapter_name(0)].lora_A.shape == (3, 16)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), expected, atol=1e-5, rtol=0)


def test_analysis_and_inflora_read_conv_inputs_as_channel_rows() -> None:
    """The redundancy analysis sees (r, C_in)/(C_out, r) factors; InfLoRA's input covariance of
    a 1x1 conv is sum over (strided) pixels of x x^T over channels."""
    model, x = _net_and_input()
    bank = AdapterBank(model, _gaussian(target_modules=["expand", "project"], r=2))
    bank.add_task(0)
    factors = factors_from_slots(live_slots(model))
    _, A, B, _ = factors["project"][0]
    assert A.shape == (2, 16) and B.shape == (12, 2)
    feats: dict[str, torch.Tensor] = {}
    model.depthwise.register_forward_hook(lambda m, i, o: feats.setdefault("dw", torch.relu(o)))
    with input_covariances(bank, bank.targets) as recorder, torch.no_grad():
        model(x)
    rows = feats["dw"][:, :, ::2, ::2].permute(0, 2, 3, 1).reshape(-1, 16).double()
    assert recorder.covs["project"].shape == (16, 16)
    exact = rows.T @ rows
    assert float((recorder.covs["project"] - exact).abs().max() / exact.abs().max()) < 1e-6
