"""Inference optimisation (BN folding, native padding, channels-last, bf16 SATN) keeps outputs."""

from __future__ import annotations

import copy

import pytest
import torch

from meshvid.model import build_model
from meshvid.model.config import BackboneConfig, ModelConfig, SkeletonConfig, cpu_config
from meshvid.model.inference import optimize_for_inference


def configs() -> list[ModelConfig]:
    learned = ModelConfig()
    learned.dsd.skeleton = SkeletonConfig(source="learned", joints="lsp14", deconv_channels=32)
    resnet = ModelConfig()
    resnet.dsd.backbone = BackboneConfig(name="resnet50", pretrained=False)
    resnet.satn.variant = "tcn"
    return [cpu_config(), learned, resnet]


def randomise_batchnorm(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)


@pytest.mark.parametrize("cfg", configs(), ids=["cpu", "learned", "resnet50"])
def test_optimised_model_matches_the_original(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_model(cfg, load_backbone_weights=cfg.dsd.backbone.name != "resnet50")
    randomise_batchnorm(model)
    model.eval()
    fast = optimize_for_inference(copy.deepcopy(model))
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))
                   for m in fast.modules())
    images = torch.rand(2, 3, 128, 128)
    kp, conf = torch.rand(2, 17, 2) * 2 - 1, torch.ones(2, 17)
    seq = torch.randn(14, 512)
    with torch.no_grad():
        a, b = model.dsd(images, kp, conf), fast.dsd(images, kp, conf)
        assert torch.allclose(a.feature, b.feature, atol=1e-3, rtol=1e-3)
        assert torch.allclose(a.theta.vector(), b.theta.vector(), atol=1e-4, rtol=1e-3)
        sa, sb = model.satn.forward_sequence(seq), fast.satn.forward_sequence(seq)
        assert torch.allclose(sa.vector(), sb.vector(), atol=1e-4, rtol=1e-3)
    with pytest.raises(RuntimeError, match="cannot be trained"):
        fast.train()


def test_bf16_satn_stays_close_to_float32() -> None:
    torch.manual_seed(0)
    model = build_model(cpu_config(), load_backbone_weights=False).eval()
    with torch.no_grad():
        model.satn.head.fc.weight.normal_(std=0.01)  # outputs that depend on the input
    seq = torch.randn(30, 512)
    with torch.no_grad():
        ref = model.satn.forward_sequence(seq).vector()
        optimize_for_inference(model, satn_bf16=True)
        low = model.satn.forward_sequence(seq)
    assert low.pose_6d.dtype == torch.float32
    assert (low.vector() - ref).abs().max() < 0.05
    assert (low.vector() - ref).abs().mean() < 0.01


def test_bf16_dsd_backbone_stays_close_to_float32() -> None:
    torch.manual_seed(0)
    model = build_model(cpu_config()).dsd.eval()
    images = torch.rand(4, 3, 96, 96)
    kp, conf = torch.rand(4, 17, 2) * 2 - 1, torch.ones(4, 17)
    with torch.no_grad():
        ref = model(images, kp, conf)
        optimize_for_inference(model, dsd_bf16=True)
        low = model(images, kp, conf)
    assert low.feature.dtype == torch.float32 and low.theta.pose_6d.dtype == torch.float32
    rel = (low.feature - ref.feature).norm() / ref.feature.norm()
    assert 0 < rel < 0.06  # bf16 really ran, and kept ~2 significant digits of the feature
