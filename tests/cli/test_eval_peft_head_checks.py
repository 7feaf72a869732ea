"""``eval --peft`` checks the head against the configured model and benchmark (feature size,
class ids and names, pooling) and refuses a mismatch by name; without a head it says what the
folder holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from litelora.cli.main import main

TINY = ["--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert"]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("peft-eval")
    assert main(["train", "--no-progress", "-o", str(root / "run"), *TINY, "--set", "train.max_steps_per_task=2",
                 "--set", "adapter.init_lora_weights=gaussian"]) == 0
    assert main(["export", str(root / "run"), str(root / "out")]) == 0
    return root / "out"


def _edited_head(export: Path, tmp_path: Path, **fields) -> str:
    """A copy of the export's head with ``fields`` of head.json replaced (a head from elsewhere)."""
    head = tmp_path / "head"
    shutil.copytree(export / "litelora_head", head)
    info = json.loads((head / "head.json").read_text())
    (head / "head.json").write_text(json.dumps({**info, **fields}))
    return str(head)


def test_an_exported_head_records_what_it_was_trained_on_and_passes(export, capsys) -> None:
    info = json.loads((export / "litelora_head" / "head.json").read_text())
    assert info["pooling"] == "mean" and info["benchmark"] == "tiny-text"
    names = json.loads((export.parent / "run" / "results.json").read_text())["train_info"]["class_names"]
    assert info["class_names"] == [names[c] for block in info["blocks"] for c in block]
    capsys.readouterr()
    assert main(["eval", "--peft", str(export), *TINY]) == 0
    out = capsys.readouterr().out
    assert "final accuracy" in out and "note:" not in out


def _fails(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_head_of_another_feature_size_fails_by_name(export, tmp_path, capsys) -> None:
    from litelora._io import save_tensors
    from litelora.models.heads import GrowingHead

    head = GrowingHead(48)
    head.add_task([0, 1])
    folder = tmp_path / "wide"
    save_tensors(folder / "head.safetensors", head.state_tensors())
    (folder / "head.json").write_text(json.dumps({"feature_dim": 48, "blocks": head.structure()}))
    err = _fails(capsys, "eval", "--peft", str(export), "--head", str(folder), *TINY)
    assert "feature_dim 48, but the configured model gives 32-wide features" in err


def test_a_head_of_another_class_set_fails_by_name(export, tmp_path, capsys) -> None:
    info = json.loads((export / "litelora_head" / "head.json").read_text())
    blocks, names = info["blocks"], list(info["class_names"])
    names[1] = "positive"
    err = _fails(capsys, "eval", "--peft", str(export), "--head", _edited_head(export, tmp_path, class_names=names),
                 *TINY)
    assert f"class_names: head column 1 scores class {blocks[0][1]} as 'positive'" in err
    # The same benchmark with another seed orders its classes differently: class 0 is another class.
    err = _fails(capsys, "eval", "--peft", str(export), *TINY, "--set", "benchmark.seed=1")
    assert "class_names: head column" in err and "another benchmark, seed or class_order" in err
    # More classes than the benchmark has: a class id outside it.
    err = _fails(capsys, "eval", "--peft", str(export), *TINY, "--set", "benchmark.options.num_tasks=2")
    assert "is not a class of tiny-text (4 classes)" in err


def test_a_head_of_another_pooling_fails_by_name(export, capsys) -> None:
    err = _fails(capsys, "eval", "--peft", str(export), *TINY, "--set", "model.pooling=cls")
    assert "pooling 'mean', but model.pooling is 'cls'" in err and "--set model.pooling=mean" in err


def test_a_head_that_records_nothing_is_scored_with_a_note(export, tmp_path, capsys) -> None:
    info = json.loads((export / "litelora_head" / "head.json").read_text())
    head = tmp_path / "bare"
    shutil.copytree(export / "litelora_head", head)
    (head / "head.json").write_text(json.dumps({"feature_dim": info["feature_dim"], "blocks": info["blocks"]}))
    capsys.readouterr()
    assert main(["eval", "--peft", str(export), "--head", str(head), *TINY]) == 0
    out = capsys.readouterr().out
    assert "records no class_names" in out and "records no pooling" in out


def test_without_a_head_the_message_names_what_the_folder_holds(tmp_path, capsys) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=6))
    peft = get_peft_model(model, LoraConfig(r=2, target_modules=["query"], modules_to_save=["classifier"]))
    peft.save_pretrained(tmp_path / "cls")
    err = _fails(capsys, "eval", "--peft", str(tmp_path / "cls"), *TINY)
    assert "adapter_config.json, adapter_model.safetensors" in err
    assert "modules_to_save ['classifier']" in err and "pass --head DIR" in err
    assert "carry no classifier" not in err
