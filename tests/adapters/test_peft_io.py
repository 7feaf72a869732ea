from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig, adapter_name
from litelora.adapters.peft_io import export_peft, import_peft, pattern_keys
from litelora.errors import AdapterError
from litelora.testing import TinyFusedViT, tiny_bert, tiny_mlp

PREFIX = "base_model.model."


def _gaussian(**kw: object) -> AdapterConfig:
    return AdapterConfig(init_lora_weights="gaussian", **kw)  # type: ignore[arg-type]


def _bert_fwd() -> Callable[[nn.Module], torch.Tensor]:
    inputs = {"input_ids": torch.randint(0, 100, (3, 7)), "attention_mask": torch.ones(3, 7, dtype=torch.long)}
    return lambda m: m(**inputs).last_hidden_state


def _input_fwd(x: torch.Tensor) -> Callable[[nn.Module], torch.Tensor]:
    return lambda m: m(x)


def _assert_peft_matches(base: nn.Module, out_dir: Path, fwd: Callable[[nn.Module], torch.Tensor],
                         expected: torch.Tensor) -> None:
    """Outputs of PEFT loading ``out_dir`` onto ``base`` equal ``expected``, which differs from the base."""
    with torch.no_grad():
        base_out = fwd(base)
        assert not torch.allclose(base_out, expected, atol=1e-3)
        peft_model = PeftModel.from_pretrained(base, str(out_dir)).eval()
        torch.testing.assert_close(fwd(peft_model), expected, atol=1e-5, rtol=0)


