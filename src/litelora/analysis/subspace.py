"""Subspace geometry of LoRA updates, computed on the factors only.

An update is ``dW = B A`` with B (d_out, r) and A (r, d_in). Its thin SVD comes from two
reduced QRs and the SVD of a small core: B = Q_B R_B, A^T = Q_A R_A, so
dW = Q_B (R_B R_A^T) Q_A^T and the core R_B R_A^T is at most r x r. Every quantity here
costs O((d_in + d_out) r^2); no d_out x d_in matrix is ever formed. All work is in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from litelora.adapters.subspace import frobenius_inner, representability

Factors = tuple[torch.Tensor, torch.Tensor]  # (B (d_out, r), A (r, d_in))


@dataclass(frozen=True)
class FactorSVD:
    """Thin SVD of ``dW = B A``: ``U`` (d_out, k), ``s`` (k,), ``V`` (d_in, k), k = numerical rank."""

    U: torch.Tensor
    s: torch.Tensor
    V: torch.Tensor

    @property
    def rank(self) -> int:
        return int(self.s.numel())


def _rtol(dtype: torch.dtype, *dims: int) -> float:
    """numpy's ``matrix_rank`` rule, with the eps of the dtype the factors were stored in:
    a float32 adapter is only known to float32 precision, however we compute on it."""
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else torch.finfo(torch.float64).eps
    return max(dims) * eps


def factor_svd(B: torch.Tensor, A: torch.Tensor, precision: torch.dtype | None = None) -> FactorSVD:
    """Thin SVD of ``B A`` (B (d_out, r), A (r, d_in)) via QR of B and A^T and the core SVD.

    Directions whose singular value is below ``max(d_out, d_in, r) * eps * s_max`` are dropped
    (eps of ``precision``, default B's dtype), so rank-deficient factors (and d < r) give the
    true column and row spaces of B A.
    """
    if B.ndim != 2 or A.ndim != 2 or B.shape[1] != A.shape[0]:
        raise ValueError(f"expected B (d_out, r) and A (r, d_in); got {tuple(B.shape)} and {tuple(A.shape)}")
    tol = _rtol(precision or B.dtype, B.shape[0], A.shape[1], A.shape[0])
    Qb, Rb = torch.linalg.qr(B.detach().double())
    Qa, Ra = torch.linalg.qr(A.detach().double().T)
    X, s, Yh = torch.linalg.svd(Rb @ Ra.T, full_matrices=False)
    keep = s > tol * s[0] if s.numel() and s[0] > 0 else torch.zeros_like(s, dtype=torch.bool)
    return FactorSVD(Qb @ X[:, keep], s[keep], Qa @ Yh.T[:, keep])


def column_basis(B: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis (d_out, k) of the column space of ``B A``."""
    return factor_svd(B, A).U


def row_basis(B: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis (d_in, k) of the row space of ``B A``."""
    return factor_svd(B, A).V


def subspace_similarity(Ui: torch.Tensor, Uj: torch.Tensor) -> float:
    """Hu et al. (2021): ``||Ui^T Uj||_F^2 / min(ri, rj)`` for orthonormal Ui (d, ri), Uj (d, rj).

    1 when one subspace contains the other, 0 when orthogonal; NaN if either is empty.
    """
    k = min(Ui.shape[1], Uj.shape[1])
    if k == 0:
        return math.nan
    return float((Ui.double().T @ Uj.double()).square().sum() / k)


def principal_angles(Qi: torch.Tensor, Qj: torch.Tensor) -> torch.Tensor:
    """The min(ri, rj) principal angles (radians, ascending) between orthonormal Qi (d, ri), Qj (d, rj)."""
    cosines = torch.linalg.svdvals(Qi.double().T @ Qj.double()).clamp(-1.0, 1.0)
    return torch.arccos(cosines)


def extend_basis(Q: torch.Tensor, U: torch.Tensor, atol: float = 1e-10) -> torch.Tensor:
    """``Q`` (d, R) orthonormal, extended by the part of span(U) (U (d, k)) outside it.

    U is projected off Q twice (classical Gram-Schmidt loses orthogonality once) and its
    remainder kept where a singular value exceeds ``atol``. O(d R k): Q is never re-factorised.
    """
    W = U.double()
    for _ in range(2):
        W = W - Q @ (Q.T @ W)
    if W.shape[1] == 0:
        return Q
    X, s, _ = torch.linalg.svd(W, full_matrices=False)
    return torch.cat([Q, X[:, s > atol]], dim=1)


def orthonormal_union(bases: list[torch.Tensor], atol: float = 1e-10) -> torch.Tensor:
    """Orthonormal basis (d, R) of the span of several bases (each (d, k_i)), built incrementally."""
    Q = bases[0].new_zeros(bases[0].shape[0], 0).double()
    for U in bases:
        Q = extend_basis(Q, U, atol)
    return Q


def union_tolerance(dtype: torch.dtype, *dims: int) -> float:
    """Absolute tolerance for ``orthonormal_union``: the bases have unit columns, so a
    direction inside the span leaves a remainder of the order of the storage precision."""
    return _rtol(dtype, *dims)


def projected_norm_sq(B: torch.Tensor, A: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> float:
    """``||U U^T (B A) V V^T||_F^2 = ||(U^T B)(A V)||_F^2`` for orthonormal U (d_out, R), V (d_in, R')."""
    return float(((U.T @ B.double()) @ (A.double() @ V)).square().sum())


def overlap_with_union(dW: Factors, earlier: list[Factors]) -> float:
    """rho = ``||P_out dW P_in||_F^2 / ||dW||_F^2``, P the projectors onto the union of the
    earlier updates' column (out) and row (in) spaces. 0 with no earlier update; NaN if dW = 0."""
    B, A = dW
    norm_sq = float(frobenius_inner(B.double(), A.double(), B.double(), A.double()))
    if norm_sq == 0:
        return math.nan
    if not earlier:
        return 0.0
    svds = [factor_svd(Bi, Ai) for Bi, Ai in earlier]
    tol = union_tolerance(B.dtype, B.shape[0], A.shape[1], sum(Bi.shape[1] for Bi, _ in earlier))
    U = orthonormal_union([f.U for f in svds], tol)
    V = orthonormal_union([f.V for f in svds], tol)
    return projected_norm_sq(B, A, U, V) / norm_sq


def effective_rank_of(s: torch.Tensor) -> float:
    """Roy & Vetterli (2007): ``exp(H(p))`` with ``p = s / sum(s)``; 0 for an all-zero spectrum."""
    s = s.double()
    s = s[s > 0]
    if s.numel() == 0:
        return 0.0
    p = s / s.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def effective_rank(B: torch.Tensor, A: torch.Tensor) -> float:
    """Effective rank of ``B A`` from the singular values of its r x r core."""
    return effective_rank_of(factor_svd(B, A).s)


def stacked_singular_values(updates: list[Factors]) -> torch.Tensor:
    """Singular values of ``[dW_1 ... dW_T]`` (d_out, T d_in), horizontally stacked.

    [B_1 A_1 ... B_T A_T] = B_cat blockdiag(A_1, ..., A_T). With B_cat = Q R_B and
    A_t^T = Q_t R_t, blockdiag(A_t)^T = blockdiag(Q_t) blockdiag(R_t), and blockdiag(Q_t) has
    orthonormal columns (the blocks are disjoint), so the stack equals
    Q (R_B blockdiag(R_t)^T) blockdiag(Q_t)^T: its singular values are those of the
    (<= R x R) core R_B blockdiag(R_t)^T, R = sum_t r_t.
    """
    _, Rb = torch.linalg.qr(torch.cat([B.detach().double() for B, _ in updates], dim=1))
    Rs = [torch.linalg.qr(A.detach().double().T)[1] for _, A in updates]
    return torch.linalg.svdvals(Rb @ torch.block_diag(*Rs).T)


def stacked_effective_rank_ratio(updates: list[Factors]) -> tuple[float, float, float]:
    """``(1 - erank(stack) / sum_t erank(dW_t), erank(stack), sum_t erank(dW_t))``.

    Near 0: the updates use disjoint column directions; near 1 - 1/T: they share them.
    NaN ratio when every update is zero.
    """
    total = sum(effective_rank(B, A) for B, A in updates)
    stacked = effective_rank_of(stacked_singular_values(updates)) if updates else 0.0
    ratio = 1.0 - stacked / total if total > 0 else math.nan
    return ratio, stacked, total


def representability_residual(earlier: list[Factors], dW: Factors) -> float:
    """SD-LoRA-KD's residual ``min_beta ||sum_i beta_i D_i - D_t||_F^2`` on unit-norm updates
    (``litelora.adapters.subspace.representability``): 0 = represented, 1 = orthogonal."""
    return representability(earlier, dW)[0]


def frobenius_gram(updates: list[Factors]) -> torch.Tensor:
    """(T, T) Gram ``<dW_i, dW_j>_F`` of all updates at once: with P = B_cat^T B_cat and
    Q = A_cat A_cat^T (R x R), entry (i, j) is the sum of block (i, j) of P * Q."""
    B = torch.cat([b.detach().double() for b, _ in updates], dim=1)
    A = torch.cat([a.detach().double() for _, a in updates], dim=0)
    owner = torch.repeat_interleave(torch.arange(len(updates)), torch.tensor([b.shape[1] for b, _ in updates]))
    S = torch.nn.functional.one_hot(owner, len(updates)).double()  # (R, T) block indicator
    return S.T @ ((B.T @ B) * (A @ A.T)) @ S


def residuals_from_gram(G: torch.Tensor) -> list[float]:
    """``representability_residual(updates[:t], updates[t])`` for every t >= 1 from one Gram
    (T, T) of the updates: the same formula, without recomputing earlier inner products.
    Entry t - 1 is task t's residual; NaN where update t is zero."""
    norms = G.diagonal().clamp_min(0).sqrt()
    Gn = G / (norms[:, None] * norms[None, :]).clamp_min(1e-300)
    out = []
    for t in range(1, G.shape[0]):
        if norms[t] == 0:
            out.append(math.nan)
            continue
        g = Gn[:t, t]
        beta = torch.linalg.lstsq(Gn[:t, :t], g.unsqueeze(1)).solution.squeeze(1)
        out.append(float((1.0 - 2 * beta @ g + beta @ Gn[:t, :t] @ beta).clamp_min(0.0)))
    return out


def pairwise_subspaces(bases: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, T) ``subspace_similarity`` and mean principal angle (radians) of every pair of
    orthonormal bases (each (d, k_i)), from one (K, K) product of the stacked bases; NaN
    where a basis is empty."""
    n = len(bases)
    M = torch.cat([b.double() for b in bases], dim=1)
    M = M.T @ M
    edges = [0]
    for b in bases:
        edges.append(edges[-1] + b.shape[1])
    ranks = {b.shape[1] for b in bases}
    if len(ranks) == 1 and 0 not in ranks:
        # Equal ranks (the usual case): all (k, k) blocks in one batched SVD, no Python loop.
        k = ranks.pop()
        blocks = M.reshape(n, k, n, k).transpose(1, 2)
        angles = torch.arccos(torch.linalg.svdvals(blocks).clamp(-1.0, 1.0))
        return blocks.square().sum((-2, -1)) / k, angles.mean(-1)
    sim = torch.full((n, n), math.nan, dtype=torch.float64)
    angle = torch.full((n, n), math.nan, dtype=torch.float64)
    for i in range(n):
        for j in range(i, n):
            block = M[edges[i] : edges[i + 1], edges[j] : edges[j + 1]]
            if block.numel() == 0:
                continue
            sim[i, j] = sim[j, i] = block.square().sum() / min(block.shape)
            angle[i, j] = angle[j, i] = torch.arccos(torch.linalg.svdvals(block).clamp(-1.0, 1.0)).mean()
    return sim, angle


def linear_cka(X: torch.Tensor, Y: torch.Tensor) -> float:
    """Linear CKA (Kornblith et al., 2019) of activations X (n, d1) and Y (n, d2):
    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` on column-centred copies; NaN if either is constant."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y need the same number of rows; got {X.shape[0]} and {Y.shape[0]}")
    Xc = X.double() - X.double().mean(0, keepdim=True)
    Yc = Y.double() - Y.double().mean(0, keepdim=True)
    denom = torch.linalg.matrix_norm(Xc.T @ Xc) * torch.linalg.matrix_norm(Yc.T @ Yc)
    if denom == 0:
        return math.nan
    return float((Yc.T @ Xc).square().sum() / denom)


def adapter_cka(dWi: Factors, dWj: Factors, X: torch.Tensor) -> float:
    """Linear CKA of two updates' outputs ``X A^T B^T`` on probe inputs X (n, d_in)."""
    (Bi, Ai), (Bj, Aj) = dWi, dWj
    X = X.double()
    return linear_cka((X @ Ai.double().T) @ Bi.double().T, (X @ Aj.double().T) @ Bj.double().T)
