"""The model seams: what a feature extractor is, and the registry every model registers in.

``BACKBONES`` holds builders ``(ModelConfig, input_dim) -> Backbone | TaskModel`` by name
(``litelora list models``); text, image and generative models register into it from the
modules that build them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from litelora._registry import Registry
from litelora.errors import DataError
from litelora.models.task_model import TaskModel


class Backbone(nn.Module):
    """``forward(**batch) -> (B, feature_dim)``; ``collate(inputs) -> batch`` of tensors."""

    feature_dim: int
    default_targets: list[str]

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def collate(self, inputs: list[Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class TensorBackbone(Backbone):
    """Any module on tensor inputs (B, ...) returning (B, feature_dim)."""

    def __init__(self, encoder: nn.Module, feature_dim: int, default_targets: list[str]) -> None:
        super().__init__(encoder)
        self.feature_dim = feature_dim
        self.default_targets = default_targets

    def collate(self, inputs: list[Any]) -> dict[str, torch.Tensor]:
        if not all(isinstance(x, torch.Tensor) for x in inputs):
            raise DataError("a tensor backbone needs tensor inputs; this stream holds text (pick a text backbone)")
        return {"x": torch.stack(inputs)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


# A factory takes ``(config: ModelConfig, input_dim: int | None)``; installed packages add
# models through entry points in group ``litelora.models``.
BACKBONES: Registry[Backbone | TaskModel] = Registry("model", group="litelora.models")

# Where a registered model lives on the Hugging Face Hub, for exports a PEFT user loads elsewhere
# (``base_model_name_or_path``); models built in code (tiny-bert, planted-mlp, ...) have none.
HUB_IDS = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "vit-b16": "google/vit-base-patch16-224",
    "vit-b16-in21k": "google/vit-base-patch16-224-in21k",
}


def hub_id(model_name: str) -> str | None:
    """The hub id (or folder) a ``model.name`` stands for: the name after ``hf:``/``vit:``, the
    registered model's hub id, else ``None``."""
    for prefix in ("hf:", "vit:"):
        if model_name.startswith(prefix):
            return model_name[len(prefix):]
    return HUB_IDS.get(model_name)

