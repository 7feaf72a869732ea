"""Batches of the generative models: label masks, padding, truncation, left-padded generation."""

from __future__ import annotations

import pytest
import torch
from gen_helpers import SHORT_PROMPTS, toy_stream

from litelora.benchmarks.stream import Example
from litelora.generative import GenerationConfig
from litelora.generative.causal import CausalLM
from litelora.generative.codec import ByteCodec
from litelora.generative.lm import IGNORE
from litelora.generative.seq2seq import Seq2SeqLM
from litelora.generative.zoo import tiny_llama_lm, tiny_t5_lm

B = ByteCodec()


def causal(**generation) -> CausalLM:
    model = CausalLM(tiny_llama_lm(), B, max_length=24,
                     generation=GenerationConfig(**{**SHORT_PROMPTS, "max_target_length": 8, **generation}))
    model.attach(toy_stream())
    return model


def seq2seq() -> Seq2SeqLM:
    model = Seq2SeqLM(tiny_t5_lm(), B, max_length=24,
                      generation=GenerationConfig(**SHORT_PROMPTS, max_target_length=8))
    model.attach(toy_stream())
    return model


def test_causal_labels_cover_the_target_and_end_token_only() -> None:
    model, task = causal(), toy_stream().tasks[0]
    batch = model.collate([Example("fig", 0), Example("apple pear", 1)], task)
    # Row 0: padding up to row 1's length, then [start] "fig:" " fruit" [end]: every row ends at
    # the last column.
    prompt0 = [B.bos_id, *B.encode("fig:")]
    target0 = [*B.encode(" fruit"), B.eos_id]
    n0 = len(prompt0) + len(target0)
    pad0 = batch["input_ids"].shape[1] - n0
    assert batch["input_ids"][0, pad0:].tolist() == prompt0 + target0
    assert batch["labels"][0, pad0:].tolist() == [IGNORE] * len(prompt0) + target0
    assert batch["attention_mask"][0].tolist() == [0] * pad0 + [1] * n0
    assert (batch["labels"][0, :pad0] == IGNORE).all() and (batch["input_ids"][0, :pad0] == B.pad_id).all()
    # Row 1 is the longest: no padding; its prompt alone is left-padded for generation.
    prompt1 = [B.bos_id, *B.encode("apple pear:")]
    assert batch["labels"][1].tolist() == [IGNORE] * len(prompt1) + [*B.encode(" tool"), B.eos_id]
    assert batch["prompt_ids"][1].tolist() == prompt1
    pad = len(prompt1) - len(prompt0)
    assert batch["prompt_ids"][0].tolist() == [B.pad_id] * pad + prompt0
    assert batch["prompt_mask"][0].tolist() == [0] * pad + [1] * len(prompt0)


def test_causal_loss_is_the_mean_over_target_tokens_only() -> None:
    model, task = causal(), toy_stream().tasks[0]
    batch = model.collate([Example("fig", 0), Example("apple pear", 1)], task)
    logits, targets = model.token_logits(batch)
    # The LM head scores the longest target's columns only (" fruit" + end: 7 tokens).
    assert logits.shape[:2] == targets.shape == (2, len(B.encode(" fruit")) + 1)
    token_nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none",
                                                  ignore_index=IGNORE)
    n_target = len(B.encode(" fruit")) + 1 + len(B.encode(" tool")) + 1
    assert int((targets != IGNORE).sum()) == n_target
    assert torch.allclose(model.loss(batch, torch.tensor([0, 1]), task), token_nll.sum() / n_target)


def test_padding_changes_neither_target_logits_nor_generations() -> None:
    model, task = causal(), toy_stream().tasks[0]
    short, long = Example("fig", 0), Example("apple pear drill saw", 1)
    alone = model.collate([short], task)
    padded = model.collate([short, long], task)
    with torch.no_grad():
        a, a_targets = model.token_logits(alone)
        b, b_targets = model.token_logits(padded)
    n = a.shape[1]  # the short row's target columns are the last n of the padded batch too
    assert b_targets[0, -n:].tolist() == a_targets[0].tolist()
    assert torch.allclose(a[0], b[0, -n:], atol=1e-5)
    assert model.generate_ids(alone, 6)[0].tolist() == model.generate_ids(padded, 6)[0, : 6].tolist()


def test_prompts_and_targets_are_tokenised_once() -> None:
    model, task = causal(), toy_stream().tasks[0]
    calls = []
    encode = model.codec.encode
    model.codec = type("Counting", (), {"encode": lambda self, text: calls.append(text) or encode(text),
                                        "pad_id": B.pad_id, "eos_id": B.eos_id, "bos_id": B.bos_id})()
    first = model.collate(task.train[:4], task)
    n = len(calls)
    assert n > 0
    again = model.collate(task.train[:4], task)
    assert len(calls) == n and all(torch.equal(first[k], again[k]) for k in first)
    model.generation = GenerationConfig(**{**SHORT_PROMPTS, "max_target_length": 3})
    assert model.target_ids(0)[0] == [*B.encode(" fruit")[:2], B.eos_id]  # a new length: encoded anew


