"""The training losses of section 3.4:

    L_Θ = w_pm L_pm + w_3d L_3d + w_2d L_2d + w_r L_r   (eq. 5), plus w_2dj L_2DJ and w_s L_s.

* L_pm  — mocap parameters, L2: the 24 joint rotations as 3x3 matrices (Rodrigues, "for stable
          training") plus the betas (as HMR), on samples that have parameter labels.
* L_3d  — 3D joints, L2, after aligning both skeletons at their root (hip centre / pelvis):
          J3d = P_3d(M(β, θ)) is the body model's regressed joint set (LSP-14 in the paper).
* L_2d  — 2D keypoints, L1, of J2d = weak-perspective projection of J3d (eq. 7,
          meshvid.geometry.camera.project_weak_perspective; J3d relative to the body origin).
* L_2DJ — the skeleton branch's own 2D joints x_s, L1 (learned skeleton only).
* L_r   — rationality: the HMR discriminator's adversarial loss (discriminator.py).
* L_s   — order recovery: sorting loss (sorting.py), SATN variant `satn` only.

2D targets are (B, J, 3): crop-normalised x, y and a visibility/confidence weight; 3D targets
are (B, J, 3) or (B, J, 4) with a weight in the last column. Any term whose targets are absent
(None) or masked out for the whole batch contributes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from meshvid.body import joints as J
from meshvid.body.base import BodyModel, BodyOutput
from meshvid.geometry.camera import project_weak_perspective
from meshvid.model.config import LossWeights
from meshvid.model.discriminator import generator_adversarial_loss
from meshvid.model.skeleton import SkeletonOutput
from meshvid.model.sorting import sorting_loss
from meshvid.model.theta import Theta

# Root used to align 3D skeletons, per joint set: the two hips' midpoint, or SMPL's pelvis.
ROOTS: dict[str, tuple[int, ...]] = {
    "lsp14": (J.index(J.LSP_14, "right_hip"), J.index(J.LSP_14, "left_hip")),
    "coco17": (J.index(J.COCO_17, "right_hip"), J.index(J.COCO_17, "left_hip")),
    "smpl24": (J.index(J.SMPL_24, "pelvis"),),
}


def body_joints(out: BodyOutput, joint_set: str) -> torch.Tensor:
    return {"lsp14": out.lsp14, "coco17": out.coco17, "smpl24": out.joints}[joint_set]


def root_align(joints: torch.Tensor, joint_set: str) -> torch.Tensor:
    return joints - joints[:, list(ROOTS[joint_set])].mean(dim=1, keepdim=True)


@dataclass
class Targets:
    """Labels for one batch; every field optional (datasets label different things)."""

    rotmat: torch.Tensor | None = None  # (B, 24, 3, 3) mocap pose
    betas: torch.Tensor | None = None  # (B, 10)
    has_params: torch.Tensor | None = None  # (B,) 1 where rotmat/betas are real labels
    joints3d: torch.Tensor | None = None  # (B, J, 3|4), metres, camera axes
    has_3d: torch.Tensor | None = None  # (B,)
    joints3d_set: str = "lsp14"
    keypoints2d: torch.Tensor | None = None  # (B, J, 3) crop-normalised + weight
    keypoints2d_set: str = "lsp14"
    skeleton2d: torch.Tensor | None = None  # (B, K, 3) in the skeleton branch's joint set


def _masked_mean(per_sample: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_sample.mean()
    mask = mask.to(per_sample.dtype)
    return (per_sample * mask).sum() / mask.sum().clamp(min=1.0)


def params_loss(theta: Theta, rotmat: torch.Tensor, betas: torch.Tensor | None,
                mask: torch.Tensor | None, w_betas: float = 1.0) -> torch.Tensor:
    """L_pm: L2 between rotation matrices (and betas)."""
    per = ((theta.rotmat - rotmat) ** 2).flatten(1).mean(1)
    if betas is not None:
        per = per + w_betas * ((theta.betas - betas) ** 2).mean(1)
    return _masked_mean(per, mask)


def joints3d_loss(pred: torch.Tensor, target: torch.Tensor, joint_set: str,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """L_3d: L2 between root-aligned 3D joints (squared distance, averaged over weights)."""
    weight = target[..., 3] if target.shape[-1] == 4 else torch.ones_like(target[..., 0])
    diff = root_align(pred, joint_set) - root_align(target[..., :3], joint_set)
    per = ((diff**2).sum(-1) * weight).sum(1) / weight.sum(1).clamp(min=1e-6)
    return _masked_mean(per, mask)


def keypoints2d_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between 2D points, weighted by the target's visibility (last column)."""
    weight = target[..., 2:3]
    return ((pred - target[..., :2]).abs() * weight).sum() / (2.0 * weight.sum()).clamp(min=1.0)


def compute_losses(
    theta: Theta,
    targets: Targets,
    weights: LossWeights,
    body: BodyModel | None = None,
    skeleton: SkeletonOutput | None = None,
    fake_scores: torch.Tensor | None = None,
    sort_scores: torch.Tensor | None = None,
    permutation: torch.Tensor | None = None,
    sort_sigma: float = 1.0,
) -> dict[str, torch.Tensor]:
    """All terms present for this batch, unweighted, plus 'total' = the weighted sum.

    `body` is needed for L_3d/L_2d; `fake_scores` = discriminator(theta.rotmat, theta.betas)
    for L_r; `sort_scores`/`permutation` from SATN for L_s.
    """
    terms: dict[str, torch.Tensor] = {}
    weighted: list[torch.Tensor] = []

    def add(name: str, value: torch.Tensor, w: float) -> None:
        terms[name] = value
        weighted.append(w * value)

    if targets.rotmat is not None:
        add("pm", params_loss(theta, targets.rotmat, targets.betas, targets.has_params,
                              weights.w_betas), weights.w_pm)
    need_body = targets.joints3d is not None or targets.keypoints2d is not None
    if need_body:
        if body is None:
            raise ValueError("L_3d / L_2d need the body model")
        out = body.forward_rotmat(theta.rotmat, theta.betas)
        if targets.joints3d is not None:
            pred3d = body_joints(out, targets.joints3d_set)
            add("3d", joints3d_loss(pred3d, targets.joints3d, targets.joints3d_set,
                                    targets.has_3d), weights.w_3d)
        if targets.keypoints2d is not None:
            pred2d = project_weak_perspective(body_joints(out, targets.keypoints2d_set), theta.cam)
            add("2d", keypoints2d_loss(pred2d, targets.keypoints2d), weights.w_2d)
    if skeleton is not None and skeleton.heatmaps is not None and targets.skeleton2d is not None:
        add("2dj", keypoints2d_loss(skeleton.joints2d, targets.skeleton2d), weights.w_2dj)
    if fake_scores is not None:
        add("r", generator_adversarial_loss(fake_scores), weights.w_r)
    if sort_scores is not None and permutation is not None:
        add("s", sorting_loss(sort_scores, permutation, sort_sigma), weights.w_s)
    if weighted:
        terms["total"] = torch.stack(weighted).sum()
    else:
        terms["total"] = theta.pose_6d.sum() * 0.0
    return terms