class Nested(nn.Module):
    """Names PEFT's suffix/regex pattern rule confuses: ``0`` vs ``blk.0``, ``x.y`` vs ``x_y``."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module("0", nn.Linear(8, 8))
        self.blk = nn.Sequential(nn.Linear(8, 8))
        self.x_y = nn.Linear(8, 8)
        self.x = nn.ModuleDict({"y": nn.Linear(8, 4)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.x["y"](self.x_y(self.blk(getattr(self, "0")(x))))


def test_multi_task_bank_exports_exactly_to_peft(tmp_path: Path) -> None:
    model, fwd = tiny_bert(), _bert_fwd()
    base = copy.deepcopy(model)
    bank = AdapterBank(model, _gaussian(r=4))
    bank.add_task(0)
    bank.add_task(1, rank=2)
    bank.add_task(2, rank=3)
    bank.slot("encoder.layer.0.attention.self.query").adapters[adapter_name(1)].magnitude.data.fill_(0.3)
    bank.remove_candidate("encoder.layer.1.attention.self.value", 2)
    bank.set_coefficient("encoder.layer.1.attention.self.query", 2, lambda: torch.tensor(0.5))
    with torch.no_grad():
        expected = fwd(model)
    out = export_peft(bank, tmp_path / "peft")
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == cfg["lora_alpha"] == 9 and cfg["bias"] == "none"
    assert cfg["rank_pattern"] == cfg["alpha_pattern"] == {
        "encoder.layer.0.attention.self.query": 9, "encoder.layer.0.attention.self.value": 9,
        "encoder.layer.1.attention.self.query": 9, "encoder.layer.1.attention.self.value": 6,
    }
    tensors = load_file(str(out / "adapter_model.safetensors"))
    assert tensors[f"{PREFIX}encoder.layer.1.attention.self.value.lora_A.weight"].shape == (6, 32)
    assert tensors[f"{PREFIX}encoder.layer.1.attention.self.value.lora_B.weight"].shape == (32, 6)
    _assert_peft_matches(base, out, fwd, expected)


def test_single_adapter_exports_to_itself(tmp_path: Path) -> None:
    model = tiny_mlp()
    bank = AdapterBank(model, _gaussian(target_modules=["2"], r=3, lora_alpha=6))
    bank.add_task(0)
    a = bank.slot("2").adapters[adapter_name(0)]
    export_peft(bank, tmp_path / "peft")
    t = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))
    assert set(t) == {f"{PREFIX}2.lora_A.weight", f"{PREFIX}2.lora_B.weight"}
    assert torch.equal(t[f"{PREFIX}2.lora_A.weight"], a.lora_A.detach())
    torch.testing.assert_close(t[f"{PREFIX}2.lora_B.weight"] @ t[f"{PREFIX}2.lora_A.weight"],
                               a.scale * a.lora_B.detach() @ a.lora_A.detach(), atol=1e-6, rtol=0)
    cfg = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert cfg["r"] == cfg["lora_alpha"] == 3 and not cfg["rank_pattern"] and not cfg["alpha_pattern"]


def test_fused_qkv_slices_export_as_one_qkv_lora(tmp_path: Path) -> None:
    model, x = TinyFusedViT(dim=16), torch.randn(2, 5, 16)
    base = copy.deepcopy(model)
    bank = AdapterBank(model, _gaussian(target_modules=["qkv:q,v"], r=2))
    bank.add_task(0)
    bank.add_task(1, rank=3, targets=["blocks.1.attn.qkv:v"])
    with torch.no_grad():
        expected = model(x)
    out = export_peft(bank, tmp_path / "peft")
    t = load_file(str(out / "adapter_model.safetensors"))
    assert sorted(t) == sorted(f"{PREFIX}blocks.{i}.attn.qkv.lora_{p}.weight" for i in (0, 1) for p in "AB")
    B0 = t[f"{PREFIX}blocks.0.attn.qkv.lora_B.weight"]
    B1 = t[f"{PREFIX}blocks.1.attn.qkv.lora_B.weight"]
    assert B0.shape == (48, 4) and B1.shape == (48, 7)
    assert torch.count_nonzero(B0[16:32]) == 0 and torch.count_nonzero(B1[16:32]) == 0  # k rows
    assert torch.count_nonzero(B0[:16, 2:]) == 0 and torch.count_nonzero(B0[32:, :2]) == 0  # block structure
    _assert_peft_matches(base, out, _input_fwd(x), expected)


def test_closed_gate_module_leaves_no_keys(tmp_path: Path) -> None:
    model, x = tiny_mlp(), torch.randn(4, 8)
    base = copy.deepcopy(model)
    bank = AdapterBank(model, _gaussian(target_modules=["0", "2", "4"], r=2))
    bank.add_task(0)
    bank.add_task(1)
    for t in (0, 1):
        bank.remove_candidate("2", t)
    with torch.no_grad():
        expected = model(x)
    out = export_peft(bank, tmp_path / "peft")
    keys = load_file(str(out / "adapter_model.safetensors"))
    assert keys and not any(k.startswith(f"{PREFIX}2.") for k in keys)
    assert sorted(json.loads((out / "adapter_config.json").read_text())["target_modules"]) == ["0", "4"]
    _assert_peft_matches(base, out, _input_fwd(x), expected)


def test_ambiguous_module_names_get_anchored_pattern_keys(tmp_path: Path) -> None:
    keys = pattern_keys(["0", "blk.0", "x_y", "x.y"])
    assert keys["blk.0"] == "blk.0" and keys["x_y"] == "x_y"  # unambiguous names stay readable
    assert keys["0"] == "^0" and keys["x.y"] == "^x\\.y"
    model, x = Nested(), torch.randn(3, 8)
    base = copy.deepcopy(model)
    bank = AdapterBank(model, _gaussian(target_modules="0|blk\\.0|x_y|x\\.y", r=1))
    bank.add_task(0)
    bank.add_task(1, rank=2, targets=["blk.0", "x.y"])
    bank.add_task(2, rank=4, targets=["x_y"])
    with torch.no_grad():
        expected = model(x)
    out = export_peft(bank, tmp_path / "peft")
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["rank_pattern"] == {"^0": 1, "blk.0": 3, "x_y": 5, "^x\\.y": 3}
    _assert_peft_matches(base, out, _input_fwd(x), expected)  # a wrong rank would fail to load


def test_import_round_trip_reproduces_outputs(tmp_path: Path) -> None:
    model, fwd = tiny_bert(), _bert_fwd()
    fresh = copy.deepcopy(model)
    bank = AdapterBank(model, _gaussian(r=4))
    bank.add_task(0)
    bank.add_task(1, rank=2, targets=["encoder.layer.0.attention.self.value"])
    with torch.no_grad():
        expected = fwd(model)
    export_peft(bank, tmp_path / "peft")
    imported = import_peft(fresh, tmp_path / "peft", task_id=5)
    assert imported.tasks == [5] and not imported.trainable_parameters()
    assert imported.num_active(5) == 4
    with torch.no_grad():
        torch.testing.assert_close(fwd(fresh), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("rslora", [False, True])
def test_import_adapter_saved_by_peft(tmp_path: Path, rslora: bool) -> None:
    model, fwd = tiny_bert(), _bert_fwd()
    fresh = copy.deepcopy(model)
    cfg = LoraConfig(r=4, lora_alpha=12, target_modules=["query", "value"], init_lora_weights=False,
                     use_rslora=rslora, rank_pattern={} if rslora else {"layer.1.attention.self.value": 2})
    peft_model = get_peft_model(model, cfg).eval()
    peft_model.save_pretrained(str(tmp_path / "peft"))
    with torch.no_grad():
        expected = fwd(peft_model)
        assert not torch.allclose(expected, fwd(copy.deepcopy(fresh)), atol=1e-3)
    bank = import_peft(fresh, tmp_path / "peft")
    a = bank.slot("encoder.layer.0.attention.self.query").adapters[adapter_name(0)]
    assert a.scale == pytest.approx(12 / 2 if rslora else 12 / 4)
    if not rslora:
        assert bank.slot("encoder.layer.1.attention.self.value").adapters[adapter_name(0)].r == 2
    with torch.no_grad():
        torch.testing.assert_close(fwd(fresh), expected, atol=1e-5, rtol=0)


def _exported(tmp_path: Path) -> Path:
    bank = AdapterBank(tiny_mlp(), _gaussian(target_modules=["2"], r=2))
    bank.add_task(0)
    return export_peft(bank, tmp_path / "peft")


def test_export_refuses_non_empty_dir_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "peft"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    bank = AdapterBank(tiny_mlp(), _gaussian(target_modules=["2"], r=2))
    bank.add_task(0)
    with pytest.raises(AdapterError, match="not empty"):
        export_peft(bank, out)
    assert (out / "keep.txt").exists()
    export_peft(bank, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["peft"]  # no temp folders left behind


def test_export_into_existing_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "peft").mkdir()
    assert (_exported(tmp_path) / "adapter_model.safetensors").is_file()


def test_import_errors(tmp_path: Path) -> None:
    out = _exported(tmp_path)
    (out / "adapter_config.json").unlink()
    with pytest.raises(AdapterError, match="adapter_config.json is missing"):
        import_peft(tiny_mlp(), out)
    bin_only = tmp_path / "bin"
    bin_only.mkdir()
    (bin_only / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 2}))
    (bin_only / "adapter_model.bin").write_bytes(b"not read")
    with pytest.raises(AdapterError, match="only adapter_model.safetensors is supported"):
        import_peft(tiny_mlp(), bin_only)


def test_import_shape_mismatch_names_the_key(tmp_path: Path) -> None:
    out = _exported(tmp_path)
    t = load_file(str(out / "adapter_model.safetensors"))
    t[f"{PREFIX}2.lora_A.weight"] = torch.zeros(2, 5)
    save_file(t, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    model = tiny_mlp()
    with pytest.raises(AdapterError, match=r"base_model\.model\.2\.lora_A"):
        import_peft(model, out)
    assert isinstance(model[2], nn.Linear)  # nothing was wrapped


def test_a_peft_classification_adapter_imports_onto_its_encoder(tmp_path: Path) -> None:
    """The usual PEFT SEQ_CLS folder (``bert.`` prefix, the classifier in modules_to_save) loads
    onto the bare encoder: LoRA factors by their encoder names, the classifier left out, said so;
    rank and alpha patterns keyed by the task model's full names still apply to their modules."""
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, num_labels=3)
    torch.manual_seed(0)
    classifier = BertForSequenceClassification(cfg).eval()
    encoder, spare = copy.deepcopy(classifier.bert), copy.deepcopy(classifier.bert)
    patterns = {"rank_pattern": {"bert.encoder.layer.0.attention.self.query": 2},
                "alpha_pattern": {"bert.encoder.layer.1.attention.self.value": 32}}
    peft_model = get_peft_model(classifier, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, **patterns,
                                                       target_modules=["query", "value"], init_lora_weights=False))
    peft_model.save_pretrained(str(tmp_path / "cls"))
    with pytest.warns(UserWarning, match=r"classifier\.bias.*modules_to_save.*not imported"):
        bank = import_peft(encoder, tmp_path / "cls")
    assert len(bank.targets) == 4 and all(t.startswith("encoder.layer.") for t in bank.targets)
    scales = {t: [(a.r, a.scale) for a in bank.slot(t).adapters.values()] for t in bank.targets}
    assert scales["encoder.layer.0.attention.self.query"] == [(2, 4.0)]
    assert scales["encoder.layer.1.attention.self.value"] == [(4, 8.0)]
    x = {"input_ids": torch.randint(0, 100, (2, 7)), "attention_mask": torch.ones(2, 7, dtype=torch.long)}
    with torch.no_grad():
        expected = peft_model.base_model.model.bert(**x).last_hidden_state
        torch.testing.assert_close(encoder(**x).last_hidden_state, expected, atol=1e-5, rtol=0)
    # A wrong shape is named by the key the folder holds (with the task model's prefix).
    weights = load_file(str(tmp_path / "cls" / "adapter_model.safetensors"))
    key = "base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight"
    weights[key] = torch.zeros(3, 32)
    save_file(weights, str(tmp_path / "cls" / "adapter_model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(AdapterError, match=r"base_model\.model\.bert\.encoder\.layer\.1\.attention\.self\.value\.lora_A/B "
                                           r"have shapes \(3, 32\)"):
        import_peft(spare, tmp_path / "cls")
