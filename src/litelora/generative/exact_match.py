"""Exact match after the normalisation the O-LoRA evaluation uses: surrounding whitespace
stripped, lower case."""

from __future__ import annotations


def normalize_answer(text: str) -> str:
    """``"  Business\\n"`` -> ``"business"``; inner whitespace and punctuation are kept."""
    return text.strip().lower()


def exact_match(prediction: str, target: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(target)
