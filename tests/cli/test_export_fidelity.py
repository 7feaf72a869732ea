"""Exports PEFT users load with PEFT's own entry points: AutoPeftModel, a merged model with its
tokenizer, a model card, and the head's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hostile import run_cli
from huggingface_hub import ModelCard
from peft import AutoPeftModel
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizerFast

from litelora.workflows.runs import load_run

WORDS = ["alpha", "beta", "gamma", "delta", "story", "film"]


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory) -> tuple[Path, Path]:
    """A finished run on a local transformers folder (a tiny BERT with a real WordPiece tokenizer)."""
    root = tmp_path_factory.mktemp("hf")
    base = root / "base"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(base)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *[f"w{i}" for i in range(64 - 5 - len(WORDS))]]
    BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}).save_pretrained(base)
    from litelora.cli.main import main

    run = root / "run"
    assert main(["train", "--no-progress", "-o", str(run), "--set", "benchmark.name=tiny-text",
                 "--set", f"model.name=hf:{base}", "--set", "train.max_steps_per_task=2",
                 "--set", "benchmark.options.num_tasks=2"]) == 0
    return run, base


def _inputs() -> dict[str, torch.Tensor]:
    return {"input_ids": torch.randint(5, 64, (3, 9)), "attention_mask": torch.ones(3, 9, dtype=torch.long)}


def test_auto_peft_model_loads_the_export_exactly(hf_run, tmp_path, capsys) -> None:
    run, base = hf_run
    out = tmp_path / "peft"
    assert run_cli(capsys, "export", str(run), str(out))[0] == 0
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base)
    assert config["auto_mapping"] == {"base_model_class": "BertModel",
                                      "parent_library": "transformers.models.bert.modeling_bert"}
    peft_model = AutoPeftModel.from_pretrained(str(out)).eval()
    encoder = load_run(run).model.backbone.encoder.eval()
    x = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(peft_model(**x).last_hidden_state, encoder(**x).last_hidden_state,
                                   atol=1e-5, rtol=0)
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "peft" and "continual-learning" in card.data.tags
    assert card.data.base_model is None  # a local folder is not a Hub id: named in the text instead
    assert f"names the base `{base}` (a local folder)" in card.text and "AutoPeftModel.from_pretrained" in card.text
    assert "| active adapters |" in card.text and "method `inclora`" in card.text
    assert "mean of the encoder's last hidden states over the tokens the attention mask keeps" in card.text


def test_a_merged_export_card_names_every_merged_target_and_parses_on_the_hub(hf_run, tmp_path, capsys) -> None:
    run, _ = hf_run
    out = tmp_path / "merged"
    assert run_cli(capsys, "export", str(run), str(out), "--format", "merged", "--base-model", "my-org/my-bert")[0] == 0
    card = ModelCard.load(out / "README.md")
    targets = [f"encoder.layer.{i}.attention.self.{m}" for i in range(2) for m in ("query", "value")]
    assert f"{len(targets)} target modules" in card.text
    assert all(f"- `{t}`" in card.text for t in targets)
    assert card.data.library_name == "transformers" and card.data.base_model == "my-org/my-bert"
    final = json.loads((run / "results.json").read_text())["metrics"]["final_acc_sample"]
    [result] = card.data.eval_results
    assert (result.task_type, result.metric_type, result.metric_value) == ("text-classification", "accuracy",
                                                                           round(final, 4))
    assert "loads offline as is" in card.text


def test_merged_export_ships_its_tokenizer(hf_run, tmp_path, capsys) -> None:
    run, _ = hf_run
    out = tmp_path / "merged"
    assert run_cli(capsys, "export", str(run), str(out), "--format", "merged")[0] == 0
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    ids = tokenizer("alpha beta story", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids and len(ids) == 3
    merged = AutoModel.from_pretrained(str(out)).eval()
    encoder = load_run(run).model.backbone.encoder.eval()
    x = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(merged(**x).last_hidden_state, encoder(**x).last_hidden_state, atol=1e-5, rtol=0)
    assert ModelCard.load(out / "README.md").data.library_name == "transformers"


def test_base_model_can_be_named_and_a_model_without_one_says_so(hf_run, tmp_path, capsys) -> None:
    run, _ = hf_run
    out = tmp_path / "named"
    assert run_cli(capsys, "export", str(run), str(out), "--base-model", "my-org/my-bert")[0] == 0
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "my-org/my-bert"
    tiny = tmp_path / "tiny"
    from litelora.cli.main import main

    assert main(["train", "--no-progress", "-o", str(tiny), "--set", "benchmark.name=tiny-text",
                 "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=1"]) == 0
    assert run_cli(capsys, "export", str(tiny), str(tmp_path / "tiny-out"))[0] == 0
    assert json.loads((tmp_path / "tiny-out" / "adapter_config.json").read_text())["base_model_name_or_path"] is None
    card = ModelCard.load(tmp_path / "tiny-out" / "README.md")
    assert card.data.base_model is None and "--base-model NAME_OR_FOLDER" in card.text


def test_the_exported_head_loads_with_the_public_helper(hf_run, tmp_path, capsys) -> None:
    from litelora import load_head

    run, _ = hf_run
    out = tmp_path / "peft"
    assert run_cli(capsys, "export", str(run), str(out))[0] == 0
    head = load_head(out / "litelora_head")
    ref = load_run(run).model.head
    assert head.class_ids == ref.class_ids
    features = torch.randn(5, head.feature_dim)
    with torch.no_grad():
        torch.testing.assert_close(head(features), ref(features), atol=0, rtol=0)
