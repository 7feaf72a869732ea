"""The model a run builds: a registered name (``litelora list models``), ``hf:<hub name or
folder>`` (any ``transformers`` encoder, seq2seq or causal LM) or ``vit:`` / ``timm:`` names.

Feature backbones (``litelora.models``) get a growing head from the trainer; generative models
(``litelora.generative``) are TaskModels of their own that train without one. This module only
dispatches: the models live in those two packages, and importing it registers all of them.
"""

from __future__ import annotations

from pathlib import Path

from litelora._hub import available_offline, hub_offline
from litelora.errors import ConfigError
from litelora.generative.zoo import from_pretrained, model_kind
from litelora.models import BACKBONES, Backbone, TaskModel
from litelora.models.config import ModelConfig
from litelora.models.text import load_hf_text
from litelora.models.vision import PREFIXED_BACKBONES


def load_hf(path: str, config: ModelConfig) -> Backbone | TaskModel:
    """``hf:<path>``: a generative model or an encoder, as ``model.kind`` asks or the config says."""
    _check_folder(path)
    kind = config.kind
    if kind == "auto":
        from transformers import AutoConfig

        try:
            kind = model_kind(AutoConfig.from_pretrained(path))
        except (OSError, ValueError) as err:
            raise ConfigError(f"model.name: cannot load {path!r} as a transformers model: {err}") from None
    if kind == "classifier":
        return load_hf_text(path, config)
    return from_pretrained(path, kind, config)


def check_model_name(config: ModelConfig) -> None:
    """That ``config.name`` names a model ``build_backbone`` can build, loading no weights: a
    registered name or prefix, or an ``hf:`` folder (or cached hub id) whose config reads. A hub
    id not in the local cache is left to ``train``, which downloads it."""
    prefix, sep, rest = config.name.partition(":")
    if config.name.startswith("hf:"):
        _check_folder(rest)
        if not available_offline(rest):
            return
        from transformers import AutoConfig

        with hub_offline():
            try:
                AutoConfig.from_pretrained(rest)
            except (OSError, ValueError) as err:
                raise ConfigError(f"model.name: cannot load {rest!r} as a transformers model: {err}") from None
    elif not (sep and prefix in PREFIXED_BACKBONES):
        BACKBONES.get(config.name)


def _check_folder(path: str) -> None:
    """A path-like ``hf:`` name must be a folder (else transformers reads it as a malformed hub id)."""
    if path.startswith(("/", ".", "~")) and not Path(path).expanduser().is_dir():
        raise ConfigError(f"model.name: cannot load {path!r} as a transformers model: no such folder")


def build_backbone(config: ModelConfig, input_dim: int | None = None) -> Backbone | TaskModel:
    """The configured model: a feature backbone (the trainer adds a growing head) or a TaskModel
    that trains without a head (a generative LM); ``model.kind`` must agree with it."""
    prefix, sep, rest = config.name.partition(":")
    model: Backbone | TaskModel
    if config.name.startswith("hf:"):
        model = load_hf(rest, config)
    elif sep and prefix in PREFIXED_BACKBONES:  # vit:<hub name or folder>, timm:<model>
        model = PREFIXED_BACKBONES.create(prefix, rest, config)
    else:
        model = BACKBONES.create(config.name, config, input_dim)
    generative = isinstance(model, TaskModel)
    if config.kind in ("seq2seq", "causal-lm") and not generative:
        raise ConfigError(
            f"model.kind={config.kind!r}, but model {config.name!r} ({type(model.encoder).__name__}) is neither a "
            "seq2seq nor a causal LM: it can only be trained with a classifier head (model.kind=classifier or auto)"
        )
    if config.kind != "auto" and generative and getattr(model, "kind", config.kind) != config.kind:
        raise ConfigError(f"model.kind={config.kind!r}, but model {config.name!r} is a {model.kind} model; "
                          f"set model.kind={model.kind} or auto")
    return model
