"""Reuse structures: what a module keeps for a task that recruits no new adapter.

They live in the bank (not in ``gates``) because a saved run must load them without
knowing which gate created them.
"""

from __future__ import annotations

import torch
from torch import nn


class ReusePath(nn.Module):
    """What a closed candidate leaves a slot instead of a new adapter. A path may shift the old
    adapters' magnitudes (``magnitude_deltas``), add its own output (``output``), and describes
    that output as LoRA factors for merging and export (``factors``); the slot reads only these."""

    adapter_names: list[str]

    def magnitude_deltas(self) -> dict[str, torch.Tensor]:
        """Old adapter name -> what to add to its magnitude."""
        return {}

    @property
    def scaled_adapters(self) -> set[str]:
        """The old adapters whose magnitude this path changes (they can never be folded)."""
        return set()

    def output(self, x: torch.Tensor) -> torch.Tensor | None:
        """The path's own contribution to the slot's output (None: none)."""
        return None

    def factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The own contribution as ``(A (k, d_in), B (d_out, k))`` with ``B @ A`` its update."""
        return None


class ScaleReuse(ReusePath):
    """One trainable scalar per old adapter of the slot (SD-LoRA-style magnitudes).

    Adds ``coeffs[i]`` to adapter ``adapter_names[i]``'s magnitude: the contribution is
    ``(m_i + coeffs[i]) * s_i * B_i A_i x``. Stored as ``coeffs`` (shape ``(k,)``, init 0).
    """

    def __init__(self, adapter_names: list[str], like: torch.Tensor | None = None) -> None:
        """``like``: a tensor of the scaled adapters, whose device and dtype the coefficients take
        (``None``: float32 on the CPU, moved with the model)."""
        super().__init__()
        self.adapter_names = list(adapter_names)
        self.coeffs = nn.Parameter(torch.zeros(len(adapter_names)) if like is None else
                                   torch.zeros(len(adapter_names), device=like.device, dtype=like.dtype))

    def magnitude_deltas(self) -> dict[str, torch.Tensor]:
        return {name: self.coeffs[i] for i, name in enumerate(self.adapter_names)}

    @property
    def scaled_adapters(self) -> set[str]:
        return set(self.adapter_names)

    def extra_repr(self) -> str:
        return f"adapters={self.adapter_names}"


class CoreReuse(ReusePath):
    """An update confined to the span of the old adapters: ``U C V^T x``.

    ``U`` (d_out x R) and ``V`` (d_in x R) are orthonormal bases of the old B columns and
    A rows, recomputed from the adapters (not stored); ``C`` (R x R, init 0) is the only
    stored and trainable tensor.
    """

    def __init__(self, adapter_names: list[str], U: torch.Tensor, V: torch.Tensor) -> None:
        super().__init__()
        self.adapter_names = list(adapter_names)
        self.register_buffer("U", U, persistent=False)
        self.register_buffer("V", V, persistent=False)
        self.core = nn.Parameter(torch.zeros(U.shape[1], V.shape[1], dtype=U.dtype, device=U.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(nn.functional.linear(nn.functional.linear(x, self.V.T), self.core), self.U)

    def output(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.V.T, self.U @ self.core

    def delta_weight(self) -> torch.Tensor:
        """Dense ``U C V^T`` (d_out x d_in), for merging only."""
        return self.U @ self.core @ self.V.T

    def extra_repr(self) -> str:
        return f"adapters={self.adapter_names}, R={self.core.shape[0]}"


def span_bases(As: list[torch.Tensor], Bs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal bases (U of the B columns, V of the A rows), each with sum(r) columns.

    Reduced QR of the stacked factors: O((d_in + d_out) R^2), no d x d matrix.
    """
    U, _ = torch.linalg.qr(torch.cat(Bs, dim=1).detach().double())
    V, _ = torch.linalg.qr(torch.cat(As, dim=0).detach().double().T)
    dtype = Bs[0].dtype
    return U.to(dtype), V.to(dtype)
