"""Linear algebra on LoRA factors: never forms a d_out x d_in matrix.

An update is ``dW = B A`` with B (d_out, r) and A (r, d_in). Frobenius inner products of
two updates reduce to r x r products: <B_i A_i, B_j A_j>_F = sum((B_i^T B_j) * (A_i A_j^T)).
"""

from __future__ import annotations

import torch


def frobenius_inner(B1: torch.Tensor, A1: torch.Tensor, B2: torch.Tensor, A2: torch.Tensor) -> torch.Tensor:
    """<B1 A1, B2 A2>_F in O((d_in + d_out) r1 r2)."""
    return ((B1.T @ B2) * (A1 @ A2.T)).sum()


def representability(
    olds: list[tuple[torch.Tensor, torch.Tensor]], new: tuple[torch.Tensor, torch.Tensor]
) -> tuple[float, torch.Tensor]:
    """SD-LoRA-KD's test: how well do earlier updates represent a new one?

    With unit-norm directions D_i = B_i A_i / ||B_i A_i||_F, returns
    ``(residual, beta)``: residual = min_beta ||sum_i beta_i D_i - D_new||_F^2 (in [0, 1])
    and the minimising beta (len(olds),). Computed in float64 from Gram products only.
    """
    B_new, A_new = (t.detach().double() for t in new)
    pairs = [(B.detach().double(), A.detach().double()) for B, A in olds]
    norm_new = frobenius_inner(B_new, A_new, B_new, A_new).sqrt()
    if not pairs or norm_new == 0:
        return (0.0 if norm_new == 0 else 1.0), torch.zeros(len(pairs), dtype=torch.float64)
    norms = torch.stack([frobenius_inner(B, A, B, A).sqrt().clamp_min(1e-300) for B, A in pairs])
    G = torch.stack([torch.stack([frobenius_inner(Bi, Ai, Bj, Aj) for Bj, Aj in pairs]) for Bi, Ai in pairs])
    G = G / (norms[:, None] * norms[None, :])
    g = torch.stack([frobenius_inner(B, A, B_new, A_new) for B, A in pairs]) / (norms * norm_new)
    beta = torch.linalg.lstsq(G, g.unsqueeze(1)).solution.squeeze(1)
    residual = float((1.0 - 2 * beta @ g + beta @ G @ beta).clamp_min(0.0))
    return residual, beta


def project_onto_span(
    U: torch.Tensor, V: torch.Tensor, B: torch.Tensor, A: torch.Tensor
) -> torch.Tensor:
    """The core C (R x R) with U C V^T = P_U (B A) P_V, for orthonormal U (d_out, R), V (d_in, R)."""
    return (U.T @ B) @ (A @ V)



def outside_span(G: torch.Tensor, U: torch.Tensor | None, V: torch.Tensor | None) -> torch.Tensor:
    """``G - U U^T G V V^T``: the part of a d_out x d_in matrix that no update ``U C V^T`` inside
    the span of older adapters (orthonormal U (d_out, R), V (d_in, R)) can give. ``None``: no span."""
    if U is None or V is None:
        return G
    return G - U @ ((U.T @ G) @ V) @ V.T


def outside_directions(G: torch.Tensor, directions: torch.Tensor | None) -> torch.Tensor:
    """``G`` minus its least-squares fit by a few fixed update directions (``directions`` (k, d_out,
    d_in), e.g. each older adapter's ``B A``): what rescaling those adapters (``scale`` reuse) cannot
    give. ``None`` or ``k = 0``: ``G`` itself."""
    if directions is None or directions.shape[0] == 0:
        return G
    D = directions.reshape(directions.shape[0], -1).to(G.dtype)
    beta = torch.linalg.lstsq(D @ D.T, (D @ G.reshape(-1)).unsqueeze(1)).solution.squeeze(1)
    return G - (beta @ D).view_as(G)

