"""ModelConfig: the ``model`` section of a run, with its generation settings (generative models)
and the aligned head's (classifiers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from litelora.errors import ConfigError
from litelora.models.templates import PromptTemplates

MAX_LENGTH = 1 << 20
MAX_ALIGNMENT_STEPS = 100_000
# Every re-fit step draws samples_per_class x classes x feature_dim floats at once.
MAX_ALIGNMENT_SAMPLES = 1 << 14
MAX_ALIGNMENT_LR = 1e4


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
        for name in ("max_target_length", "max_new_tokens"):
            value = getattr(self, name)
            if value is not None and value > MAX_LENGTH:
                raise ConfigError(f"model.generation.{name}={value} is above {MAX_LENGTH} tokens")
        PromptTemplates(self.templates, self.task_types)  # raises on an unknown field or task type

    @property
    def decode_length(self) -> int:
        return self.max_new_tokens if self.max_new_tokens is not None else self.max_target_length


@dataclass
class AlignmentConfig:
    """Classifier alignment of ``model.head=aligned``.

    samples_per_class: features drawn per seen class at every re-fit step.
    steps: optimizer steps of the re-fit after each task.
    lr: AdamW learning rate of the re-fit.
    covariance: ``full`` (D x D per class) or ``diagonal`` (D per class: for wide features or many classes).
    shrinkage: added to each covariance's diagonal, times its mean variance (keeps it positive definite).
    drift: ``none`` (old class statistics stay as recorded) or ``sdc`` (old class means follow the
        drift of the new task's features; see the module docstring).
    """

    samples_per_class: int = 32
    steps: int = 200
    lr: float = 0.05
    covariance: Literal["full", "diagonal"] = "full"
    shrinkage: float = 0.01
    drift: Literal["none", "sdc"] = "none"

    def __post_init__(self) -> None:
        for name in ("samples_per_class", "steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"model.alignment.{name} must be a positive integer, got {getattr(self, name)}")
        if self.steps > MAX_ALIGNMENT_STEPS:
            raise ConfigError(f"model.alignment.steps={self.steps} is above {MAX_ALIGNMENT_STEPS}; the re-fit "
                              "converges in a few hundred steps (default 200)")
        if self.samples_per_class > MAX_ALIGNMENT_SAMPLES:
            raise ConfigError(f"model.alignment.samples_per_class={self.samples_per_class} is above "
                              f"{MAX_ALIGNMENT_SAMPLES}; each re-fit step draws this many features per class at once "
                              "(default 32)")
        if self.lr <= 0:
            raise ConfigError(f"model.alignment.lr must be > 0, got {self.lr}")
        if self.lr > MAX_ALIGNMENT_LR:
            raise ConfigError(f"model.alignment.lr={self.lr} is above {MAX_ALIGNMENT_LR:g} (default 0.05)")
        if self.shrinkage < 0:
            raise ConfigError(f"model.alignment.shrinkage must be >= 0, got {self.shrinkage}")


@dataclass
class ModelConfig:
    """The backbone.

    name: a registered model (``litelora list models``) or ``hf:<hub name or folder>``.
    max_length: tokens kept per text input (longer inputs are truncated).
    pooling: sentence embedding of a text encoder: ``mean`` over tokens or the ``cls`` token.
    kind: ``auto`` picks from the model (encoder-decoder -> ``seq2seq``, a ``*ForCausalLM``
        -> ``causal-lm``, else ``classifier``: features + a growing head); see docs/generative.md.
    dtype: loading precision of a transformers model.
    autocast: run a generative model's forward passes under autocast in this precision.
    gradient_checkpointing: recompute activations in backward (a generative model; less memory).
    generation: prompts, target and decoding lengths of a generative model (``max_length``
        caps its prompts).
    head: a classifier's growing head: ``linear`` (each task trains its own rows), or ``aligned``
        (after each task every row is re-fitted on features sampled from per-class Gaussians, so
        class-incremental logits are calibrated across tasks; statistics only, no stored examples).
    alignment: settings of the ``aligned`` head's re-fit.
    """

    name: str = "minilm"
    max_length: int = 64
    pooling: Literal["mean", "cls"] = "mean"
    kind: Literal["auto", "classifier", "seq2seq", "causal-lm"] = "auto"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    autocast: Literal["bfloat16", "float16"] | None = None
    gradient_checkpointing: bool = False
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    head: Literal["linear", "aligned"] = "linear"
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)

    def __post_init__(self) -> None:
        if not 0 < self.max_length <= MAX_LENGTH:
            raise ConfigError(f"model.max_length must be between 1 and {MAX_LENGTH} tokens, got {self.max_length}")
