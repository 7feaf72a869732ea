"""The novel-gradient measures with known answers: need's intermediate values, the span projection
against a dense oracle, the spectrum's rank, the water-filled ranks and the budget tie rule."""

from __future__ import annotations

import math

import pytest
import torch

from litelora.adapters.subspace import outside_directions, outside_span
from litelora.gates import LiteLoRAV3Params
from litelora.gates.base import top_fraction
from litelora.gates.probe import need
from litelora.gates.spectrum import INIT_ROW_NORM, Spectrum, allocate_ranks, init_from_directions, novel_spectrum

D_OUT, D_IN = 6, 10


def _stats(batches: list[torch.Tensor], U: torch.Tensor | None = None, V: torch.Tensor | None = None):
    """What a GradientProbe accumulates over ``batches`` of weight gradients: S, Q, T, T_N, n."""
    novel = [outside_span(G, U, V) for G in batches]
    S = sum(novel)
    Q = sum(N.T.double() @ N.double() for N in novel)
    T = sum(float((G**2).sum()) for G in batches)
    T_N = sum(float((N**2).sum()) for N in novel)
    return S, Q, T, T_N, len(batches)


def _half_novel() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """G with exactly half its energy inside the span of U = e_0, V = e_0 (so U U^T G V V^T is the (0, 0) entry)."""
    U, V = torch.eye(D_OUT)[:, :1], torch.eye(D_IN)[:, :1]
    G = torch.zeros(D_OUT, D_IN)
    G[0, 0], G[3, 5] = 1.0, 1.0
    return G, U, V


def test_outside_span_matches_dense_projectors() -> None:
    g = torch.Generator().manual_seed(0)
    G = torch.randn(D_OUT, D_IN, generator=g)
    U = torch.linalg.qr(torch.randn(D_OUT, 2, generator=g)).Q
    V = torch.linalg.qr(torch.randn(D_IN, 3, generator=g)).Q
    P_out, P_in = U @ U.T, V @ V.T
    torch.testing.assert_close(outside_span(G, U, V), G - P_out @ G @ P_in)
    assert outside_span(G, None, None) is G


def test_need_reads_a_half_novel_demand_as_one_half() -> None:
    G, U, V = _half_novel()
    S, _, T, T_N, n = _stats([G.clone() for _ in range(4)], U, V)
    assert need(S, T, T_N, n) == pytest.approx(0.5)


def test_need_reads_two_opposite_batches_as_no_demand() -> None:
    G, U, V = _half_novel()
    S, _, T, T_N, n = _stats([G, -G], U, V)
    assert need(S, T, T_N, n) == 0.0  # clamped: the raw estimate is negative, not its absolute value


def test_need_of_noise_around_a_consistent_demand_is_its_share() -> None:
    """G_b = mu + noise_b with the noise's energy equal to mu's: need estimates 1/2 without any span."""
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(D_OUT, D_IN, generator=g)
    batches = [mu + torch.randn(D_OUT, D_IN, generator=g) * mu.norm() / math.sqrt(D_OUT * D_IN) for _ in range(400)]
    S, _, T, T_N, n = _stats(batches)
    assert need(S, T, T_N, n) == pytest.approx(0.5, abs=0.03)


def test_spectrum_of_a_rank_two_novel_demand_has_two_directions_and_sums_to_need() -> None:
    g = torch.Generator().manual_seed(2)
    U, V = torch.eye(D_OUT)[:, :2], torch.eye(D_IN)[:, :2]  # the old span: first two coordinates
    left, right = torch.zeros(D_OUT, 2), torch.zeros(D_IN, 2)
    left[3, 0], left[4, 1], right[6, 0], right[8, 1] = 1.0, 1.0, 1.0, 1.0
    mu = left @ torch.diag(torch.tensor([2.0, 1.5])) @ right.T  # rank 2, outside the old span
    batches = [mu + 0.3 * torch.randn(D_OUT, D_IN, generator=g) for _ in range(64)]
    S, Q, T, T_N, n = _stats(batches, U, V)
    spectrum = novel_spectrum(S, Q, T, n)
    # rank 2 at the default threshold docs/gate.md states
    assert allocate_ranks({"m": spectrum}, {"m": D_IN}, {"m": 1}, LiteLoRAV3Params().novelty) == {"m": 2}
    assert float(spectrum.demands.sum()) == pytest.approx((float((S.double() ** 2).sum()) - T_N) / ((n - 1) * T))
    top = spectrum.directions[:, :2]
    assert torch.linalg.matrix_norm(top.T @ right.double(), ord=2) > 0.99  # the demand's own input directions
    d1, d2 = spectrum.demands[:2].tolist()
    assert d1 / d2 == pytest.approx(4.0 / 2.25, rel=0.15)  # squared singular values 4 and 2.25


def test_a_demand_inside_the_old_span_has_no_direction() -> None:
    U, V = torch.eye(D_OUT)[:, :2], torch.eye(D_IN)[:, :2]
    mu = torch.zeros(D_OUT, D_IN)
    mu[:2, :2] = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    g = torch.Generator().manual_seed(3)
    batches = [mu + 0.1 * torch.randn(D_OUT, D_IN, generator=g) for _ in range(32)]
    spectrum = novel_spectrum(*_without_tn(_stats(batches, U, V)))
    assert allocate_ranks({"m": spectrum}, {"m": D_IN}, {"m": 1}, 0.01) == {"m": 0}


