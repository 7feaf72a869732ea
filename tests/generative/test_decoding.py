"""Greedy decoding: the end token stops a row, the length limit stops the loop."""

from __future__ import annotations

import torch

from litelora.generative.decoding import greedy_decode, until_eos

EOS, PAD = 1, 0


def scripted(rows: list[list[int]], vocab: int = 8):
    """A step function whose argmax follows ``rows`` (one token list per batch row)."""
    calls = {"n": 0}

    def step(previous: torch.Tensor | None) -> torch.Tensor:
        t = calls["n"]
        calls["n"] += 1
        logits = torch.zeros(len(rows), vocab)
        for i, row in enumerate(rows):
            logits[i, row[min(t, len(row) - 1)]] = 1.0
        return logits

    return step, calls


def test_rows_stop_at_their_end_token_and_are_padded_after() -> None:
    step, calls = scripted([[5, EOS, 6, 6], [4, 4, EOS, 7]])
    out = greedy_decode(step, 2, eos_id=EOS, pad_id=PAD, max_new_tokens=10)
    assert out.tolist() == [[5, EOS, PAD], [4, 4, EOS]]
    assert calls["n"] == 3  # the loop ends as soon as every row has ended


def test_max_new_tokens_stops_a_row_that_never_ends() -> None:
    step, calls = scripted([[3, 3, 3, 3, 3, 3]])
    out = greedy_decode(step, 1, eos_id=EOS, pad_id=PAD, max_new_tokens=4)
    assert out.tolist() == [[3, 3, 3, 3]]
    assert calls["n"] == 4


def test_until_eos() -> None:
    assert until_eos([5, 6, EOS, 7], EOS) == [5, 6]
    assert until_eos([5, 6], EOS) == [5, 6]
    assert until_eos([EOS], EOS) == []
