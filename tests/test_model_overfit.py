"""The DSD network can fit a handful of synthetic samples made with the real body model."""

from __future__ import annotations

import torch

from meshvid.body import load_body_model
from meshvid.geometry.camera import crop_normalised_to_pixels, project_weak_perspective
from meshvid.model.config import BackboneConfig, DSDConfig, LossWeights, SkeletonConfig
from meshvid.model.dsd import DSDNet
from meshvid.model.losses import Targets, compute_losses
from meshvid.model.theta import facing_camera_root

SIZE = 64


def rasterise(body, vertices: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Point-splat the posed mesh into (B, 3, SIZE, SIZE) crops, coloured by the joint that
    drives each vertex most, nearest points drawn last."""
    palette = torch.rand(24, 3, generator=torch.Generator().manual_seed(7)) * 0.8 + 0.2
    colours = palette[body.lbs_weights.argmax(1)]
    px = crop_normalised_to_pixels(project_weak_perspective(vertices, cam), SIZE).long()
    images = torch.zeros(len(vertices), 3, SIZE, SIZE)
    for b in range(len(vertices)):
        order = torch.argsort(vertices[b, :, 2], descending=True)  # far (large z) first
        for dx in (0, 1):
            for dy in (0, 1):
                u = (px[b, order, 0] + dx).clamp(0, SIZE - 1)
                v = (px[b, order, 1] + dy).clamp(0, SIZE - 1)
                images[b, :, v, u] = colours[order].T
    return images


def make_samples(n: int = 8):
    body = load_body_model("anny24")
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(n, 24, 3, generator=g) * 0.25
    pose[:, 0] = facing_camera_root() + torch.randn(n, 3, generator=g) * 0.2
    betas = torch.randn(n, 10, generator=g) * 0.7
    cam = torch.stack([0.8 + 0.2 * torch.rand(n, generator=g),
                       0.1 * torch.randn(n, generator=g), 0.1 * torch.randn(n, generator=g)], 1)
    with torch.no_grad():
        out = body(pose, betas)
    kp = project_weak_perspective(out.lsp14, cam)
    kp = torch.cat([kp, torch.ones_like(kp[..., :1])], -1)
    from meshvid.geometry.rotations import axis_angle_to_matrix

    targets = Targets(rotmat=axis_angle_to_matrix(pose), betas=betas, joints3d=out.lsp14,
                      keypoints2d=kp, skeleton2d=kp)
    return body, rasterise(body, out.vertices, cam), targets


def test_dsd_overfits_a_few_synthetic_samples() -> None:
    """8 posed anny24 bodies, point-splatted into 64 px crops; the last block group, the head
    conv and every DSD head train (early backbone stages frozen, to keep this fast)."""
    torch.manual_seed(0)
    body, images, targets = make_samples()
    net = DSDNet(DSDConfig(
        variant="dsd",
        backbone=BackboneConfig(image_size=SIZE, frozen_stages=6),
        skeleton=SkeletonConfig(source="learned", joints="lsp14", deconv_channels=64))).train()
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    weights = LossWeights()
    history = []
    for _ in range(200):
        out = net(images)
        terms = compute_losses(out.theta, targets, weights, body=body, skeleton=out.skeleton)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        history.append({k: float(v.detach()) for k, v in terms.items()})
    first, last = history[0], history[-1]
    assert set(first) == {"pm", "3d", "2d", "2dj", "total"}
    assert last["total"] < first["total"] / 20, (first, last)
    for name in ("pm", "3d", "2d", "2dj"):
        assert last[name] < first[name] / 5, (name, first, last)
