"""DSD single-frame network: shapes of every variant, the skeleton sources, gradients, freezing."""

from __future__ import annotations

import pytest
import torch

from meshvid.model.config import BackboneConfig, DSDConfig, SkeletonConfig
from meshvid.model.dsd import DSDNet
from meshvid.model.skeleton import soft_argmax

SIZE = 64  # small crops keep the tests fast; the architecture is size-agnostic


def make(variant: str, source: str = "learned", joints: str = "lsp14", backbone: str =
         "efficientnet_lite0", pretrained: bool = False, frozen: int = 0) -> DSDNet:
    torch.manual_seed(0)
    cfg = DSDConfig(variant=variant,
                    backbone=BackboneConfig(name=backbone, pretrained=pretrained,
                                            frozen_stages=frozen, image_size=SIZE),
                    skeleton=SkeletonConfig(source=source, joints=joints, deconv_channels=32))
    return DSDNet(cfg)


def inputs(b: int = 2, k: int = 14) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (torch.rand(b, 3, SIZE, SIZE, generator=g), torch.rand(b, k, 2, generator=g) * 2 - 1,
            torch.rand(b, k, generator=g) * 0.5 + 0.5)


@pytest.mark.parametrize("variant", ["direct", "concat", "dsd"])
@pytest.mark.parametrize("source,joints,k", [("learned", "lsp14", 14), ("learned", "coco17", 17),
                                             ("external", "coco17", 17)])
