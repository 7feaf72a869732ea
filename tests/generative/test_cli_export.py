"""A generative run end to end through the CLI: train, results, eval --show, load_run, and a
PEFT export that PeftModel loads and that generates the same greedy tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from litelora.cli.main import main
from litelora.generative.zoo import tiny_llama_lm
from litelora.workflows.runs import load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "run"
    args = ["train", "--no-progress", "-o", str(out), "--set", "benchmark.name=tiny-text",
            "--set", "benchmark.options={num_tasks: 2, train_per_class: 8, test_per_class: 3}",
            "--set", "model.name=tiny-llama", "--set", "model.max_length=160",
            "--set", "train.max_steps_per_task=6", "--set", "train.lr=0.01", "--set", "train.batch_size=8"]
    assert main(args) == 0
    return out


def test_run_directory_of_a_generative_run(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    gen = results["train_info"]["generation"]
    assert gen == {"kind": "causal-lm", "scoring": "exact_match", "task_types": {"task_000": "classify", "task_001": "classify"},
                   "truncated_targets": {"task_000": 0, "task_001": 0},
                   "truncated_prompts": {"task_000": 0, "task_001": 0}}
    assert not (run_dir / "head").exists()  # no head to save
    assert main(["eval", str(run_dir), "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("target 'class") == 4  # 2 generations for each of the 2 tasks
    final = float(out.strip().splitlines()[-1].split()[-1])
    assert final == pytest.approx(results["metrics"]["final_acc_sample"], abs=1e-4)


def test_show_refuses_a_classifier_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--no-progress", "-o", str(tmp_path / "c"), "--set", "benchmark.name=tiny-text",
                 "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=1"]) == 0
    assert main(["eval", str(tmp_path / "c"), "--show", "1"]) == 1
    assert "classifier run" in capsys.readouterr().err


def test_peft_export_generates_the_same_greedy_tokens(run_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    assert main(["export", str(run_dir), str(tmp_path / "peft")]) == 0
    assert json.loads((tmp_path / "peft" / "adapter_config.json").read_text())["task_type"] == "CAUSAL_LM"
    loaded = load_run(run_dir)
    model, task = loaded.model, loaded.stream.tasks[1]
    batch = model.collate(task.test[:1], task)
    prompt = batch["prompt_ids"]
    ours = model.generate_ids(batch, 8)[0].tolist()
    peft_model = PeftModel.from_pretrained(tiny_llama_lm(), str(tmp_path / "peft")).eval()
    with torch.no_grad():
        theirs = peft_model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8,
                                     do_sample=False, eos_token_id=1, pad_token_id=0)[0, prompt.shape[1]:].tolist()
        base = tiny_llama_lm()(input_ids=prompt).logits
        adapted = peft_model(input_ids=prompt).logits
    assert theirs == ours
    assert not torch.allclose(base, adapted, atol=1e-4)  # the adapters change the model
    assert torch.allclose(model.lm(input_ids=prompt).logits, adapted, atol=1e-4)
