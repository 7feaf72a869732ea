"""GenerationConfig: prompts, target and decoding lengths of a generative run (``model.generation``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from litelora.errors import ConfigError
from litelora.generative.templates import PromptTemplates


@dataclass
class GenerationConfig:
    """How a generative model turns a task's examples into prompts and scores its answers.

    max_target_length: target tokens trained on, end token included (longer targets are
        truncated, counted in ``results.json`` and warned about).
    max_new_tokens: greedy decoding stops after this many tokens or at the end token
        (``None``: ``max_target_length``).
    templates: task type -> prompt template, overriding the packaged ones (fields
        ``{input}``, ``{options}``, ``{task}``).
    task_types: task-name regex -> task type, checked before the packaged mapping.
    scoring: how a test example counts as right: ``exact_match`` (greedy decoding, then the
        normalised text equals the label word) or ``rank`` (rank classification: the token
        log-likelihoods of every label option of the task come from one batched forward pass,
        and the options are compared token by token along their shared prefixes, the likelier
        token winning: the option greedy decoding would spell if it could spell only options;
        it equals exact match wherever greedy decoding spells an option, needs no decoding loop).
    """

    max_target_length: int = 16
    max_new_tokens: int | None = None
    templates: dict[str, str] = field(default_factory=dict)
    task_types: dict[str, str] = field(default_factory=dict)
    scoring: Literal["exact_match", "rank"] = "exact_match"

    def __post_init__(self) -> None:
        if self.max_target_length < 2:
            raise ConfigError(f"model.generation.max_target_length must be >= 2 (one token and the end token), "
                              f"got {self.max_target_length}")
        if self.max_new_tokens is not None and self.max_new_tokens <= 0:
            raise ConfigError(f"model.generation.max_new_tokens must be > 0 or null, got {self.max_new_tokens}")
        PromptTemplates(self.templates, self.task_types)  # raises on an unknown field or task type

    @property
    def decode_length(self) -> int:
        return self.max_new_tokens if self.max_new_tokens is not None else self.max_target_length


class ModelSettings(Protocol):
    """What the generative path reads of a run's ``model`` section (``training.config.ModelConfig``
    satisfies it), so this package never imports the trainer's config."""

    dtype: str
    max_length: int
    autocast: str | None
    gradient_checkpointing: bool
    generation: GenerationConfig

