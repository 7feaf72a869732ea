"""Rank classification (model.generation.scoring=rank): each label option scored by its
log-likelihood in one batched forward, against greedy exact match."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from gen_helpers import toy_config, toy_stream

from litelora.generative.exact_match import normalize_answer
from litelora.training.backbones import build_backbone
from litelora.training.config import RunConfig
from litelora.training.data import iter_task_batches
from litelora.training.trainer import ContinualTrainer


def _trained(model: str, tmp_path: Path, scoring: str = "exact_match") -> ContinualTrainer:
    cfg = RunConfig.from_dict(toy_config(model, str(tmp_path / f"{model}-{scoring}"),
                                         model={"generation": {"max_target_length": 8, "scoring": scoring,
                                                               "templates": {"classify": "{input}:"},
                                                               "task_types": {".*": "classify"}}},
                                         ))
    trainer = ContinualTrainer(cfg, toy_stream(), build_backbone(cfg.model))
    trainer.run()
    return trainer


@pytest.mark.parametrize("model", ["tiny-t5", "tiny-llama"])
def test_rank_agrees_with_greedy_where_greedy_names_an_option(model: str, tmp_path: Path) -> None:
    trainer = _trained(model, tmp_path)
    lm, agreed = trainer.model.eval(), 0
    for task in trainer.stream.tasks:
        options = [normalize_answer(lm.target(c)) for c in task.classes]
        for batch, _ in iter_task_batches(lm, task, task.test, 8):
            greedy = [normalize_answer(t) for t in lm.generate_text(batch)]
            ranked = lm.rank_options(batch, task)
            for text, k in zip(greedy, ranked):
                if text in options:
                    assert options[k] == text
                    agreed += 1
    assert agreed >= 8  # the check did run on examples the model answers with a label word


@pytest.mark.parametrize("model", ["tiny-t5", "tiny-llama"])
def test_option_log_likelihoods_match_one_option_at_a_time(model: str, tmp_path: Path) -> None:
    cfg = RunConfig.from_dict(toy_config(model, str(tmp_path / "r")))
    lm = ContinualTrainer(cfg, toy_stream(), build_backbone(cfg.model)).model.eval()
    task = toy_stream().tasks[1]
    batch, _ = next(iter_task_batches(lm, task, task.test[:3], 3))  # padded to the longest prompt
    scores = lm.option_log_likelihoods(batch, task)
    assert len(scores) == 3 and all(len(per) == 2 for per in scores)
    for i, ex in enumerate(task.test[:3]):
        prompt = lm.prompt_ids(task, ex.input, lm.reserved_prompt_tokens)[0]
        for k, c in enumerate(task.classes):
            one = lm.make_batch([prompt], [lm.target_ids(c)[0]])
            logits, targets = lm.token_logits(one)
            logp = torch.log_softmax(logits.float(), -1)[0]
            keep = targets[0] != -100
            expected = logp[keep].gather(-1, targets[0][keep].unsqueeze(-1)).squeeze(-1)
            torch.testing.assert_close(torch.tensor(scores[i][k]), expected, atol=1e-4, rtol=1e-4)


def test_options_are_compared_along_their_shared_prefix() -> None:
    """Options "ab", "ac", "d": at the first token "a" (log p -1) beats "d" (-1.2); then "c" (-0.5)
    beats "b" (-3), though "d" has the larger summed likelihood (-1.2 against -1.5)."""
    from litelora.generative.lm import GenerativeModel

    class Fake(GenerativeModel):
        def __init__(self) -> None:
            torch.nn.Module.__init__(self)

        def target_ids(self, label: int):  # noqa: ANN201
            return [[1, 2], [1, 3], [4]][label], False

        def option_log_likelihoods(self, batch, task, decisive=False):  # noqa: ANN001, ANN201
            return [[[-1.0, -3.0], [-1.0, -0.5], [-1.2]]]

    class T:
        classes = (0, 1, 2)

    assert Fake().rank_options({}, T()) == [1]


def test_the_run_names_its_scoring(tmp_path: Path) -> None:
    import json

    trainer = _trained("tiny-llama", tmp_path, scoring="rank")
    results = json.loads((trainer.run_dir.root / "results.json").read_text())
    assert results["train_info"]["generation"]["scoring"] == "rank"
    assert results["metrics"]["final_acc_sample"] >= 0.5


def test_decisive_lengths_stop_at_the_first_token_no_other_option_shares() -> None:
    from litelora.generative.lm import decisive_lengths

    assert decisive_lengths([[5, 1], [6, 1], [7, 8, 1]]) == [1, 1, 1]  # first tokens differ
    assert decisive_lengths([[1, 2], [1, 3], [4]]) == [2, 2, 1]
    assert decisive_lengths([[1, 2, 9, 1], [1, 2, 8, 1], [1, 7, 1]]) == [3, 3, 2]
    assert decisive_lengths([[1, 2], [1, 2, 3]]) == [2, 3]  # a prefix of another: its end token decides
    assert decisive_lengths([[3, 1]]) == [1]


def test_rank_scoring_runs_no_continuation_where_first_tokens_decide(tmp_path: Path) -> None:
    cfg = RunConfig.from_dict(toy_config("tiny-llama", str(tmp_path / "r")))
    lm = ContinualTrainer(cfg, toy_stream(), build_backbone(cfg.model)).model.eval()
    task = toy_stream().tasks[1]
    batch, _ = next(iter_task_batches(lm, task, task.test[:4], 4))
    full = lm.option_log_likelihoods(batch, task)
    # " glad" / " sad" share the byte " ": two tokens each decide; then the first tokens alone.
    assert [len(per) for per in lm.option_log_likelihoods(batch, task, decisive=True)[0]] == [2, 2]
    widths = []
    hook = lm.lm.register_forward_pre_hook(lambda _m, _a, kw: widths.append(kw["input_ids"].shape), with_kwargs=True)
    lm._target_cache = {key: ([ids[1], *ids[2:]], cut) for key, (ids, cut) in lm._target_cache.items()}  # drop " "
    choices = lm.rank_options(batch, task)
    hook.remove()
    assert len(widths) == 1  # the prompt pass alone
    assert choices == [max(range(2), key=lambda k: per[k][0]) for per in lm.option_log_likelihoods(batch, task)]
    assert len(full[0][0]) == len(lm.target_ids(task.classes[0])[0]) + 1  # the untouched scores had " " too
