"""``litelora inspect``: the dry run of targeting agrees with what the bank then adds."""

import json

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.cli.inspect_cmd import inspect_targets
from litelora.cli.main import main
from litelora.testing import tiny_bert


def _json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_inspect_registered_model_matches_the_bank(capsys) -> None:
    out = _json(capsys, ["inspect", "tiny-bert", "--targets", "query", "value", "-r", "4", "--tasks", "3", "--json"])
    rows, summary = out["targets"], out["summary"]
    assert [r["target"] for r in rows] == [f"encoder.layer.{i}.attention.self.{m}" for i in (0, 1)
                                           for m in ("query", "value")]
    assert all((r["d_in"], r["d_out"], r["r"], r["adapter_params"]) == (32, 32, 4, 4 * (32 + 32)) for r in rows)
    assert summary["adapter_params_per_task"] == 4 * 256 and summary["adapter_params_total"] == 3 * 1024
    # The dry run predicts exactly the trainable parameters a task then gets.
    bank = AdapterBank(tiny_bert(), AdapterConfig(target_modules=["query", "value"], r=4))
    assert sum(p.numel() for p in bank.add_task(0)) == summary["adapter_params_per_task"]
    assert summary["base_params"] == sum(p.numel() for p in tiny_bert().parameters())


def test_inspect_default_targets_exclude_and_table(capsys) -> None:
    assert main(["inspect", "tiny-bert", "--exclude", "layer.1.attention.self.value"]) == 0
    out = capsys.readouterr().out
    assert "encoder.layer.0.attention.self.value" in out and "encoder.layer.1.attention.self.value" not in out
    assert "3 target slots" in out and f"adapter parameters per task: {3 * 8 * 64:,}" in out


def test_inspect_regex_and_config_overrides(capsys) -> None:
    out = _json(capsys, ["inspect", "tiny-bert", "--regex", r".*layer\.1\..*dense", "--set", "adapter.r=2",
                         "--json"])
    shapes = {r["target"]: (r["d_in"], r["d_out"]) for r in out["targets"]}
    assert shapes == {"encoder.layer.1.attention.output.dense": (32, 32), "encoder.layer.1.intermediate.dense": (32, 64),
                      "encoder.layer.1.output.dense": (64, 32)}
    assert out["summary"]["adapter_params_per_task"] == 2 * (64 + 96 + 96)


def test_inspect_hf_folder(tmp_path, capsys) -> None:
    from transformers import BertTokenizerFast

    folder = tmp_path / "bert"
    tiny_bert().save_pretrained(folder)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    out = _json(capsys, ["inspect", f"hf:{folder}", "--targets", "key", "--json"])
    assert [r["target"] for r in out["targets"]] == ["encoder.layer.0.attention.self.key",
                                                     "encoder.layer.1.attention.self.key"]


class _FusedBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.proj = nn.Linear(16, 16)


def test_inspect_fused_slices_report_their_rows() -> None:
    model = nn.Sequential(_FusedBlock(), _FusedBlock())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = inspect_targets(model, AdapterConfig(target_modules=["qkv:q,v"], r=2))
    assert [(r["target"], r["rows"], r["d_out"]) for r in rows] == [
        ("0.qkv:q", [0, 16], 16), ("0.qkv:v", [32, 48], 16), ("1.qkv:q", [0, 16], 16), ("1.qkv:v", [32, 48], 16)]
    assert all(r["adapter_params"] == 2 * (16 + 16) for r in rows)
    # A dry run: the model is neither wrapped nor changed.
    assert isinstance(model[0].qkv, nn.Linear)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("argv", "needle"), [
    (["inspect", "tiny-bert", "--targets", "nothing"], "matched no module"),
    (["inspect", "tiny-bert", "--targets", "query", "--regex", "q.*"], "not both"),
    (["inspect", "tiny-bert", "-r", "0"], "positive integer rank"),
    (["inspect", "no-such-model"], "no-such-model"),
    (["inspect", "tiny-mlp"], "input dimension"),
])
def test_inspect_errors(argv, needle, capsys) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
