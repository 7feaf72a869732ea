"""InfLoRA's adapter rank follows the directions its design can use: a task whose inputs,
off the memory, span fewer than r directions gets an adapter of that rank, and one whose inputs
lie inside the memory gets none (a row of A along a direction without energy maps every input
to 0, so its column of B could never train, yet it would count as parameters and export)."""

from __future__ import annotations

import math

import torch
from torch import nn

from litelora.methods.inflora import InfLoRA
from method_helpers import D_IN, make_bank, make_ctx


def _inputs(basis: torch.Tensor, seed: int) -> list[dict[str, torch.Tensor]]:
    """Three batches of 8 inputs inside span(basis) (k, D_IN); with coordinate axes as the basis
    the other coordinates are exactly 0 (as behind a dead ReLU unit), so no rounding puts energy there."""
    g = torch.Generator().manual_seed(seed)
    return [{"x": torch.randn(8, basis.shape[0], generator=g) @ basis} for _ in range(3)]


def test_inflora_sizes_each_adapter_to_the_directions_left_off_its_memory() -> None:
    basis = torch.eye(D_IN)[[1, 4, 7]]  # (3, D_IN)
    method = InfLoRA(eps_b=1.0)  # the memory keeps all of each task's energy
    bank = make_bank(nn.Sequential(nn.Linear(D_IN, 6)), targets=["0"], r=4)

    ctx = make_ctx(bank, 0, data=_inputs(basis[:2], seed=1))
    params = method.before_task(ctx)
    first = bank.candidates(0)["0"]
    assert first.r == 2 and first.lora_A.shape == (2, D_IN) and first.lora_B.shape == (6, 2)
    assert [p.shape for p in params] == [first.lora_B.shape]
    # The two rows are orthonormal over sqrt(3) and span exactly the task's inputs.
    torch.testing.assert_close(first.lora_A @ first.lora_A.T, torch.eye(2) / 3, atol=1e-5, rtol=0)
    torch.testing.assert_close(first.lora_A @ basis[2], torch.zeros(2), atol=1e-5, rtol=0)
    assert math.isclose(first.scale, 1.0)
    method.after_task(ctx)

    # One new direction beside the two the memory holds: rank 1, orthogonal to the memory.
    ctx = make_ctx(bank, 1, data=_inputs(basis, seed=2))
    method.before_task(ctx)
    second = bank.candidates(1)["0"]
    assert second.r == 1
    torch.testing.assert_close(second.lora_A.abs().squeeze(0), basis[2] / math.sqrt(3), atol=1e-5, rtol=0)
    method.after_task(ctx)

    # A task inside the memory: nothing to design, so no candidate, and the bank counts none.
    ctx = make_ctx(bank, 2, data=_inputs(basis, seed=3))
    assert method.before_task(ctx) == []
    assert bank.candidates(2) == {} and bank.num_active(2) == 0
    assert sum(p.numel() for p in bank.trainable_parameters()) == 0
    method.after_task(ctx)  # the memory still updates where the candidate went
    assert method.memory["0"].shape[1] == 3


def test_inflora_keeps_full_rank_where_the_inputs_have_energy_in_r_directions() -> None:
    method, bank = InfLoRA(), make_bank(nn.Sequential(nn.Linear(D_IN, 6)), targets=["0"], r=4)
    basis = torch.eye(D_IN)[:5]
    method.before_task(make_ctx(bank, 0, data=_inputs(basis, seed=4)))
    assert bank.candidates(0)["0"].r == 4
