"""The need signal of the LiteLoRA gate, on gradients built so the answer is known."""

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig, span_bases
from litelora.adapters.subspace import outside_span
from litelora.gates.probe import GradientProbe, need

D = 16


def _bank_with_old_adapter() -> tuple[AdapterBank, torch.Tensor, torch.Tensor]:
    """A linear layer whose task-0 adapter spans e_0, e_1 on both sides; task 1's candidate is open."""
    model = nn.Sequential(nn.Linear(D, D, bias=False))
    bank = AdapterBank(model, AdapterConfig(target_modules=["0"], r=2))
    bank.add_task(0)
    old = bank.candidates(0)["0"]
    with torch.no_grad():
        old.lora_A.copy_(torch.eye(D)[:2])
        old.lora_B.copy_(torch.eye(D)[:, :2])
    bank.add_task(1)
    U, V = span_bases([old.lora_A], [old.lora_B])
    return bank, U, V


def _probe_task(bank: AdapterBank, U, V, M: torch.Tensor, batches: int = 8, noise: float = 0.0) -> float:
    """Loss -<M x, y> (its weight gradient is -M sum x x^T, about -n M) plus optional label noise."""
    probe = GradientProbe(bank, ["0"], {"0": (U, V)})
    probe.attach()
    g = torch.Generator().manual_seed(0)
    for _ in range(batches):
        x = torch.randn(64, D, generator=g)
        y = bank.model(x)
        target = x @ M.T + noise * torch.randn(64, D, generator=g)
        (-(y * target).sum()).backward()
    probe.detach()
    return probe.need("0")


def test_demand_inside_the_old_span_reads_as_redundant() -> None:
    bank, U, V = _bank_with_old_adapter()
    M = torch.zeros(D, D)
    M[:2, :2] = torch.tensor([[1.0, -2.0], [0.5, 1.0]])  # an update U C V^T could give
    assert _probe_task(bank, U, V, M) < 0.05


def test_demand_orthogonal_to_the_old_span_reads_as_novel() -> None:
    bank, U, V = _bank_with_old_adapter()
    M = torch.zeros(D, D)
    M[5:8, 9:12] = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
    assert _probe_task(bank, U, V, M) > 0.8


def test_minibatch_noise_alone_reads_as_no_need() -> None:
    """A target unrelated to the input: every batch asks for something else, the sum cancels."""
    bank, U, V = _bank_with_old_adapter()
    assert _probe_task(bank, U, V, torch.zeros(D, D), batches=16, noise=1.0) < 0.1


def test_need_is_scale_free_and_counts_only_the_novel_part() -> None:
    G = torch.randn(6, 5)
    assert need(G, float((G**2).sum()), float((G**2).sum()), 1) == 0.0  # one batch: no estimate
    same = [G.clone() for _ in range(4)]
    S, T = sum(same), sum(float((g**2).sum()) for g in same)
    assert need(S, T, T, 4) == pytest.approx(1.0)  # identical batches, no span: all consistent, all novel
    assert need(7.0 * S, 49.0 * T, 49.0 * T, 4) == pytest.approx(1.0)


def test_probe_sums_the_gradient_outside_the_span_exactly() -> None:
    bank, U, V = _bank_with_old_adapter()
    probe = GradientProbe(bank, ["0"], {"0": (U, V)})
    probe.attach()
    x = torch.randn(5, 3, D)  # extra leading dims are tokens
    y = bank.model(x)
    w = torch.randn(5, 3, D)
    (y * w).sum().backward()
    G = w.reshape(-1, D).T @ x.reshape(-1, D)
    torch.testing.assert_close(probe.sums["0"], outside_span(G, U, V), atol=1e-4, rtol=1e-4)
    T, T_N, n = probe.stats["0"].tolist()
    assert n == 1 and T == pytest.approx(float((G**2).sum()), rel=1e-5)


def test_probe_leaves_the_forward_unchanged_and_stops_when_detached() -> None:
    bank, U, V = _bank_with_old_adapter()
    x = torch.randn(4, D)
    before = bank.model(x)
    probe = GradientProbe(bank, ["0"], {"0": (U, V)})
    probe.attach()
    probe.attach()  # idempotent: one hook
    torch.testing.assert_close(bank.model(x), before, rtol=0, atol=0)
    bank.model(x).sum().backward()
    assert probe.stats["0"][2] == 1
    probe.detach()
    bank.model(x).sum().backward()
    assert probe.stats["0"][2] == 1
