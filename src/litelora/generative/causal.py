"""CausalLM: a decoder-only model (LLaMA, Qwen, GPT-2 style) reads ``[start] prompt target [end]``.

Training sequences are left-padded, so every row's target ends at the last column and the LM
head scores only the batch's last few columns; only target tokens (and the end token) carry
loss. Generation runs on the prompts alone, left-padded too. Positions are counted from each
row's first real token, so padding never shifts them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from litelora.generative.codec import TextCodec
from litelora.generative.decoding import greedy_decode
from litelora.generative.lm import (
    IGNORE, GenerativeModel, cache_kwargs, decisive_lengths, pad_rows, returned_cache, supported_kwargs,
)


class CausalLM(GenerativeModel):
    kind = "causal-lm"
    peft_task_type = "CAUSAL_LM"
    target_separator = " "

    def __init__(self, lm: nn.Module, codec: TextCodec, **options: Any) -> None:
        super().__init__(lm, codec, **options)
        self.reserved_prompt_tokens = 0 if codec.bos_id is None else 1

    def _start(self) -> list[int]:
        return [] if self.codec.bos_id is None else [self.codec.bos_id]

    def make_batch(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, torch.Tensor]:
        pad = self.codec.pad_id
        heads = [self._start() + p for p in prompts]
        sequences = [h + t for h, t in zip(heads, targets)]
        labels = [[IGNORE] * len(h) + t for h, t in zip(heads, targets)]
        # Left-padded like the prompts: the targets of the whole batch lie in its last
        # max(len(target)) columns, the only ones token_logits asks the LM head for.
        return {
            "input_ids": pad_rows(sequences, pad, left=True),
            "attention_mask": pad_rows([[1] * len(s) for s in sequences], 0, left=True),
            "labels": pad_rows(labels, IGNORE, left=True),
            "prompt_ids": pad_rows(heads, pad, left=True),
            "prompt_mask": pad_rows([[1] * len(h) for h in heads], 0, left=True),
        }

    def batch_prompts(self, batch: dict[str, torch.Tensor]) -> list[list[int]]:
        # ``prompt_ids`` holds the start token and the prompt, left-padded; make_batch adds the start.
        skip = len(self._start())
        return [row[mask.bool()].tolist()[skip:] for row, mask in zip(batch["prompt_ids"], batch["prompt_mask"])]

    def token_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, n, V) of the last ``n`` positions that predict a target token, where ``n`` is
        the longest target of the batch, and the tokens they predict (B, n). The LM head's
        (d x vocab) matmul, a fifth of a small LM's forward over a whole row, runs on these alone."""
        mask, labels = batch["attention_mask"], batch["labels"]
        width = labels.shape[1]
        # Rows end at the last column, so the first column that holds a target in any row starts them.
        n = width - int((labels != IGNORE).any(0).int().argmax()) if width else 0
        keep = min(width, n + 1)  # position i predicts token i + 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with self.autocast_context():
            logits = self.lm(input_ids=batch["input_ids"], attention_mask=mask, position_ids=positions,
                             use_cache=False, **supported_kwargs(self.lm, logits_to_keep=keep)).logits
        return logits[:, -keep:-1], labels[:, width - keep + 1 :]

    @torch.no_grad()
    def option_log_likelihoods(self, batch: dict[str, torch.Tensor], task: Any,
                               decisive: bool = False) -> list[list[list[float]]]:
        """As the base class, but the prompt runs once per row: its KV cache is repeated for the K
        options, which then run as K short continuations. Costs one prompt pass instead of K.
        With ``decisive`` each option stops at its ``decisive_lengths``: where the options' first
        tokens all differ, the prompt pass alone decides and no continuation runs."""
        options = [self.target_ids(c)[0] for c in task.classes]
        if decisive:
            options = [o[:n] for o, n in zip(options, decisive_lengths(options))]
        k = len(options)
        prompt, mask = batch["prompt_ids"].to(self.device), batch["prompt_mask"].to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with self.autocast_context():
            out = self.lm(input_ids=prompt, attention_mask=mask, position_ids=positions, use_cache=True,
                          **cache_kwargs(self.lm, None, logits_to_keep=1))
        b = prompt.shape[0]
        # (B, K): each option's first token, scored by the prompt's last position.
        first_ids = torch.tensor([o[0] for o in options], device=self.device)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)[:, first_ids].tolist()
        cache = returned_cache(out)
        cache.batch_repeat_interleave(k)
        # Option j's tokens 0..n-2 are fed; their logits score its tokens 1..n-1.
        fed = pad_rows([o[:-1] for o in options], self.codec.pad_id).to(self.device)  # (K, Lo)
        fed_mask = pad_rows([[1] * (len(o) - 1) for o in options], 0).to(self.device)
        rest: list[list[list[float]]] = [[[] for _ in options] for _ in range(b)]
        if fed.shape[1]:
            last = positions[:, -1:].repeat_interleave(k, dim=0)
            with self.autocast_context():
                cont = self.lm(input_ids=fed.repeat(b, 1),
                               attention_mask=torch.cat([mask.repeat_interleave(k, dim=0), fed_mask.repeat(b, 1)], dim=1),
                               position_ids=last + 1 + torch.arange(fed.shape[1], device=self.device),
                               use_cache=True, **cache_kwargs(self.lm, cache))
            nxt = pad_rows([o[1:] for o in options], 0).to(self.device)  # (K, Lo): the tokens scored
            logp = torch.log_softmax(cont.logits.float(), dim=-1).view(b, k, fed.shape[1], -1)
            picked = logp.gather(-1, nxt.expand(b, k, -1).unsqueeze(-1)).squeeze(-1).tolist()  # (B, K, Lo)
            rest = [[row[j][: len(o) - 1] for j, o in enumerate(options)] for row in picked]
        return [[[first[i][j], *rest[i][j]] for j in range(k)] for i in range(b)]

    @torch.no_grad()
    def generate_ids(self, batch: dict[str, torch.Tensor], max_new_tokens: int) -> torch.Tensor:
        mask = batch["prompt_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        state: dict[str, Any] = {}

        def step(previous: torch.Tensor | None) -> torch.Tensor:
            nonlocal mask, positions
            if previous is None:
                inputs = batch["prompt_ids"]
            else:
                inputs = previous[:, None]
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
                positions = positions[:, -1:] + 1
            with self.autocast_context():
                out = self.lm(input_ids=inputs, attention_mask=mask, position_ids=positions, use_cache=True,
                              **cache_kwargs(self.lm, state.get("cache"), logits_to_keep=1))
            state["cache"] = returned_cache(out)
            return out.logits[:, -1].float()

        return greedy_decode(step, mask.shape[0], eos_id=self.codec.eos_id, pad_id=self.codec.pad_id,
                             max_new_tokens=max_new_tokens, device=mask.device)
