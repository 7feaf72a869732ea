"""The spectrum of a task's consistent novel gradient: how many directions a module needs.

From a :class:`~litelora.gates.probe.GradientProbe` run with ``spectrum=True`` a target holds,
over ``n`` batches, ``S = sum_b N(G_b)``, ``Q = sum_b N(G_b)^T N(G_b)`` and
``T = sum_b ||G_b||_F^2``. With ``G_b = mu + noise_b``,

    C = (S^T S - Q) / (n (n - 1))

is an unbiased estimate of ``N(mu)^T N(mu)`` (the per-batch terms, which carry the noise, are
removed), so its eigenvalues estimate the squared singular values of the consistent novel
gradient and its eigenvectors that gradient's input-side directions. A direction's *demand* is
its eigenvalue over the mean per-batch energy ``T / n``: the share of what one batch asks of the
module that points, every batch alike, along that direction and outside the old span. The
demands of a module sum to its ``need`` (before clamping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Kaiming-uniform (a = sqrt 5) draws A's entries from U(-1/sqrt(d_in), 1/sqrt(d_in)): a row's
# expected norm is 1/sqrt(3) whatever d_in is; gradient-initialised rows get the same norm.
INIT_ROW_NORM = 1.0 / math.sqrt(3.0)


@dataclass(frozen=True)
class Spectrum:
    """A module's novel demand, split into directions.

    demands: (m,) float64, non-increasing; may be negative where noise dominates.
    directions: (d_in, m) orthonormal columns, ``directions[:, i]`` the input-side direction of
        ``demands[i]``.
    """

    demands: torch.Tensor
    directions: torch.Tensor


def novel_spectrum(S: torch.Tensor, Q: torch.Tensor, T: float, n: int) -> Spectrum:
    """The demands and directions of ``C = (S^T S - Q) / (n (n - 1))`` (module doc); none for
    ``n < 2`` or ``T <= 0`` (no estimate)."""
    d_in = S.shape[1]
    if n < 2 or T <= 0.0:
        return Spectrum(torch.zeros(0, dtype=torch.float64), torch.zeros(d_in, 0, dtype=torch.float64))
    S64 = S.double()
    C = (S64.T @ S64 - Q.double()) / (n * (n - 1))
    values, vectors = torch.linalg.eigh((C + C.T) / 2)
    return Spectrum((values.flip(0) * (n / T)).cpu(), vectors.flip(1).cpu())


def allocate_ranks(spectra: dict[str, Spectrum], max_ranks: dict[str, int], costs: dict[str, int],
                   threshold: float, param_budget: int | None = None) -> dict[str, int]:
    """Rank per target: the number of its directions recruited.

    A direction is eligible where its demand exceeds ``threshold`` (and is among the target's
    first ``max_ranks[target]``). Eligible directions are taken in order of demand, largest
    first, ties to the target earlier in ``spectra``'s order and then to the earlier direction;
    with ``param_budget`` (parameters; a direction of target t costs ``costs[t]`` = its
    ``d_in + d_out``) the filling stops at the first direction that would exceed it, so a larger
    budget always keeps what a smaller one took. Each target's directions are a prefix of its
    spectrum, so its rank is their count.
    """
    order = {t: i for i, t in enumerate(spectra)}
    eligible = [(float(d), order[t], i, t) for t, s in spectra.items()
                for i, d in enumerate(s.demands[: max_ranks[t]].tolist()) if d > threshold]
    eligible.sort(key=lambda e: (-e[0], e[1], e[2]))
    ranks = dict.fromkeys(spectra, 0)
    spent = 0
    for _, _, _, target in eligible:
        if param_budget is not None and spent + costs[target] > param_budget:
            break
        ranks[target] += 1
        spent += costs[target]
    return ranks


@torch.no_grad()
def init_from_directions(lora_A: torch.Tensor, lora_B: torch.Tensor, directions: torch.Tensor) -> int:
    """Gradient initialisation in place: A's first rows become the leading ``directions``
    (columns, orthonormal) at Kaiming's expected row norm, B = 0 (the model is unchanged, so a
    merge or export stays exact). Rows beyond the directions available keep their values.
    Returns how many rows were set."""
    k = min(lora_A.shape[0], directions.shape[1])
    if k:
        lora_A[:k] = (directions[:, :k].T * INIT_ROW_NORM).to(lora_A.dtype).to(lora_A.device)
    lora_B.zero_()
    return k
