"""Tiny models for tests and examples (the "BoringModel" idea): built in memory, no download."""

from __future__ import annotations

import torch
from torch import nn

from litelora.models.tiny import tiny_bert

__all__ = ["FusedAttention", "TinyFusedViT", "tiny_bert", "tiny_mlp", "tiny_vit"]


class FusedAttention(nn.Module):
    """Self-attention with one fused ``qkv`` projection, laid out like timm's ViT."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class TinyFusedViT(nn.Module):
    """Two blocks of ``FusedAttention`` + MLP over token inputs (batch, tokens, dim)."""

    def __init__(self, dim: int = 16, depth: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"attn": FusedAttention(dim), "mlp": nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(),
                                                                              nn.Linear(2 * dim, dim))})
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = x + blk["attn"](x)
            x = x + blk["mlp"](x)
        return x


def tiny_mlp(d_in: int = 8, hidden: int = 16, d_out: int = 4) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, d_out))


def tiny_vit(hidden: int = 32, layers: int = 2, image_size: int = 16, patch: int = 8) -> nn.Module:
    """A randomly initialised ``transformers`` ViT (separate query/key/value layers)."""
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
                    image_size=image_size, patch_size=patch, num_channels=3)
    return ViTModel(cfg, add_pooling_layer=False).eval()
