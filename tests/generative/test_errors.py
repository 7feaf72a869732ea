"""Bad input to the generative path: clear errors naming the field and the fix."""

from __future__ import annotations

import pytest
from gen_helpers import toy_config, toy_stream

from litelora.errors import ConfigError
from litelora.generative.causal import CausalLM
from litelora.generative.codec import ByteCodec
from litelora.generative.zoo import model_kind, tiny_llama_lm, tiny_t5_lm
from litelora.testing import tiny_bert
from litelora.training.backbones import build_backbone
from litelora.training.config import ModelConfig, RunConfig
from litelora.training.trainer import ContinualTrainer


def test_an_encoder_used_without_a_head_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model.kind='causal-lm'.*'tiny-bert'.*neither a seq2seq nor a causal LM.*"
                                          r"classifier head"):
        build_backbone(ModelConfig(name="tiny-bert", kind="causal-lm"))
    with pytest.raises(ConfigError, match="is a causal-lm model; set model.kind=causal-lm or auto"):
        build_backbone(ModelConfig(name="tiny-llama", kind="seq2seq"))


def test_an_encoder_has_no_generative_targets() -> None:
    with pytest.raises(ConfigError, match="no usual attention projections"):
        CausalLM(tiny_bert().embeddings, ByteCodec())


def test_model_kind_from_the_config() -> None:
    assert model_kind(tiny_llama_lm().config) == "causal-lm"
    assert model_kind(tiny_t5_lm().config) == "seq2seq"
    assert model_kind(tiny_bert().config) == "classifier"


def test_a_template_longer_than_max_length_fails_before_the_run_starts(tmp_path) -> None:
    cfg = RunConfig.from_dict(toy_config("tiny-llama", str(tmp_path / "run"),
                                         model={"max_length": 8, "generation": {}}))
    with pytest.raises(ConfigError, match=r"model.max_length=8 leaves no room .* task 'kinds'.*raise model.max_length"):
        ContinualTrainer(cfg, toy_stream(), build_backbone(cfg.model))
    assert not (tmp_path / "run").exists()


def test_bad_generation_values_name_the_field() -> None:
    with pytest.raises(ConfigError, match="max_target_length must be >= 2"):
        RunConfig.from_dict({"model": {"generation": {"max_target_length": 1}}})
    with pytest.raises(ConfigError, match=r"model.autocast: 'fp8' is not allowed"):
        RunConfig.from_dict({"model": {"autocast": "fp8"}})
