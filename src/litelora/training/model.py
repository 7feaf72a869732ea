"""ContinualModel: a backbone with its adapter bank, and the growing head."""

from __future__ import annotations

import torch
from torch import nn

from litelora.training.backbones import Backbone
from litelora.training.heads import GrowingHead


class ContinualModel(nn.Module):
    """Backbone features (B, D) -> growing head logits (B, seen classes)."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = GrowingHead(backbone.feature_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.backbone(**batch))
