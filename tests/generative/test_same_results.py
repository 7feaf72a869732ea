"""The cheaper causal-LM path (left-padded rows, the LM head on target columns only, prompts
tokenised once, test sets scored in length order, rank scoring reading only the option tokens
that decide) learns and scores what the plain path does: right-padded rows, logits at every
position, the test set in its own order, every option token scored."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from gen_helpers import toy_config, toy_stream

from litelora.generative.causal import CausalLM
from litelora.generative.lm import IGNORE, pad_rows
from litelora.training.backbones import build_backbone
from litelora.training.config import RunConfig
from litelora.training.trainer import ContinualTrainer


class PlainCausalLM(CausalLM):
    """The reference: every row right-padded, every position's logits, no tokenisation cache,
    evaluation in the test set's order, every option token scored."""

    def prompt_ids(self, task, text, reserved=0):  # noqa: ANN001, ANN201
        return self._encode_prompt(task, text, reserved)

    def make_batch(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, torch.Tensor]:
        batch = super().make_batch(prompts, targets)
        sequences = [self._start() + p + t for p, t in zip(prompts, targets)]
        labels = [[IGNORE] * (len(s) - len(t)) + t for s, t in zip(sequences, targets)]
        batch.update(input_ids=pad_rows(sequences, self.codec.pad_id),
                     attention_mask=pad_rows([[1] * len(s) for s in sequences], 0), labels=pad_rows(labels, IGNORE))
        return batch

    def token_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
        return logits[:, :-1], batch["labels"][:, 1:]

    def eval_order(self, task, examples):  # noqa: ANN001, ANN201
        return list(examples)

    def option_log_likelihoods(self, batch, task, decisive=False):  # noqa: ANN001, ANN201
        return super().option_log_likelihoods(batch, task)  # every token of every option


def _run(tmp_path: Path, name: str, scoring: str, plain: bool) -> tuple[list[list[float]], dict[str, torch.Tensor]]:
    cfg = RunConfig.from_dict(toy_config("tiny-llama", str(tmp_path / name), train={"batch_size": 8},
                                         model={"generation": {"max_target_length": 8, "scoring": scoring,
                                                               "templates": {"classify": "{input}:"},
                                                               "task_types": {".*": "classify"}}}))
    model = build_backbone(cfg.model)
    if plain:
        model.__class__ = PlainCausalLM
    # Inputs of varied length, so that the batches are really padded.
    stream = toy_stream()
    for task in stream.tasks:
        for examples in (task.train, task.test):
            examples[:] = [type(ex)(ex.input + " and more" * (i % 3), ex.label) for i, ex in enumerate(examples)]
    trainer = ContinualTrainer(cfg, stream, model)
    result = trainer.run()
    return result.accuracy_matrix, {k: v.detach().clone() for k, v in trainer.model.state_dict().items() if ".slots." in k}


@pytest.mark.parametrize("scoring", ["exact_match", "rank"])
def test_the_cheaper_path_trains_and_scores_as_the_plain_one(scoring: str, tmp_path: Path) -> None:
    R, adapters = _run(tmp_path, "cheap", scoring, plain=False)
    R_plain, adapters_plain = _run(tmp_path, "plain", scoring, plain=True)
    assert R == R_plain
    assert R[0][0] > 0  # it learned something: the comparison is not between two blank models
    assert adapters.keys() == adapters_plain.keys() and len(adapters) > 0
    for key, value in adapters.items():
        torch.testing.assert_close(value, adapters_plain[key], atol=1e-5, rtol=1e-4)
