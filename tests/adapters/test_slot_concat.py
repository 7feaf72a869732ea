"""AdapterSlot runs its frozen adapters as one concatenated LoRA and its trainable ones as another."""

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from litelora.adapters.layer import AdapterSlot, LoraAdapter

D_IN, D_OUT, R, TOKENS = 12, 10, 3, 7


def _slot(n_frozen: int, trainable: bool = True) -> AdapterSlot:
    torch.manual_seed(0)
    slot = AdapterSlot(0, D_OUT, D_IN, dropout=0.0)
    for t in range(n_frozen + int(trainable)):
        a = LoraAdapter(D_IN, D_OUT, R, scale=0.5 + t, task_id=t, init="gaussian", dtype=torch.float64)
        a.magnitude.data.fill_(1.0 + 0.1 * t)
        if t < n_frozen:
            a.requires_grad_(False)
        slot.adapters[f"task_{t:03d}"] = a
    return slot


def _per_adapter_sum(slot: AdapterSlot, x: torch.Tensor) -> torch.Tensor:
    """The reference: each adapter's own ``scale * magnitude * B A x``, summed."""
    out = torch.zeros(*x.shape[:-1], D_OUT, dtype=x.dtype)
    for a in slot.adapters.values():
        out = out + F.linear(F.linear(x, a.lora_A), a.lora_B) * (a.scale * a.magnitude)  # type: ignore[operator]
    return out


def test_concatenated_forward_equals_per_adapter_sum() -> None:
    slot = _slot(n_frozen=5)
    x = torch.randn(TOKENS, D_IN, dtype=torch.float64)
    torch.testing.assert_close(slot(x), _per_adapter_sum(slot, x), atol=1e-6, rtol=0)
    with torch.no_grad():  # one concatenated pair for all six
        torch.testing.assert_close(slot(x), _per_adapter_sum(slot, x), atol=1e-6, rtol=0)


def test_gradients_match_the_per_adapter_reference() -> None:
    slot = _slot(n_frozen=4)
    x = torch.randn(TOKENS, D_IN, dtype=torch.float64, requires_grad=True)
    g = torch.randn(TOKENS, D_OUT, dtype=torch.float64)
    (slot(x) * g).sum().backward()
    got_x = x.grad.clone()  # type: ignore[union-attr]
    cand = slot.adapters["task_004"]
    got_A, got_B = cand.lora_A.grad.clone(), cand.lora_B.grad.clone()  # type: ignore[union-attr]
    x.grad, cand.lora_A.grad, cand.lora_B.grad = None, None, None
    (_per_adapter_sum(slot, x) * g).sum().backward()
    torch.testing.assert_close(got_x, x.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(got_A, cand.lora_A.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(got_B, cand.lora_B.grad, atol=1e-6, rtol=0)
    assert all(p.grad is None for n, a in slot.adapters.items() if n != "task_004" for p in a.parameters())


def test_backward_skips_the_frozen_adapters_weight_gradients() -> None:
    """FLOPs: frozen rank sum Rf pays forward + input gradient (2 pairs); the candidate's
    rank r also pays its weight gradients (3 pairs). One pair costs 2 N rank (d_in + d_out)."""
    n_frozen = 5
    slot = _slot(n_frozen=n_frozen)
    x = torch.randn(TOKENS, D_IN, dtype=torch.float64, requires_grad=True)
    pair = 2 * TOKENS * (D_IN + D_OUT)
    with FlopCounterMode(display=False) as counter:
        slot(x).sum().backward()
    assert counter.get_total_flops() == pair * (2 * n_frozen * R + 3 * R)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        slot(x)
    assert counter.get_total_flops() == pair * (n_frozen + 1) * R