def test_seq2seq_batch_masks_padding_and_shifts_the_target() -> None:
    model, task = seq2seq(), toy_stream().tasks[1]
    batch = model.collate([Example("joy", 2), Example("tears gloom", 3)], task)
    assert batch["input_ids"][0].tolist()[: len("joy:") + 1] == [*B.encode("joy:"), B.eos_id]
    assert batch["attention_mask"][0].sum() == len("joy:") + 1
    assert batch["labels"].tolist() == [[*B.encode("glad"), B.eos_id], [*B.encode("sad"), B.eos_id, IGNORE]]
    decoder_in = model._decoder_inputs(batch["labels"])
    assert decoder_in[1].tolist() == [model.decoder_start, *B.encode("sad"), B.eos_id]
    with torch.no_grad():
        alone = model.generate_ids(model.collate([Example("joy", 2)], task), 5)
        both = model.generate_ids(batch, 5)
    assert alone[0].tolist() == both[0, : alone.shape[1]].tolist()


def test_long_targets_are_truncated_counted_and_warned_about() -> None:
    model, task = causal(max_target_length=4), toy_stream().tasks[0]
    ids, cut = model.target_ids(0)
    assert cut and ids == [*B.encode(" fruit")[:3], B.eos_id]
    with pytest.warns(UserWarning, match=r"'kinds': 48 of 48 training targets .*max_target_length=4 tokens"):
        model.add_task(task)
    assert model.report()["generation"]["truncated_targets"] == {"kinds": 48}


def test_long_inputs_are_cut_but_the_template_is_kept() -> None:
    model, task = causal(), toy_stream().tasks[0]
    ids, cut = model.prompt_ids(task, "apple " * 20, reserved=1)
    assert cut and len(ids) == 24 - 1 and ids[-1:] == B.encode(":")
    assert not model.prompt_ids(task, "fig", reserved=1)[1]


def test_cut_prompts_are_counted_and_warned_about() -> None:
    """The end of a cut example is lost (a pair input's second part): the user is told, per task."""
    stream = toy_stream()
    task = stream.tasks[0]
    long = type(task)(task.task_id, task.name, task.classes,
                      [Example("apple " * 20, 0), *task.train[1:]], task.test)
    model = causal()
    with pytest.warns(UserWarning, match=r"'kinds': 1 of 48 training prompts are longer than model\.max_length=24"):
        model.add_task(long)
    assert model.report()["generation"]["truncated_prompts"] == {"kinds": 1}


def _adapter_grads(**options) -> torch.Tensor:
    from litelora.adapters import AdapterBank, AdapterConfig

    model = CausalLM(tiny_llama_lm(), B, max_length=24, generation=GenerationConfig(**SHORT_PROMPTS), **options)
    stream = toy_stream()
    model.attach(stream)
    torch.manual_seed(0)  # the same non-zero adapters in every call
    bank = AdapterBank(model.encoder, AdapterConfig(target_modules=["q_proj", "v_proj"], init_lora_weights="gaussian"))
    params = bank.add_task(0)
    model.train()
    task = stream.tasks[0]
    model.loss(model.collate(task.train[:4], task), torch.zeros(4), task).backward()
    return torch.cat([p.grad.flatten() for p in params])


def test_gradient_checkpointing_and_autocast_keep_the_adapter_gradients() -> None:
    plain = _adapter_grads()
    assert plain.norm() > 0
    assert torch.allclose(_adapter_grads(gradient_checkpointing=True), plain, atol=1e-6)
    bf16 = _adapter_grads(autocast="bfloat16")
    assert torch.nn.functional.cosine_similarity(bf16, plain, dim=0) > 0.98


def test_label_words_that_exact_match_cannot_tell_apart_are_refused() -> None:
    from litelora.benchmarks.stream import TaskStream
    from litelora.errors import DataError

    stream = toy_stream()
    names = ["kinds:fruit", "kinds:Fruit!", "moods:glad", "moods:sad"]
    clash = TaskStream("clash", "cil", stream.tasks, names, class_order=list(range(4)))
    with pytest.raises(DataError, match=r"task 'kinds': label words 'fruit' and 'Fruit!' are the same answer"):
        causal().attach(clash)
    causal(scoring="rank").attach(clash)  # ranking scores the tokens themselves: they differ
    # One answer for classes of two sources (a recurring label merged by method joint, spelt
    # alike or not) is one label: allowed.
    for other in ("other:fruit", "other:Fruit"):
        causal().attach(TaskStream("twice", "cil", stream.tasks, ["kinds:fruit", other, *names[2:]],
                                   class_order=list(range(4))))
    # A word with nothing left after normalising would count an empty generation as right.
    with pytest.raises(DataError, match=r"task 'moods': label word '\?!' is empty to exact match"):
        causal().attach(TaskStream("empty", "cil", stream.tasks, ["kinds:fruit", "kinds:nut", "moods:glad", "moods:?!"],
                                   class_order=list(range(4))))
