"""What both trainer integrations' tests share: a tiny BERT classifier, its toy tasks, and the
check that a PEFT export of the bank reproduces the trained model."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from peft import PeftModel
from transformers import BertConfig, BertForSequenceClassification

from litelora import LiteLoRA
from litelora.adapters import export_peft


def tiny_classifier() -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=32, num_labels=4)
    return BertForSequenceClassification(cfg)


def band_rows(classes: list[int], n: int = 32, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``n`` examples; class c writes tokens from its own band of the vocabulary."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        c = classes[i % len(classes)]
        rows.append({"input_ids": torch.randint(10 * c + 5, 10 * c + 15, (12,), generator=g),
                     "attention_mask": torch.ones(12, dtype=torch.long), "labels": torch.tensor(c)})
    return rows


def assert_export_reproduces(lite: LiteLoRA, model: BertForSequenceClassification, out: Path) -> None:
    """``PeftModel.from_pretrained`` on a fresh, untrained base gives the model's logits: the export
    carries the adapters and the classifier the loop trained (``modules_to_save``)."""
    export_peft(lite.bank, out, modules_to_save=["classifier"])
    assert json.loads((out / "adapter_config.json").read_text())["modules_to_save"] == ["classifier"]
    fresh = tiny_classifier()
    assert not torch.equal(fresh.classifier.weight, model.classifier.weight)  # the head did train
    peft_model = PeftModel.from_pretrained(fresh, str(out)).eval()
    batch = {"input_ids": torch.randint(0, 60, (3, 12)), "attention_mask": torch.ones(3, 12, dtype=torch.long)}
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(peft_model(**batch).logits, model(**batch).logits, atol=1e-5, rtol=0)


def assert_pruned(lite: LiteLoRA, decisions: list, candidates: dict[str, set[int]],
                  optimizer: torch.optim.Optimizer) -> None:
    """A mid-task decision left the optimizer exactly right: the parameters of every candidate the
    gate closed are gone from its groups and its state, every recruit's are still there, and so is
    the head. ``candidates``: each target's candidate parameter ids, read before the gate decided
    (a closed candidate is no longer in the model to look up)."""
    live = {id(p) for g in optimizer.param_groups for p in g["params"]}
    state = {id(p) for p in optimizer.state}
    closed = set().union(*(candidates[d.target] for d in decisions if d.decision == "reuse"))
    kept = set().union(*(candidates[d.target] for d in decisions if d.decision != "reuse"))
    assert closed, "the gate was meant to close some candidates"
    assert closed.isdisjoint(live) and closed.isdisjoint(state)
    assert kept <= live
    assert all(id(p) in live for p in lite.model.classifier.parameters())


def candidate_ids(lite: LiteLoRA, task: int) -> dict[str, set[int]]:
    """Each target's candidate parameter ids for ``task`` (an open task: before the gate decides)."""
    return {t: {id(p) for p in a.parameters()} for t, a in lite.bank.candidates(task).items()}
