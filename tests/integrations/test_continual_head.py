"""The continual head in transformers' Trainer: three class-incremental tasks on constructed,
separable data keep every old task above chance with ``ContinualClassifier``'s aligned head, where
a shared classifier trained the same way forgets them; the head's state resumes bit-identically."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel, TrainingArguments

from litelora import AdapterConfig, LiteLoRA
from litelora.errors import ConfigError
from litelora.integrations.hf_trainer import LiteLoRATrainer
from litelora.models.continual_classifier import ContinualClassifier

TASKS = [[0, 1], [2, 3], [4, 5]]
CONFIG = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
              max_position_embeddings=32)


def _rows(classes: list[int], n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """``n`` examples; class c writes 6 to 12 tokens from its own band of the vocabulary, then padding."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        c = classes[i % len(classes)]
        length = int(torch.randint(6, 13, (1,), generator=g))
        ids = torch.zeros(12, dtype=torch.long)
        ids[:length] = torch.randint(15 * c + 5, 15 * c + 20, (length,), generator=g)
        rows.append({"input_ids": ids, "attention_mask": (ids > 0).long(), "labels": torch.tensor(c)})
    return rows


def _args(tmp_path) -> TrainingArguments:
    return TrainingArguments(output_dir=str(tmp_path / "hf"), max_steps=24, per_device_train_batch_size=8,
                             learning_rate=2e-2, warmup_steps=0, report_to=[], save_strategy="no", use_cpu=True,
                             disable_tqdm=True, seed=0)


def _train(model: torch.nn.Module, tmp_path, stop_after: int = len(TASKS)) -> LiteLoRA:
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), method="inclora",
                    num_tasks=len(TASKS), lr=2e-2,
                    modules_to_save=["head"] if isinstance(model, ContinualClassifier) else ["classifier"])
    for t, classes in enumerate(TASKS[:stop_after]):
        LiteLoRATrainer(args=_args(tmp_path), train_dataset=_rows(classes, 48, seed=t), lite=lite, task_id=t).train()
    return lite


@torch.no_grad()
def _task_accuracies(predict) -> list[float]:  # noqa: ANN001 - (input_ids, attention_mask) -> class ids
    """Class-incremental accuracy (argmax over all 6 classes) on each task's held-out examples."""
    out = []
    for t, classes in enumerate(TASKS):
        rows = _rows(classes, 40, seed=100 + t)
        ids, mask = torch.stack([r["input_ids"] for r in rows]), torch.stack([r["attention_mask"] for r in rows])
        labels = torch.stack([r["labels"] for r in rows])
        out.append(float((predict(ids, mask) == labels).float().mean()))
    return out


def _continual() -> ContinualClassifier:
    torch.manual_seed(0)
    return ContinualClassifier(BertModel(BertConfig(**CONFIG)), TASKS, head="aligned")


def test_the_aligned_head_keeps_old_tasks_above_chance_where_a_shared_classifier_forgets(tmp_path) -> None:
    model = _continual()
    _train(model, tmp_path)
    kept = _task_accuracies(lambda ids, mask: model.eval().predict(ids, mask))
    assert min(kept[:-1]) > 1 / 6 + 0.2, kept  # every old task well above chance (1/6)

    torch.manual_seed(0)
    shared = BertForSequenceClassification(BertConfig(**CONFIG, num_labels=6))
    _train(shared, tmp_path)
    forgot = _task_accuracies(lambda ids, mask: shared.eval()(input_ids=ids, attention_mask=mask).logits.argmax(-1))
    assert max(forgot[:-1]) < 1 / 6, forgot  # the control: the shared classifier forgets the old tasks
    print("aligned head", kept, "shared classifier", forgot)


def test_the_head_state_resumes_bit_identically(tmp_path) -> None:
    model = _continual()
    _train(model, tmp_path, stop_after=2)
    model.save_head(tmp_path / "head", class_names=[f"c{k}" for k in range(6)])
    resumed = _continual()
    resumed.load_head_state(tmp_path / "head")
    mine, theirs = model.head.state_tensors(), resumed.head.state_tensors()
    assert sorted(mine) == sorted(theirs) and any(k.startswith("stats.") for k in mine)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    # Re-fitting the next task from either gives the same rows, to the bit.
    for m in (model, resumed):
        m.head.learn_classes([(torch.randn(8, 32, generator=torch.Generator().manual_seed(5)),
                               torch.tensor([4, 5] * 4))], [4, 5])
        m.head.align(2)
    assert all(torch.equal(a, b) for a, b in zip(model.head.parameters(), resumed.head.parameters()))


def test_a_frozen_head_is_refused(tmp_path) -> None:
    lite = LiteLoRA(_continual(), AdapterConfig(target_modules=["query"]), num_tasks=3)
    with pytest.raises(ConfigError, match=r"modules_to_save=\['head'\]"):
        LiteLoRATrainer(args=_args(tmp_path), train_dataset=_rows([0, 1], 8, 0), lite=lite, task_id=0).train()


def test_a_plain_loop_with_the_documented_calls_keeps_old_tasks_and_saves_the_head(tmp_path) -> None:
    """The own-loop order of docs/own-loop.md: ``model.start_task`` before ``LiteLoRA.start_task``,
    ``model.end_task`` after ``LiteLoRA.end_task``; ``LiteLoRA.save`` writes the head beside the bank."""
    model = _continual()
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), method="inclora",
                    num_tasks=len(TASKS), lr=2e-2, modules_to_save=["head"])
    for t, classes in enumerate(TASKS):
        rows = _rows(classes, 48, seed=t)

        def batches(rows=rows):  # noqa: ANN202 - the task's training batches as dicts
            return ({k: torch.stack([r[k] for r in rows[i:i + 8]]) for k in rows[0]} for i in range(0, 48, 8))

        model.start_task(t)
        lite.start_task(t, steps=24)
        optimizer = torch.optim.AdamW([p for g in lite.groups for p in g["params"]], lr=2e-2)
        model.train()
        for step in range(24):
            batch = list(batches())[step % 6]
            loss = model(**batch).loss
            for term in lite.loss_terms():
                loss = loss + term
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            lite.after_step(step + 1)
        lite.end_task()
        model.end_task(t, batches)
    kept = _task_accuracies(lambda ids, mask: model.eval().predict(ids, mask))
    assert min(kept[:-1]) > 1 / 6 + 0.2, kept

    lite.save(tmp_path / "own-loop")
    resumed = _continual()
    resumed.load_head_state(tmp_path / "own-loop" / "litelora_head")
    mine, theirs = model.head.state_tensors(), resumed.head.state_tensors()
    assert sorted(mine) == sorted(theirs) and all(torch.equal(mine[k], theirs[k]) for k in mine)
