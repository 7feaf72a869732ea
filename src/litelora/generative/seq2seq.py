"""Seq2SeqLM: an encoder-decoder model (T5 family) reads the prompt and writes the target.

The encoder input is the prompt and the end token; the decoder is teacher-forced on the target
shifted right (the model's own start token first). Padding is masked in the encoder and carries
no loss in the decoder.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from litelora.generative.codec import TextCodec
from litelora.generative.decoding import greedy_decode
from litelora.generative.lm import IGNORE, GenerativeModel, cache_kwargs, pad_rows, returned_cache


class Seq2SeqLM(GenerativeModel):
    kind = "seq2seq"
    peft_task_type = "SEQ_2_SEQ_LM"

    def __init__(self, lm: nn.Module, codec: TextCodec, **options: Any) -> None:
        super().__init__(lm, codec, **options)
        self.reserved_prompt_tokens = 1  # the end token closes the source
        start = getattr(lm.config, "decoder_start_token_id", None)
        self.decoder_start = int(start) if start is not None else codec.pad_id

    def make_batch(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, torch.Tensor]:
        sources = [p + [self.codec.eos_id] for p in prompts]
        return {
            "input_ids": pad_rows(sources, self.codec.pad_id),
            "attention_mask": pad_rows([[1] * len(s) for s in sources], 0),
            "labels": pad_rows(targets, IGNORE),
        }

    def batch_prompts(self, batch: dict[str, torch.Tensor]) -> list[list[int]]:
        # ``input_ids`` holds each prompt and the end token make_batch appended, right-padded.
        return [row[mask.bool()].tolist()[:-1] for row, mask in zip(batch["input_ids"], batch["attention_mask"])]

    def _decoder_inputs(self, labels: torch.Tensor) -> torch.Tensor:
        shifted = labels.new_full(labels.shape, self.codec.pad_id)
        shifted[:, 0] = self.decoder_start
        shifted[:, 1:] = labels[:, :-1].masked_fill(labels[:, :-1] == IGNORE, self.codec.pad_id)
        return shifted

    def token_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast_context():
            logits = self.lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             decoder_input_ids=self._decoder_inputs(batch["labels"]), use_cache=False).logits
        return logits, batch["labels"]

    @torch.no_grad()
    def generate_ids(self, batch: dict[str, torch.Tensor], max_new_tokens: int) -> torch.Tensor:
        mask = batch["attention_mask"]
        with self.autocast_context():
            encoded = self.lm.get_encoder()(input_ids=batch["input_ids"], attention_mask=mask)
        state: dict[str, Any] = {}

        def step(previous: torch.Tensor | None) -> torch.Tensor:
            if previous is None:
                previous = mask.new_full((mask.shape[0],), self.decoder_start)
            with self.autocast_context():
                out = self.lm(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=previous[:, None],
                              use_cache=True, **cache_kwargs(self.lm, state.get("cache")))
            state["cache"] = returned_cache(out)
            return out.logits[:, -1].float()

        return greedy_decode(step, mask.shape[0], eos_id=self.codec.eos_id, pad_id=self.codec.pad_id,
                             max_new_tokens=max_new_tokens, device=mask.device)
