"""The client-side head snippet of docs/export-peft.md (PEFT for the encoder, the head read from
its safetensors file, the run's masked-mean pooling) predicts what the run predicts on a padded
batch."""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from litelora.cli.main import main
from litelora.workflows.runs import load_run

DOC = Path(__file__).resolve().parents[2] / "docs" / "export-peft.md"


def _snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Load it in PEFT"):]
    return re.search(r"^```python\n(.*?)^```", section, re.M | re.S).group(1)


def test_the_documented_head_snippet_reproduces_the_run_on_a_padded_batch(tmp_path, capsys) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["train", "--no-progress", "-o", "runs/tiny", "--set", "benchmark.name=tiny-text",
                     "--set", "model.name=tiny-bert", "--set", "train.epochs=1",
                     "--set", "adapter.init_lora_weights=gaussian"]) == 0
        assert main(["export", "runs/tiny", "exported/tiny"]) == 0
        namespace: dict = {"__name__": "export_peft_doc"}
        exec(compile(_snippet(), str(DOC), "exec"), namespace)
        loaded = load_run("runs/tiny")
    finally:
        os.chdir(cwd)
    texts = [ex.input for task in loaded.stream.tasks for ex in task.test]
    texts = texts + ["w1", "w2 w3 " * 20]  # a one-word text beside a long one: most rows carry padding
    batch = loaded.model.backbone.collate(texts)
    assert (batch["attention_mask"] == 0).any(), "the batch must be padded for the check to mean anything"
    with torch.no_grad():
        run_pred = [loaded.model.head.class_ids[k] for k in loaded.model(batch).argmax(-1).tolist()]
    assert namespace["predict"](texts) == run_pred
    assert len(set(run_pred)) > 1  # a model predicting one class would agree with any pooling
