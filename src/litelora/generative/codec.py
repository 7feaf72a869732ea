"""Text <-> token ids for generative models: a ``transformers`` tokenizer, or a byte-level one
that lets test models read and write text offline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class TextCodec(Protocol):
    """What a generative model needs of a tokenizer. ``encode`` adds no special tokens;
    ``decode`` drops them; ``bos_id`` is ``None`` where the model takes no start token."""

    pad_id: int
    eos_id: int
    bos_id: int | None
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


class ByteCodec:
    """UTF-8 bytes as tokens 3..258 after pad (0), end (1) and start (2): 259 ids, no files."""

    pad_id, eos_id, bos_id = 0, 1, 2
    vocab_size = 259
    _OFFSET = 3

    def encode(self, text: str) -> list[int]:
        return [b + self._OFFSET for b in text.encode("utf-8")]

    def decode(self, ids: Sequence[int]) -> str:
        data = bytes(int(i) - self._OFFSET for i in ids if int(i) >= self._OFFSET)
        return data.decode("utf-8", errors="replace")


class HFCodec:
    """A ``transformers`` tokenizer. The start token is used only where the tokenizer itself adds
    it; a tokenizer without a pad token pads with its end token (padding is always masked)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        if tokenizer.eos_token_id is None:
            from litelora.errors import ConfigError

            raise ConfigError(f"tokenizer {type(tokenizer).__name__} has no end token; generation could not stop")
        self.eos_id = int(tokenizer.eos_token_id)
        self.pad_id = int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else self.eos_id
        bos = tokenizer.bos_token_id
        adds_bos = bos is not None and tokenizer("a")["input_ids"][:1] == [bos]
        self.bos_id = int(bos) if adds_bos else None
        self.vocab_size = len(tokenizer)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True))
