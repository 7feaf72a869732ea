"""AdapterConfig: which modules get LoRA and how each adapter is shaped."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from litelora.errors import ConfigError

INIT_MODES = ("lora", "gaussian", "zeros", "gradient")
MAX_RANK = 4096


@dataclass
class AdapterConfig:
    """LoRA settings for every task adapter, named as in ``peft.LoraConfig``.

    target_modules: a regex that must fullmatch a dotted module name, or a list whose
        entries match a name that equals them or ends with ``"." + entry``. An entry may
        select output slices of a fused linear layer: ``"qkv:q,v"`` targets the q and v
        thirds of every ``qkv`` (slices named by ``fused_slices``).
    exclude_modules: same syntax as ``target_modules``; checked first.
    r: rank of each new adapter (``rank_pattern`` overrides it per target).
    lora_alpha: the adapter scale is ``lora_alpha / r`` (``use_scale=False``: scale 1).
    lora_dropout: dropout on the adapter input during training.
    rank_pattern: target name pattern -> rank of that target's adapters.
    use_scale: multiply each adapter by ``lora_alpha / r``; false: scale 1.
    init_lora_weights: ``"lora"`` (A Kaiming-uniform, B = 0: the model is unchanged at
        the start of a task), ``"gaussian"`` (both non-zero, for tests), ``"zeros"``, or
        ``"gradient"``: A from the top singular directions of the task's consistent gradient outside
        the earlier adapters' span (rows at Kaiming's norm), B = 0, set by the trainer (``LiteLoRA``)
        from a short probe before the task trains; a bank driven by hand starts it as ``"lora"``.
    fused_slices: names of the equal output slices of a fused layer, in row order (``q,k,v``).
    autocast_adapter_dtype: adapters of a float16 or bfloat16 layer are stored and computed in
        float32, as PEFT does by default: a bfloat16 weight near 1 moves only in steps of about
        0.004, so a magnitude or a small update would round away. The update is cast to the
        layer's output dtype before it is added. False: adapters take the layer's dtype.
    """

    target_modules: str | list[str] = field(default_factory=lambda: ["query", "value"])
    exclude_modules: str | list[str] | None = None
    r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    rank_pattern: dict[str, int] = field(default_factory=dict)
    use_scale: bool = True
    init_lora_weights: str = "lora"
    fused_slices: tuple[str, ...] = ("q", "k", "v")
    autocast_adapter_dtype: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.target_modules, (list, tuple)):
            self.target_modules = list(self.target_modules)
            if not self.target_modules or not all(isinstance(t, str) and t for t in self.target_modules):
                raise ConfigError(
                    f"target_modules must be a regex string or a non-empty list of names, got {self.target_modules!r}"
                )
        elif not isinstance(self.target_modules, str) or not self.target_modules:
            raise ConfigError(f"target_modules must be a regex string or a list of names, got {self.target_modules!r}")
        for field_name in ("target_modules", "exclude_modules"):
            check_pattern(f"adapter.{field_name}", getattr(self, field_name))
        check_rank("r", self.r)
        for pattern, rank in self.rank_pattern.items():
            _check_rank_key(pattern)
            check_rank(f"rank_pattern[{pattern!r}]", rank)
        if not isinstance(self.lora_alpha, (int, float)) or not math.isfinite(self.lora_alpha) or self.lora_alpha <= 0:
            raise ConfigError(f"lora_alpha must be a positive number, got {self.lora_alpha!r}")
        if not isinstance(self.lora_dropout, (int, float)) or not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.init_lora_weights not in INIT_MODES:
            raise ConfigError(f"init_lora_weights must be one of {INIT_MODES}, got {self.init_lora_weights!r}")
        if not isinstance(self.autocast_adapter_dtype, bool):
            raise ConfigError(f"autocast_adapter_dtype must be true or false, got {self.autocast_adapter_dtype!r}")
        self.fused_slices = tuple(self.fused_slices)
        if len(set(self.fused_slices)) != len(self.fused_slices) or not self.fused_slices:
            raise ConfigError(f"fused_slices must be distinct names, got {self.fused_slices!r}")

    def adapter_dtype(self, weight_dtype: torch.dtype) -> torch.dtype:
        """The dtype adapters of a layer whose weight is ``weight_dtype`` are stored in."""
        if self.autocast_adapter_dtype and weight_dtype in (torch.float16, torch.bfloat16):
            return torch.float32
        return weight_dtype

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fused_slices"] = list(self.fused_slices)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdapterConfig:
        return cls(**data)


def check_rank(name: str, rank: object) -> int:
    """A rank must be a positive int (bool is not an int here) no larger than ``MAX_RANK``."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise ConfigError(f"{name} must be a positive integer rank, got {rank!r}")
    if rank > MAX_RANK:
        # Checked before anything is allocated: a typo'd rank would otherwise ask for gigabytes.
        raise ConfigError(f"{name}={rank} is above the largest supported rank {MAX_RANK}; LoRA ranks are "
                          "usually 4-64")
    return rank


def check_pattern(name: str, patterns: str | list[str] | None) -> None:
    """A string pattern must compile as a regular expression (a list holds plain names)."""
    if isinstance(patterns, str):
        try:
            re.compile(patterns)
        except re.error as err:
            raise ConfigError(f"{name}={patterns!r} is not a valid regular expression ({err}); escape the "
                              "special characters, or give a list of module names") from None


def _check_rank_key(pattern: str) -> None:
    """A ``rank_pattern`` key is matched as a regex (as well as a name): it must compile."""
    try:
        re.compile(pattern)
    except re.error as err:
        raise ConfigError(f"adapter.rank_pattern: key {pattern!r} is not a valid regular expression ({err}); "
                          "escape the special characters (e.g. '\\(' for a literal '(')") from None
