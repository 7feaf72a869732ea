"""Factor-based subspace measures against hand-checkable cases and their dense computation.

Dense d x d matrices are formed here, in the tests only, as the reference."""

from __future__ import annotations

import math

import pytest
import torch

from litelora.analysis import (
    adapter_cka,
    column_basis,
    effective_rank,
    factor_svd,
    frobenius_gram,
    linear_cka,
    overlap_with_union,
    pairwise_subspaces,
    principal_angles,
    representability_residual,
    residuals_from_gram,
    row_basis,
    stacked_effective_rank_ratio,
    subspace_similarity,
)

# (d_out, d_in, r, k): k < r makes the factors rank-deficient; d < r is covered too.
SHAPES = [(12, 9, 3, 3), (20, 16, 5, 2), (4, 6, 7, 7), (5, 3, 6, 2), (30, 30, 4, 4)]


def _lora(d_out: int, d_in: int, r: int, k: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (B (d_out, r), A (r, d_in)) whose product has rank min(k, d_out, d_in)."""
    B = torch.randn(d_out, k, generator=g, dtype=torch.float64) @ torch.randn(k, r, generator=g, dtype=torch.float64)
    A = torch.randn(r, d_in, generator=g, dtype=torch.float64)
    return B, A


def _dense_bases(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    U, s, Vh = torch.linalg.svd(M, full_matrices=False)
    keep = s > max(M.shape) * torch.finfo(torch.float64).eps * 10 * s[0]
    return U[:, keep], s[keep], Vh[keep].T


def _dense_erank(s: torch.Tensor) -> float:
    p = s / s.sum()
    return math.exp(-(p * p.log()).sum().item())


def _projector(Q: torch.Tensor) -> torch.Tensor:
    return Q @ Q.T


def test_identical_subspaces_give_similarity_one_and_zero_angles() -> None:
    g = torch.Generator().manual_seed(1)
    B, A = _lora(16, 10, 4, 4, g)
    U = column_basis(B, A)
    # The same column space from differently mixed factors: B M, M^-1 A.
    M = torch.randn(4, 4, generator=g, dtype=torch.float64) + 4 * torch.eye(4, dtype=torch.float64)
    U2 = column_basis(B @ M, torch.linalg.solve(M, A))
    assert subspace_similarity(U, U2) == pytest.approx(1.0, abs=1e-10)
    assert torch.allclose(principal_angles(U, U2), torch.zeros(4, dtype=torch.float64), atol=1e-6)
    assert representability_residual([(B, A)], (2.5 * B, A)) == pytest.approx(0.0, abs=1e-10)


def test_orthogonal_subspaces_give_similarity_zero_angles_half_pi_residual_one() -> None:
    E = torch.eye(12, dtype=torch.float64)
    Bi, Ai = E[:, :3], E[:3, :]
    Bj, Aj = E[:, 3:7], E[5:9, :]
    assert subspace_similarity(column_basis(Bi, Ai), column_basis(Bj, Aj)) == pytest.approx(0.0, abs=1e-12)
    angles = principal_angles(row_basis(Bi, Ai), row_basis(Bj, Aj))
    assert angles.shape == (3,)
    assert torch.allclose(angles, torch.full((3,), math.pi / 2, dtype=torch.float64))
    assert representability_residual([(Bi, Ai)], (Bj, Aj)) == pytest.approx(1.0, abs=1e-12)
    assert overlap_with_union((Bj, Aj), [(Bi, Ai)]) == pytest.approx(0.0, abs=1e-12)


def test_planted_combination_of_earlier_adapters_has_rho_one_residual_zero() -> None:
    g = torch.Generator().manual_seed(2)
    olds = [_lora(256, 256, 4, 4, g) for _ in range(2)]
    # 0.7 dW_1 - 1.3 dW_2 as one rank-8 LoRA: B = [0.7 B_1, -1.3 B_2], A = [A_1; A_2].
    B = torch.cat([0.7 * olds[0][0], -1.3 * olds[1][0]], dim=1)
    A = torch.cat([olds[0][1], olds[1][1]], dim=0)
    assert overlap_with_union((B, A), olds) == pytest.approx(1.0, abs=1e-10)
    assert representability_residual(olds, (B, A)) == pytest.approx(0.0, abs=1e-10)
    # A random adapter in high dimension barely overlaps: E[rho] ~ (8/256)^2.
    Br, Ar = _lora(256, 256, 4, 4, g)
    rho = overlap_with_union((Br, Ar), olds)
    assert 0.0 < rho < 0.01
    assert representability_residual(olds, (Br, Ar)) > 0.99


@pytest.mark.parametrize("shape", SHAPES)
def test_factor_results_equal_dense_computations(shape: tuple[int, int, int, int]) -> None:
    d_out, d_in, r, k = shape
    g = torch.Generator().manual_seed(sum(shape))
    ups = [_lora(d_out, d_in, r, k, g) for _ in range(4)]
    dense = [B @ A for B, A in ups]
    dense_bases = [_dense_bases(M) for M in dense]
    for (B, A), M, (Ud, sd, Vd) in zip(ups, dense, dense_bases):
        f = factor_svd(B, A)
        assert f.rank == Ud.shape[1] == torch.linalg.matrix_rank(M)
        assert torch.allclose(f.s, sd, atol=1e-6)
        assert torch.allclose(_projector(f.U), _projector(Ud), atol=1e-6)
        assert torch.allclose(_projector(f.V), _projector(Vd), atol=1e-6)
        assert effective_rank(B, A) == pytest.approx(_dense_erank(sd), abs=1e-6)
    for i in range(4):
        for j in range(4):
            Ui, Uj = dense_bases[i][0], dense_bases[j][0]
            expected = (Ui.T @ Uj).square().sum().item() / min(Ui.shape[1], Uj.shape[1])
            got = subspace_similarity(column_basis(*ups[i]), column_basis(*ups[j]))
            assert got == pytest.approx(expected, abs=1e-6)
            angles = principal_angles(row_basis(*ups[i]), row_basis(*ups[j]))
            dense_angles = torch.arccos(torch.linalg.svdvals(dense_bases[i][2].T @ dense_bases[j][2]).clamp(-1, 1))
            assert torch.allclose(angles, dense_angles, atol=1e-6)
    # rho(t): project onto the union of the earlier column spaces (of [dW_1 ... dW_{t-1}]) and row spaces.
    for t in range(1, 4):
        P_out = _projector(_dense_bases(torch.cat(dense[:t], dim=1))[0])
        P_in = _projector(_dense_bases(torch.cat(dense[:t], dim=0))[2])
        expected = (P_out @ dense[t] @ P_in).square().sum() / dense[t].square().sum()
        assert overlap_with_union(ups[t], ups[:t]) == pytest.approx(expected.item(), abs=1e-6)
        # representability residual: least squares on the vectorised unit-norm updates.
        D = torch.stack([(M / M.norm()).flatten() for M in dense[:t]], dim=1)
        target = (dense[t] / dense[t].norm()).flatten()
        beta = torch.linalg.lstsq(D, target.unsqueeze(1)).solution
        expected_res = (D @ beta.squeeze(1) - target).square().sum().item()
        assert representability_residual(ups[:t], ups[t]) == pytest.approx(expected_res, abs=1e-6)
        assert residuals_from_gram(frobenius_gram(ups))[t - 1] == pytest.approx(expected_res, abs=1e-6)
    stack = torch.cat(dense, dim=1)
    ratio, stacked, total = stacked_effective_rank_ratio(ups)
    assert stacked == pytest.approx(_dense_erank(_dense_bases(stack)[1]), abs=1e-6)
    assert total == pytest.approx(sum(_dense_erank(b[1]) for b in dense_bases), abs=1e-6)
    assert ratio == pytest.approx(1 - stacked / total, abs=1e-12)
    G = frobenius_gram(ups)
    assert torch.allclose(G, torch.stack([torch.stack([(Mi * Mj).sum() for Mj in dense]) for Mi in dense]), atol=1e-6)
    bases = [row_basis(*u) for u in ups]
    for group in (bases, [bases[0][:, :1], *bases[1:]]):  # equal ranks (batched) and unequal (per pair)
        sim, angle = pairwise_subspaces(group)
        for i in range(4):
            for j in range(4):
                assert sim[i, j].item() == pytest.approx(subspace_similarity(group[i], group[j]), abs=1e-12)
                assert angle[i, j].item() == pytest.approx(principal_angles(group[i], group[j]).mean().item(),
                                                           abs=1e-6)


def test_effective_rank_of_equal_singular_values_is_the_rank() -> None:
    g = torch.Generator().manual_seed(3)
    for k in (1, 3, 5):
        Q1, _ = torch.linalg.qr(torch.randn(40, k, generator=g, dtype=torch.float64))
        Q2, _ = torch.linalg.qr(torch.randn(30, k, generator=g, dtype=torch.float64))
        # B A = 2 Q1 Q2^T, written with a padded rank r = k + 2 (two dead directions).
        B = torch.cat([2 * Q1, torch.zeros(40, 2, dtype=torch.float64)], dim=1)
        A = torch.cat([Q2.T, torch.randn(2, 30, generator=g, dtype=torch.float64)], dim=0)
        assert effective_rank(B, A) == pytest.approx(k, abs=1e-9)
    assert effective_rank(torch.zeros(5, 2), torch.randn(2, 4)) == 0.0


def test_stacked_ratio_is_zero_for_disjoint_and_high_for_shared_columns() -> None:
    E = torch.eye(8, dtype=torch.float64)
    disjoint = [(E[:, 2 * t : 2 * t + 2], E[:2, :]) for t in range(4)]
    assert stacked_effective_rank_ratio(disjoint)[0] == pytest.approx(0.0, abs=1e-12)
    shared = [(E[:, :2], E[2 * t : 2 * t + 2, :]) for t in range(4)]  # one column space, 4 row spaces
    assert stacked_effective_rank_ratio(shared)[0] == pytest.approx(1 - 2 / 8, abs=1e-12)


def test_float32_factors_get_float32_rank_tolerance() -> None:
    g = torch.Generator().manual_seed(4)
    B, A = _lora(32, 24, 6, 2, g)
    # Rounded to float32 the product of rank 2 gains noise directions near 1e-7 relative.
    assert factor_svd(B.float(), A.float()).rank == 2


def test_linear_cka_identity_and_invariances() -> None:
    g = torch.Generator().manual_seed(5)
    X = torch.randn(50, 8, generator=g, dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, 3.7 * X @ Q) == pytest.approx(1.0, abs=1e-10)
    Y = torch.randn(50, 5, generator=g, dtype=torch.float64)
    assert linear_cka(X, Y) == pytest.approx(linear_cka(X @ Q * 0.2, Y), abs=1e-10)
    assert 0.0 < linear_cka(X, Y) < 0.5
    # Dense reference on centred Gram matrices: <K_X, K_Y> / (||K_X|| ||K_Y||).
    H = torch.eye(50, dtype=torch.float64) - 1 / 50
    Kx, Ky = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    assert linear_cka(X, Y) == pytest.approx(((Kx * Ky).sum() / (Kx.norm() * Ky.norm())).item(), abs=1e-10)
    Bi, Ai = _lora(6, 8, 2, 2, g)
    assert adapter_cka((Bi, Ai), (2 * Bi, Ai), X) == pytest.approx(1.0, abs=1e-10)
    assert math.isnan(linear_cka(torch.ones(4, 2), X[:4]))
