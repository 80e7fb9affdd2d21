"""Losses (L_pm, L_3d, L_2d, L_2DJ, L_r, L_s) and the HMR-style discriminator."""

from __future__ import annotations

import torch

from meshvid.body.base import BodyModel, BodyOutput
from meshvid.geometry.camera import project_weak_perspective
from meshvid.geometry.rotations import axis_angle_to_matrix, matrix_to_sixd
from meshvid.model.config import DiscriminatorConfig, LossWeights
from meshvid.model.discriminator import (
    Discriminator,
    discriminator_loss,
    generator_adversarial_loss,
)
from meshvid.model.losses import Targets, compute_losses, root_align
from meshvid.model.skeleton import SkeletonOutput
from meshvid.model.sorting import random_permutations, sorting_targets
from meshvid.model.theta import Theta


class StickBody(BodyModel):
    """A tiny skeleton-only body for testing the loss plumbing: forward kinematics of the SMPL
    tree with beta-scaled bone offsets; 'vertices' are the joints."""

    name = "stick"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("rest", torch.randn(24, 3, generator=g) * 0.2)
        self.register_buffer("shape_dirs", torch.randn(10, 24, 3, generator=g) * 0.01)
        self.lsp_idx = [8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15]
        self.coco_idx = [15, 15, 15, 15, 15, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8]

    def forward_rotmat(self, rotmats, betas, transl=None) -> BodyOutput:
        rest = self.rest + torch.einsum("bk,kjc->bjc", betas, self.shape_dirs)
        rots, pos = [], []
        for j, p in enumerate(self.parents):
            if p < 0:
                rots.append(rotmats[:, j])
                pos.append(rotmats[:, j] @ rest[:, j, :, None])
            else:
                rots.append(rots[p] @ rotmats[:, j])
                pos.append(pos[p] + rots[p] @ (rest[:, j] - rest[:, p])[..., None])
        joints = torch.stack(pos, 1)[..., 0]
        if transl is not None:
            joints = joints + transl[:, None]
        return BodyOutput(joints, joints, joints[:, self.lsp_idx], joints[:, self.coco_idx])


def random_theta(b: int, seed: int) -> Theta:
    g = torch.Generator().manual_seed(seed)
    aa = torch.randn(b, 24, 3, generator=g) * 0.3
    return Theta(matrix_to_sixd(axis_angle_to_matrix(aa)), torch.randn(b, 10, generator=g),
                 torch.tensor([[0.9, 0.1, -0.05]]).repeat(b, 1))


def perfect_targets(theta: Theta, body: BodyModel) -> Targets:
    out = body.forward_rotmat(theta.rotmat, theta.betas)
    kp = project_weak_perspective(out.lsp14, theta.cam)
    return Targets(rotmat=theta.rotmat.clone(), betas=theta.betas.clone(),
                   joints3d=out.lsp14.detach().clone(),
                   keypoints2d=torch.cat([kp, torch.ones_like(kp[..., :1])], -1).detach())


def test_losses_vanish_for_a_perfect_prediction_and_grow_with_error() -> None:
    body, theta = StickBody(), random_theta(4, 0)
    targets = perfect_targets(theta, body)
    w = LossWeights()
    terms = compute_losses(theta, targets, w, body=body)
    assert set(terms) == {"pm", "3d", "2d", "total"}
    for name in ("pm", "3d", "2d", "total"):
        assert terms[name].abs() < 1e-6, name
    worse = random_theta(4, 1)
    terms = compute_losses(worse, targets, w, body=body)
    assert all(terms[n] > 1e-3 for n in ("pm", "3d", "2d"))
    expected = w.w_pm * terms["pm"] + w.w_3d * terms["3d"] + w.w_2d * terms["2d"]
    assert torch.allclose(terms["total"], expected)
    assert (w.w_pm, w.w_r, w.w_2d, w.w_3d) == (20.0, 0.6, 10.0, 60.0)  # the paper's weights


