"""PEFT-compatible target matching, extended with output slices of fused layers.

Two layer kinds hold adapters: ``linear`` (``nn.Linear``) and ``conv1x1`` (an ``nn.Conv2d``
with a 1x1 kernel and ``groups=1``: a linear map over channels at every pixel; any stride,
zero padding only, and the plain ``Conv2d.forward``, so merging stays exact).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from litelora.adapters.config import AdapterConfig
from litelora.errors import TargetError

SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)


def _linear_dims(module: nn.Module) -> tuple[int, int]:
    return module.in_features, module.out_features  # type: ignore[return-value]


def _conv1x1_dims(module: nn.Module) -> tuple[int, int]:
    return module.in_channels, module.out_channels  # type: ignore[return-value]


# kind -> (layer type, (d_in, d_out) of a layer); checked in order, first isinstance wins.
LAYER_KINDS: dict[str, tuple[type[nn.Module], Callable[[nn.Module], tuple[int, int]]]] = {
    "linear": (nn.Linear, _linear_dims),
    "conv1x1": (nn.Conv2d, _conv1x1_dims),
}


def layer_kind(name: str, module: nn.Module) -> str | None:
    """The target kind of ``module`` (``"linear"``, ``"conv1x1"``), ``None`` for other layers.

    Raises ``TargetError`` for a ``Conv2d`` the bank cannot treat as a channel map.
    """
    for kind, (cls, _) in LAYER_KINDS.items():
        if isinstance(module, cls):
            if kind == "conv1x1":
                check_conv1x1(name, module)  # type: ignore[arg-type]
            return kind
    return None


def check_conv1x1(name: str, conv: nn.Conv2d) -> None:
    """A 1x1, ungrouped, unpadded ``Conv2d`` whose forward is the plain convolution."""
    problems = []
    if tuple(conv.kernel_size) != (1, 1):
        problems.append(f"kernel_size={tuple(conv.kernel_size)} (only 1x1 kernels are channel maps)")
    if conv.groups != 1:
        problems.append(f"groups={conv.groups} (grouped/depthwise convs mix channels blockwise)")
    if conv.padding not in ((0, 0), "valid", "same"):
        problems.append(f"padding={conv.padding} (the padded border would get no update)")
    if type(conv).forward is not nn.Conv2d.forward:
        problems.append(f"{type(conv).__name__} overrides Conv2d.forward (swap it for a plain nn.Conv2d "
                        f"holding the same weights)")
    if problems:
        raise TargetError(f"target {name!r} is a Conv2d the bank cannot adapt: {'; '.join(problems)}. Only 1x1 "
                          f"convolutions with groups=1 and no padding hold LoRA adapters; narrow target_modules "
                          f"or add {name!r} to exclude_modules.")


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
    kind: str = "linear"

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
    is not a linear layer or a 1x1 conv, or when a slice name is unknown or does not divide
    the layer.
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
        kind = layer_kind(name, module)
        if kind is None:
            raise TargetError(
                f"target_modules={config.target_modules!r} matched {name!r}, a {type(module).__name__}; "
                f"only nn.Linear and 1x1 nn.Conv2d layers can hold LoRA adapters here. Narrow the pattern or "
                f"add it to exclude_modules."
            )
        specs.extend(_slot_specs(name, module, kind, slices, config))
    if not specs:
        linear = [n for n, m in model.named_modules() if isinstance(m, SUPPORTED_LAYERS)]
        raise TargetError(
            f"target_modules={config.target_modules!r} (exclude_modules={config.exclude_modules!r}) matched no "
            f"module. Some linear modules of this model: {linear[:8]}"
        )
    return specs


def _slot_specs(
    name: str, module: nn.Module, kind: str, slices: tuple[str, ...] | None, config: AdapterConfig
) -> list[TargetSpec]:
    d_in, d_out = LAYER_KINDS[kind][1](module)
    if slices is None:
        return [TargetSpec(name, None, 0, d_out, d_in, kind)]
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
        TargetSpec(name, s, parts.index(s) * width, (parts.index(s) + 1) * width, d_in, kind)
        for s in sorted(slices, key=parts.index)
    ]


def rank_for(target_name: str, config: AdapterConfig) -> int:
    """The rank of ``target_name``: the first ``rank_pattern`` key matching it, else ``r``."""
    for pattern, rank in config.rank_pattern.items():
        if re.fullmatch(pattern, target_name) or target_name.endswith("." + pattern) or target_name == pattern:
            return rank
    return config.r
