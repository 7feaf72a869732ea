"""``export_peft(..., modules_to_save=...)``: what a loop trained in full beside the adapters (its
classifier) is written in PEFT's own format, so ``PeftModel.from_pretrained`` reproduces the
model's outputs, and names PEFT would resolve to another module are refused."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from torch import nn

from litelora import AdapterConfig, LiteLoRA
from litelora.adapters import export_peft
from litelora.errors import AdapterError


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))


def _train(saved: list[str]) -> tuple[nn.Module, LiteLoRA]:
    model = _mlp()
    ll = LiteLoRA(model, AdapterConfig(target_modules=["0", "2"], r=2, init_lora_weights="gaussian"), num_tasks=2,
                  lr=5e-2, modules_to_save=saved)
    g = torch.Generator().manual_seed(1)
    for t in range(2):
        x, y = torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
        opt = torch.optim.Adam(ll.start_task(t, 5))
        for _ in range(5):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        ll.end_task()
    return model, ll


def _peft_outputs(folder, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return PeftModel.from_pretrained(_mlp(), str(folder)).eval()(x)


def test_an_own_loop_head_travels_in_peft_format_and_reproduces_the_outputs(tmp_path) -> None:
    model, ll = _train(["4"])
    x = torch.randn(5, 8)
    with torch.no_grad():
        want = model.eval()(x)
    export_peft(ll.bank, tmp_path / "with", modules_to_save=["4"])
    cfg = json.loads((tmp_path / "with" / "adapter_config.json").read_text())
    assert cfg["modules_to_save"] == ["4"]
    torch.testing.assert_close(_peft_outputs(tmp_path / "with", x), want, atol=1e-5, rtol=0)
    # The control: without the head the adapters alone leave the untrained classifier.
    export_peft(ll.bank, tmp_path / "without")
    assert json.loads((tmp_path / "without" / "adapter_config.json").read_text())["modules_to_save"] is None
    assert (_peft_outputs(tmp_path / "without", x) - want).abs().max() > 1e-2


def test_names_peft_would_not_resolve_to_the_same_module_are_refused(tmp_path) -> None:
    _, ll = _train(["4"])
    with pytest.raises(AdapterError, match=r"modules_to_save: no module named 'head'"):
        export_peft(ll.bank, tmp_path / "a", modules_to_save=["head"])
    with pytest.raises(AdapterError, match=r"modules_to_save: '2' holds LoRA adapters"):
        export_peft(ll.bank, tmp_path / "b", modules_to_save=["2"])
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(15)])  # module "4" is also the tail of "14"
    ll = LiteLoRA(model, AdapterConfig(target_modules=["0"], r=2), num_tasks=1)
    ll.start_task(0, 1)
    ll.end_task()
    with pytest.raises(AdapterError, match=r"ends with '4', so it would also replace '14'"):
        export_peft(ll.bank, tmp_path / "c", modules_to_save=["4"])
    assert not (tmp_path / "c").exists()