def _without_tn(stats):
    S, Q, T, _, n = stats
    return S, Q, T, n


def _spectra(rows: dict[str, list[float]]) -> dict[str, Spectrum]:
    return {t: Spectrum(torch.tensor(d, dtype=torch.float64), torch.eye(len(d), dtype=torch.float64))
            for t, d in rows.items()}


def test_allocate_ranks_takes_the_largest_demands_above_the_threshold_up_to_each_rank() -> None:
    spectra = _spectra({"a": [0.5, 0.3, 0.2, 0.01], "b": [0.4, 0.04, 0.0, 0.0], "c": [0.02, 0.01, 0.0, 0.0]})
    ranks = allocate_ranks(spectra, {"a": 2, "b": 4, "c": 4}, {"a": 10, "b": 10, "c": 10}, threshold=0.05)
    assert ranks == {"a": 2, "b": 1, "c": 0}


def test_allocate_ranks_never_exceeds_the_budget_and_grows_with_it() -> None:
    g = torch.Generator().manual_seed(4)
    rows = {f"t{i}": sorted(torch.rand(6, generator=g).tolist(), reverse=True) for i in range(5)}
    spectra, costs = _spectra(rows), {f"t{i}": 7 + 3 * i for i in range(5)}
    max_ranks = dict.fromkeys(rows, 6)
    previous = None
    for budget in range(0, 600, 3):
        ranks = allocate_ranks(spectra, max_ranks, costs, threshold=0.1, param_budget=budget)
        spent = sum(ranks[t] * costs[t] for t in ranks)
        assert spent <= budget
        if previous is not None:
            assert all(ranks[t] >= previous[t] for t in ranks)  # a larger budget keeps what a smaller took
        previous = ranks
    assert previous == allocate_ranks(spectra, max_ranks, costs, threshold=0.1)  # the cap no longer binds


def test_a_binding_budget_buys_the_largest_demands_first() -> None:
    """Two directions' worth of budget go to a's 0.9 and 0.8, not b's 0.3 (listed first) nor c's."""
    spectra = _spectra({"b": [0.3, 0.0], "a": [0.9, 0.8], "c": [0.2, 0.15]})
    costs = {"b": 10, "a": 10, "c": 10}
    assert allocate_ranks(spectra, dict.fromkeys(costs, 2), costs, 0.1, param_budget=20) == {"b": 0, "a": 2, "c": 0}
    assert allocate_ranks(spectra, dict.fromkeys(costs, 2), costs, 0.1, param_budget=39) == {"b": 1, "a": 2, "c": 0}


def test_allocate_ranks_breaks_ties_towards_the_earlier_target() -> None:
    spectra = _spectra({"first": [0.3, 0.0], "second": [0.3, 0.0]})
    ranks = allocate_ranks(spectra, {"first": 2, "second": 2}, {"first": 5, "second": 5}, 0.05, param_budget=5)
    assert ranks == {"first": 1, "second": 0}


def test_top_fraction_breaks_ties_towards_the_earlier_group() -> None:
    assert top_fraction([0.0, 0.0, 0.0, 0.7], 0.5) == [True, False, False, True]
    assert top_fraction([0.2, 0.9, 0.2, 0.2], 0.5) == [True, True, False, False]


def test_gradient_init_sets_rows_to_the_directions_at_kaiming_norm_and_b_to_zero() -> None:
    g = torch.Generator().manual_seed(5)
    directions = torch.linalg.qr(torch.randn(D_IN, 3, generator=g, dtype=torch.float64)).Q
    A, B = torch.randn(4, D_IN, generator=g), torch.randn(D_OUT, 4, generator=g)
    last_row = A[3].clone()
    assert init_from_directions(A, B, directions) == 3
    torch.testing.assert_close(A[:3].double(), directions.T * INIT_ROW_NORM)
    assert torch.equal(A[3], last_row) and not B.any()
    assert INIT_ROW_NORM == pytest.approx(1 / math.sqrt(3))
    kaiming = torch.empty(4096, 384)
    torch.nn.init.kaiming_uniform_(kaiming, a=math.sqrt(5))
    assert kaiming.norm(dim=1).mean().item() == pytest.approx(INIT_ROW_NORM, rel=0.02)


def test_what_rescaling_old_adapters_cannot_give_is_fitted_out_exactly() -> None:
    g = torch.Generator().manual_seed(6)
    B1, A1 = torch.randn(D_OUT, 2, generator=g), torch.randn(2, D_IN, generator=g)
    B2, A2 = torch.randn(D_OUT, 2, generator=g), torch.randn(2, D_IN, generator=g)
    directions = torch.stack([B1 @ A1, B2 @ A2])
    rest = torch.randn(D_OUT, D_IN, generator=g)
    flat = directions.reshape(2, -1)
    coef = torch.linalg.solve(flat @ flat.T, flat @ rest.reshape(-1))
    rest = rest.reshape(-1) - coef @ flat  # orthogonal to both directions
    G = 2.0 * directions[0] - 0.5 * directions[1] + rest.view(D_OUT, D_IN)
    torch.testing.assert_close(outside_directions(G, directions), rest.view(D_OUT, D_IN), atol=1e-4, rtol=1e-4)
    assert outside_directions(G, torch.zeros(0, D_OUT, D_IN)) is G
