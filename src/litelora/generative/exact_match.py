"""Exact match after the answer normalisation of the O-LoRA evaluation (inherited from
InstructUIE: SQuAD's rule without dropping articles): lower case, ASCII punctuation removed,
whitespace runs collapsed to one space and trimmed."""

from __future__ import annotations

import string

_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """``"  Very  Negative.\\n"`` -> ``"very negative"``."""
    return " ".join(text.lower().translate(_NO_PUNCTUATION).split())


def exact_match(prediction: str, target: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(target)
