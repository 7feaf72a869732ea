"""Generative continual fine-tuning: seq2seq (T5) and causal LMs learn a task stream as
instruction prompts -> label words, scored by exact match.

The model classes load ``transformers``; import them from ``litelora.generative.lm`` (and the
tiny and packaged models from ``litelora.generative.zoo``) when needed.
"""

from litelora.models.config import GenerationConfig
from litelora.generative.exact_match import exact_match, normalize_answer
from litelora.models.templates import Prompt, PromptTemplates, target_text

__all__ = ["GenerationConfig", "Prompt", "PromptTemplates", "exact_match", "normalize_answer", "target_text"]