def test_3d_loss_is_root_aligned_and_2d_loss_respects_visibility() -> None:
    body, theta = StickBody(), random_theta(3, 0)
    targets = perfect_targets(theta, body)
    targets.joints3d = targets.joints3d + torch.tensor([0.3, -1.0, 4.0])  # a global shift
    targets.keypoints2d[:, 5, :2] += 10.0  # a wrong label ...
    targets.keypoints2d[:, 5, 2] = 0.0  # ... that is invisible
    targets.rotmat = None
    terms = compute_losses(theta, targets, LossWeights(), body=body)
    assert terms["3d"] < 1e-8 and terms["2d"] < 1e-6
    hips = root_align(targets.joints3d, "lsp14")[:, [2, 3]]
    assert torch.allclose(hips.mean(1), torch.zeros(3, 3), atol=1e-6)


def test_sample_masks_select_which_samples_are_supervised() -> None:
    body, theta = StickBody(), random_theta(2, 0)
    targets = perfect_targets(theta, body)
    targets.rotmat[1] = torch.eye(3)  # wrong labels on sample 1 ...
    targets.joints3d[1] += torch.randn(14, 3)
    targets.has_params = torch.tensor([1.0, 0.0])  # ... which has none
    targets.has_3d = torch.tensor([1.0, 0.0])
    terms = compute_losses(theta, targets, LossWeights(), body=body)
    assert terms["pm"] < 1e-8 and terms["3d"] < 1e-8


def test_skeleton_adversarial_and_sorting_terms() -> None:
    theta = random_theta(2, 0)
    gt = torch.rand(2, 14, 2) * 2 - 1
    skel = SkeletonOutput(gt.flatten(1), gt + 0.1, torch.ones(2, 14), torch.zeros(2, 14, 4, 4))
    perm = random_permutations(2, 9)
    w = LossWeights()
    terms = compute_losses(theta, Targets(skeleton2d=torch.cat([gt, torch.ones(2, 14, 1)], -1)),
                           w, skeleton=skel, fake_scores=torch.ones(2, 25),
                           sort_scores=sorting_targets(8 - perm, 1.0), permutation=perm)
    assert torch.allclose(terms["2dj"], torch.tensor(0.1))  # L1
    assert terms["r"] == 0 and terms["s"] == 0  # D fooled; reversed order is as good
    assert torch.allclose(terms["total"], w.w_2dj * terms["2dj"])


def test_discriminator_shapes_ignores_root_and_lsgan_losses() -> None:
    torch.manual_seed(0)
    disc = Discriminator(DiscriminatorConfig())
    theta = random_theta(5, 0)
    scores = disc(theta.rotmat, theta.betas)
    assert scores.shape == (5, 25)
    other_root = theta.rotmat.clone()
    other_root[:, 0] = torch.eye(3)
    assert torch.equal(disc(other_root, theta.betas), scores)
    assert torch.equal(disc(theta.rotmat[:, 1:], theta.betas), scores)
    ones, zeros = torch.ones(4, 25), torch.zeros(4, 25)
    assert generator_adversarial_loss(ones) == 0 and generator_adversarial_loss(zeros) == 25
    assert discriminator_loss(ones, zeros) == 0 and discriminator_loss(zeros, ones) == 50


def test_discriminator_learns_to_tell_real_from_implausible_poses() -> None:
    """Real: small joint rotations (as in motion data); fake: large random ones."""
    torch.manual_seed(0)
    disc = Discriminator()
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(250):
        real = axis_angle_to_matrix(torch.randn(32, 24, 3, generator=g) * 0.15)
        fake = axis_angle_to_matrix(torch.randn(32, 24, 3, generator=g) * 1.5)
        betas = torch.randn(32, 10, generator=g)
        loss = discriminator_loss(disc(real, betas), disc(fake, betas * 4))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real = axis_angle_to_matrix(torch.randn(64, 24, 3, generator=g) * 0.15)
        fake = axis_angle_to_matrix(torch.randn(64, 24, 3, generator=g) * 1.5)
        betas = torch.randn(64, 10, generator=g)
        assert generator_adversarial_loss(disc(real, betas)) < 2.0
        assert generator_adversarial_loss(disc(fake, betas * 4)) > 15.0
