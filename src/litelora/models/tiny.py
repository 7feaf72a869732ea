"""Tiny registered models for tests and smoke runs (``tiny-bert``, ``tiny-mlp``) and the
``planted-mlp`` the planted-redundancy benchmark is built for; fixed weights, built in memory."""

from __future__ import annotations

import torch
from torch import nn

from litelora.errors import ConfigError
from litelora.models.backbone import BACKBONES, Backbone, TensorBackbone
from litelora.models.config import ModelConfig
from litelora.models.text import HashTokenizer, TextBackbone


def tiny_bert(hidden: int = 32, layers: int = 2, vocab: int = 100) -> nn.Module:
    """A randomly initialised 2-layer ``transformers`` BERT encoder (``BertModel``)."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=64)
    return BertModel(cfg).eval()


@BACKBONES.register("tiny-bert")
def tiny_bert_backbone(config: ModelConfig, input_dim: int | None = None) -> Backbone:
    """A random 2-layer BERT with a hashing tokenizer: for tests and smoke runs."""
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
