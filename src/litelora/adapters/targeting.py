"""PEFT-compatible target matching, extended with output slices of fused layers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from litelora.adapters.config import AdapterConfig
from litelora.errors import TargetError

SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear,)


@dataclass(frozen=True)
class TargetSpec:
    """One adapter slot: a linear module, optionally restricted to an output slice.

    ``name`` is the module path, plus ``":<slice>"`` for a slice (``blocks.0.attn.qkv:q``).
    ``out_start``/``out_stop`` bound the output rows the slot's adapters write.
    """

    module_name: str
    slice_name: str | None
    out_start: int
    out_stop: int
    in_features: int

    @property
    def name(self) -> str:
        return self.module_name if self.slice_name is None else f"{self.module_name}:{self.slice_name}"

    @property
    def out_features(self) -> int:
        return self.out_stop - self.out_start


def _split_entry(entry: str) -> tuple[str, tuple[str, ...] | None]:
    if ":" in entry:
        name, slices = entry.split(":", 1)
        return name, tuple(s.strip() for s in slices.split(",") if s.strip())
    return entry, None


def _matches(patterns: str | list[str] | None, name: str) -> tuple[bool, tuple[str, ...] | None]:
    """PEFT's rule: a string is a fullmatch regex, a list matches by equality or ``.suffix``."""
    if patterns is None:
        return False, None
    if isinstance(patterns, str):
        return re.fullmatch(patterns, name) is not None, None
    for entry in patterns:
        key, slices = _split_entry(entry)
        if name == key or name.endswith("." + key):
            return True, slices
    return False, None


def find_targets(model: nn.Module, config: AdapterConfig) -> list[TargetSpec]:
    """Every slot ``config`` selects in ``model`` (the dry run: nothing is modified).

    Raises ``TargetError`` naming the patterns when nothing matches, when a matched module
    is not a linear layer, or when a slice name is unknown or does not divide the layer.
    """
    specs: list[TargetSpec] = []
    for name, module in model.named_modules():
        if not name:
            continue
        excluded, _ = _matches(config.exclude_modules, name)
        if excluded:
            continue
        hit, slices = _matches(config.target_modules, name)
        if not hit:
            continue
        if not isinstance(module, SUPPORTED_LAYERS):
            raise TargetError(
                f"target_modules={config.target_modules!r} matched {name!r}, a {type(module).__name__}; "
                f"only nn.Linear layers can hold LoRA adapters here. Narrow the pattern or add it to exclude_modules."
            )
        specs.extend(_slot_specs(name, module, slices, config))
    if not specs:
        linear = [n for n, m in model.named_modules() if isinstance(m, SUPPORTED_LAYERS)]
        raise TargetError(
            f"target_modules={config.target_modules!r} (exclude_modules={config.exclude_modules!r}) matched no "
            f"module. Some linear modules of this model: {linear[:8]}"
        )
    return specs


def _slot_specs(
    name: str, module: nn.Linear, slices: tuple[str, ...] | None, config: AdapterConfig
) -> list[TargetSpec]:
    d_out, d_in = module.out_features, module.in_features
    if slices is None:
        return [TargetSpec(name, None, 0, d_out, d_in)]
    parts = config.fused_slices
    unknown = [s for s in slices if s not in parts]
    if unknown or not slices:
        raise TargetError(f"slice target {name!r}: unknown slices {list(unknown) or slices}; known: {list(parts)}")
    if d_out % len(parts):
        raise TargetError(
            f"slice target {name!r}: out_features={d_out} does not split into {len(parts)} equal parts {list(parts)}"
        )
    width = d_out // len(parts)
    return [
        TargetSpec(name, s, parts.index(s) * width, (parts.index(s) + 1) * width, d_in)
        for s in sorted(slices, key=parts.index)
    ]


def rank_for(target_name: str, config: AdapterConfig) -> int:
    """The rank of ``target_name``: the first ``rank_pattern`` key matching it, else ``r``."""
    for pattern, rank in config.rank_pattern.items():
        if re.fullmatch(pattern, target_name) or target_name.endswith("." + pattern) or target_name == pattern:
            return rank
    return config.r
