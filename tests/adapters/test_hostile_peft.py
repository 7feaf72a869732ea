"""Hostile PEFT adapter folders: every malformed config field and tensor is a one-line error
naming the file and the field, before any layer of the model is wrapped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hostile import assert_clean_error, run_cli
from safetensors.torch import load_file, save_file
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.adapters.peft_io import export_peft, import_peft
from litelora.errors import LiteLoraError
from litelora.testing import tiny_mlp

KEY_A, KEY_B = "base_model.model.2.lora_A.weight", "base_model.model.2.lora_B.weight"


@pytest.fixture
def folder(tmp_path) -> Path:
    bank = AdapterBank(tiny_mlp(), AdapterConfig(target_modules=["2"], r=2, init_lora_weights="gaussian"))
    bank.add_task(0)
    return export_peft(bank, tmp_path / "peft")


def _config(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        path = d / "adapter_config.json"
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return apply


def _set(**fields: object) -> Callable[[Path], None]:
    return _config(lambda c: {**c, **fields})


def _tensors(edit: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        t = load_file(str(d / "adapter_model.safetensors"))
        edit(t)
        save_file(t, str(d / "adapter_model.safetensors"))
    return apply


def _raw(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(data)


def _huge_header(d: Path) -> None:
    header = json.dumps({KEY_A: {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 1 << 42]}}).encode()
    (d / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)


CASES = [
    ("config not json", _raw("adapter_config.json", b"{"), r"adapter_config\.json: cannot be read as JSON"),
    ("config a list", _config(lambda c: [c]), r"adapter_config\.json: expected a JSON object, got list"),
    ("config a string", _config(lambda c: "LORA"), r"expected a JSON object, got str"),
    ("r zero", _set(r=0), r"r=0; expected a positive integer rank"),
    ("r negative", _set(r=-2), r"r=-2; expected a positive integer rank"),
    ("r string", _set(r="eight"), r"r='eight'; expected a positive integer rank"),
    ("r float", _set(r=2.5), r"r=2\.5; expected a positive integer rank"),
    ("r bool", _set(r=True), r"r=True; expected a positive integer rank"),
    ("r huge", _set(r=10**9), r"r=1000000000; expected a positive integer rank \(at most 4096\)"),
    ("alpha string", _set(lora_alpha="sixteen"), r"lora_alpha='sixteen'; expected a positive finite number"),
    ("alpha NaN", _set(lora_alpha=float("nan")), r"lora_alpha=nan; expected a positive finite number"),
    ("alpha inf", _set(lora_alpha=float("inf")), r"lora_alpha=inf"),
    ("alpha zero", _set(lora_alpha=0), r"lora_alpha=0; expected a positive finite number"),
    ("dropout string", _set(lora_dropout="0.1"), r"lora_dropout='0\.1'; expected a number in \[0, 1\)"),
    ("dropout one", _set(lora_dropout=1.0), r"lora_dropout=1\.0; expected a number in \[0, 1\)"),
    ("rank_pattern list", _set(rank_pattern=["2"]), r"rank_pattern=\['2'\]; expected an object"),
    ("rank_pattern bad regex", _set(rank_pattern={"(": 2}), r"rank_pattern key='\('; expected a valid regular"),
    ("rank_pattern zero", _set(rank_pattern={"2": 0}), r"rank_pattern\['2'\]=0; expected a positive integer"),
    ("alpha_pattern string", _set(alpha_pattern={"2": "x"}), r"alpha_pattern\['2'\]='x'; expected a positive"),
    ("alpha_pattern bad regex", _set(alpha_pattern={"[": 2}), r"alpha_pattern key='\['; expected a valid regular"),
    ("not lora", _set(peft_type="IA3"), r"peft_type='IA3'; only LORA adapters can be imported"),
    ("dora", _set(use_dora=True), r"use_dora=true is not supported"),
    ("lora bias", _set(lora_bias=True), r"lora_bias=true is not supported"),
    ("weights truncated", lambda d: (d / "adapter_model.safetensors").write_bytes(
        (d / "adapter_model.safetensors").read_bytes()[:40]), r"not a readable safetensors file"),
    ("weights empty", _raw("adapter_model.safetensors", b""), r"not a readable safetensors file"),
    ("weights header too big", _huge_header, r"not a readable safetensors file"),
    ("weights text", _raw("adapter_model.safetensors", b"hello world, not tensors"), r"not a readable safetensors"),
    ("weights NaN", _tensors(lambda t: t[KEY_A].fill_(float("nan"))), r"holds NaN or infinite values"),
    ("weights inf", _tensors(lambda t: t[KEY_B].fill_(float("-inf"))), r"holds NaN or infinite values"),
    ("weights integer", _tensors(lambda t: t.__setitem__(KEY_A, t[KEY_A].long())), r"expected a floating-point"),
    ("weights 3-d", _tensors(lambda t: t.__setitem__(KEY_A, t[KEY_A][None])), r"has 3 dimensions"),
    ("weights 1-d", _tensors(lambda t: t.__setitem__(KEY_B, t[KEY_B].flatten())), r"has 1 dimensions"),
    ("unknown key", _tensors(lambda t: t.__setitem__("evil", torch.zeros(1))), r"unsupported key 'evil'"),
    ("only lora_A", _tensors(lambda t: t.pop(KEY_B)), r"has only \['lora_A'\]; both lora_A and lora_B needed"),
    ("no tensors", lambda d: save_file({}, str(d / "adapter_model.safetensors")), r"holds no LoRA tensors"),
    ("no config", lambda d: (d / "adapter_config.json").unlink(), r"adapter_config\.json is missing"),
    ("no weights", lambda d: (d / "adapter_model.safetensors").unlink(), r"adapter_model\.safetensors is missing"),
    ("pickle only", lambda d: ((d / "adapter_model.safetensors").unlink(), _raw("adapter_model.bin", b"x")(d)),
     r"holds only adapter_model\.bin"),
]


@pytest.mark.parametrize(("damage", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_analyze_peft_refuses_a_damaged_folder_in_one_line(folder, tmp_path, capsys, damage, needle) -> None:
    damage(folder)
    code, err = run_cli(capsys, "analyze", "--peft", str(folder), "-o", str(tmp_path / "out"))
    assert_clean_error(code, err, needle, "analyze")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("damage", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_import_refuses_a_damaged_folder_before_wrapping_a_layer(folder, damage, needle) -> None:
    damage(folder)
    model = tiny_mlp()
    with pytest.raises(LiteLoraError, match=needle):
        import_peft(model, folder)
    assert not any(type(m).__name__ == "BankLinear" for m in model.modules())


def test_a_folder_for_another_model_is_refused(folder) -> None:
    _tensors(lambda t: (t.__setitem__("base_model.model.9.lora_A.weight", t.pop(KEY_A)),
                        t.__setitem__("base_model.model.9.lora_B.weight", t.pop(KEY_B))))(folder)
    model = tiny_mlp()
    with pytest.raises(LiteLoraError, match=r"module '9' is missing in this model.*another base model"):
        import_peft(model, folder)
    assert isinstance(model[2], nn.Linear)