def test_output_shapes_every_variant(variant: str, source: str, joints: str, k: int) -> None:
    net = make(variant, source, joints).eval()
    images, kp, conf = inputs(3, k)
    with torch.no_grad():
        out = net(images, kp, conf)
    assert out.theta.pose_6d.shape == (3, 24, 6)
    assert out.theta.rotmat.shape == (3, 24, 3, 3)
    assert out.theta.axis_angle().shape == (3, 24, 3)
    assert out.theta.betas.shape == (3, 10)
    assert out.theta.cam.shape == (3, 3)
    assert (out.theta.cam[:, 0] > 0).all()
    assert out.feature.shape == (3, 512)
    if variant == "direct":
        assert out.skeleton is None
    else:
        assert out.skeleton.joints2d.shape == (3, k, 2)
        assert out.skeleton.x_s.shape == (3, (2 if source == "learned" else 3) * k)
        if source == "learned":
            assert out.skeleton.heatmaps.shape == (3, k, SIZE // 4, SIZE // 4)
            assert out.skeleton.joints2d.abs().max() <= 1.0
    if variant == "dsd":
        assert net.fuse.weight.shape == (512, net.skeleton.out_dim, 512)


def test_resnet50_paper_backbone_shapes() -> None:
    net = make("dsd", backbone="resnet50").eval()
    with torch.no_grad():
        out = net(inputs()[0])
    assert out.theta.pose_6d.shape == (2, 24, 6) and out.skeleton.joints2d.shape == (2, 14, 2)


def test_untrained_output_is_the_mean_pose_facing_the_camera() -> None:
    net = make("dsd", "external", "coco17").eval()
    images, kp, conf = inputs(2, 17)
    with torch.no_grad():
        theta = net(images, kp, conf).theta
    root = theta.rotmat[:, 0]
    # upright, facing an OpenCV camera: body y -> camera -y, body z -> camera -z
    assert torch.allclose(root, torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(2, 3, 3),
                          atol=0.05)
    assert torch.allclose(theta.cam[:, 0], torch.full((2,), 0.9), atol=0.05)


def test_soft_argmax_recovers_a_peak_at_cell_centres() -> None:
    logits = torch.full((1, 2, 8, 16), -1e4)
    logits[0, 0, 3, 5] = 0.0  # row 3 of 8, column 5 of 16
    logits[0, 1, 7, 0] = 0.0
    xy, heat = soft_argmax(logits)
    assert torch.allclose(xy[0, 0], torch.tensor([(2 * 5 + 1) / 16 - 1, (2 * 3 + 1) / 8 - 1]))
    assert torch.allclose(xy[0, 1], torch.tensor([1 / 16 - 1, 15 / 8 - 1]))
    assert torch.allclose(heat.sum(dim=(2, 3)), torch.ones(1, 2))


@pytest.mark.parametrize("variant", ["concat", "dsd"])
def test_external_keypoints_ignore_masked_joints(variant: str) -> None:
    net = make(variant, "external", "coco17").eval()
    images, kp, conf = inputs(2, 17)
    conf[:, [3, 4, 15]] = 0.1  # below min_confidence (0.3)
    with torch.no_grad():
        base = net(images, kp, conf).theta.vector()
        moved = kp.clone()
        moved[:, [3, 4]] = torch.tensor([5.0, -7.0])
        moved[:, 15] = float("nan")
        conf2 = conf.clone()
        conf2[:, [3, 4, 15]] = torch.tensor([0.0, 0.29, 0.2])  # still masked, other values
        same = net(images, moved, conf2).theta.vector()
        visible = kp.clone()
        visible[:, 5] += 0.3  # a confident joint: must matter
        changed = net(images, visible, conf).theta.vector()
    assert torch.equal(base, same)
    assert not torch.allclose(base, changed)


@pytest.mark.parametrize("variant,source,joints,k", [
    ("dsd", "learned", "lsp14", 14), ("concat", "learned", "lsp14", 14),
    ("direct", "learned", "lsp14", 14), ("dsd", "external", "coco17", 17)])
def test_gradients_reach_every_trainable_parameter(variant, source, joints, k) -> None:
    net = make(variant, source, joints).train()
    images, kp, conf = inputs(4, k)
    out = net(images, kp, conf)
    loss = out.theta.vector().pow(2).sum()
    if out.skeleton is not None:
        loss = loss + out.skeleton.joints2d.pow(2).sum()
    loss.backward()
    missing = [n for n, p in net.named_parameters()
               if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, missing


def test_frozen_stages_keep_weights_and_batchnorm_statistics() -> None:
    net = make("dsd", "external", "coco17", frozen=3).train()
    stages = net.backbone.stages()
    frozen = [p for s in stages[:3] for p in s.parameters()]
    assert frozen and all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in stages[3].parameters())
    bn = stages[0][1]
    before = bn.running_mean.clone()
    images, kp, conf = inputs(2, 17)
    net(images, kp, conf)
    assert not bn.training and torch.equal(bn.running_mean, before)


def test_cached_pooled_features_give_the_same_output() -> None:
    net = make("dsd", "external", "coco17").eval()
    images, kp, conf = inputs(2, 17)
    with torch.no_grad():
        full = net(images, kp, conf).theta.vector()
        pooled = net.encode(images)
        assert pooled.shape == (2, 1280)
        cached = net.forward_features(pooled, kp, conf).theta.vector()
    assert torch.allclose(full, cached, atol=1e-6)


def test_pretrained_lite0_weights_load_from_the_wheel() -> None:
    from meshvid.model.backbones import lite0_weights_path

    shipped = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    net = make("direct", pretrained=True)
    for name, value in net.backbone.net.state_dict().items():
        assert torch.equal(value, shipped[name]), name
    assert not torch.equal(make("direct").backbone.net._conv_stem.weight,
                           shipped["_conv_stem.weight"])


def test_fast_bilinear_equals_torch_bilinear() -> None:
    from meshvid.model.dsd import Bilinear

    torch.manual_seed(0)
    layer = Bilinear(28, 512, 512)
    x1, x2 = torch.randn(5, 28), torch.randn(5, 512)
    expected = torch.nn.functional.bilinear(x1, x2, layer.weight, layer.bias)
    assert torch.allclose(layer(x1, x2), expected, atol=1e-4, rtol=1e-4)


def test_two_fc_head_before_theta():
    import torch

    from meshvid.model.theta import ThetaHead

    head = ThetaHead(512, hidden=64)
    assert [m.out_features for m in head.mlp if isinstance(m, torch.nn.Linear)] == [64, 64]
    theta = head(torch.randn(3, 512))
    assert theta.pose_6d.shape == (3, 24, 6) and (theta.cam[:, 0] > 0).all()
    assert isinstance(ThetaHead(512).mlp, torch.nn.Identity)  # hidden=0: the single FC
