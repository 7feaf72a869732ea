"""Greedy decoding with a length limit that stops each row at its end token."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# step(previous tokens (B,) or None on the first call) -> next-token logits (B, vocab).
StepFn = Callable[[torch.Tensor | None], torch.Tensor]


@torch.no_grad()
def greedy_decode(step: StepFn, batch_size: int, *, eos_id: int, pad_id: int, max_new_tokens: int,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Generated ids (B, n), n <= ``max_new_tokens``: the argmax token each step; a row that has
    produced ``eos_id`` gets ``pad_id`` afterwards; the loop ends when every row has ended."""
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    out: list[torch.Tensor] = []
    previous: torch.Tensor | None = None
    for _ in range(max_new_tokens):
        token = step(previous).argmax(-1)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        out.append(token)
        done |= token == eos_id
        if bool(done.all()):
            break
        previous = token
    if not out:
        return torch.zeros(batch_size, 0, dtype=torch.long, device=device)
    return torch.stack(out, dim=1)


def until_eos(ids: Sequence[int], eos_id: int) -> list[int]:
    """The ids before the first end token."""
    ids = [int(i) for i in ids]
    return ids[: ids.index(eos_id)] if eos_id in ids else ids
