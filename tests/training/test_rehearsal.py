"""A rehearsal leaves no trace (parameters, buffers, random state), or, with ``keep``, keeps what
it trained and still restores the random state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from litelora.training.rehearsal import rehearse


def _rehearse(keep: bool) -> tuple[nn.Module, dict[str, torch.Tensor], torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    data = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(3)]
    losses = rehearse(model, lambda x, y: (model(x) - y).pow(2).mean(), lambda: iter(data), 5, {}, 0.1, keep=keep)
    assert len(losses) == 5
    return model, before, torch.rand(3)


def test_a_rehearsal_is_undone_and_a_kept_one_keeps_what_trained() -> None:
    torch.manual_seed(0)
    nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
    [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(3)]
    expected_draw = torch.rand(3)  # what the generator gives next without any rehearsal

    undone, before, draw = _rehearse(keep=False)
    assert all(torch.equal(v, before[k]) for k, v in undone.state_dict().items())
    assert torch.equal(draw, expected_draw)

    kept, before, draw = _rehearse(keep=True)
    assert not torch.equal(kept[0].weight, before["0.weight"]) and not torch.equal(kept[1].running_mean,
                                                                                   before["1.running_mean"])
    assert all(p.grad is None for p in kept.parameters())
    assert torch.equal(draw, expected_draw)  # dropout's draws did not move the run's generator


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_frozen_model_on_a_gpu_leaves_the_gpu_generator_where_it_was() -> None:
    # Nothing trains (a gate holds every adapter out of a headless model), yet dropout draws on the GPU.
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).cuda().requires_grad_(False)
    data = [(torch.randn(8, 4, device="cuda"), torch.randn(8, 4, device="cuda"))]
    torch.cuda.manual_seed(0)
    expected = torch.rand(3, device="cuda")
    torch.cuda.manual_seed(0)
    rehearse(model, lambda x, y: (model(x) - y).pow(2).mean(), lambda: iter(data), 3, {}, 0.1)
    assert torch.equal(torch.rand(3, device="cuda"), expected)
