"""Batched, differentiable linear blend skinning shared by the body backends.

Conventions (SMPL's): each joint's rotation is relative to its parent and expressed in the
rest-pose world axes; the root's rotation is about the root joint. Forward kinematics gives,
per joint j, the world rotation R_j = R_parent(j) @ rot_j and the posed joint position
p_j = p_parent(j) + R_parent(j) @ (rest_j - rest_parent(j)). A rest vertex v skinned to joint j
moves to R_j @ (v - rest_j) + p_j. LBS blends these per-joint rigid maps with the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def forward_kinematics(
    rotmats: torch.Tensor, rest_joints: torch.Tensor, parents: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed joint frames from local rotations.

    rotmats (B, J, 3, 3) local rotations, rest_joints (B, J, 3), parents (J,) with parents[0] = -1
    and every parent listed before its children.
    Returns (world_rotations (B, J, 3, 3), posed_joints (B, J, 3)).
    """
    rot_list: list[torch.Tensor] = []
    pos_list: list[torch.Tensor] = []
    for j, p in enumerate(parents):
        if p < 0:
            rot_list.append(rotmats[:, j])
            pos_list.append(rest_joints[:, j])
        else:
            offset = rest_joints[:, j] - rest_joints[:, p]
            rot_list.append(rot_list[p] @ rotmats[:, j])
            pos_list.append(pos_list[p] + (rot_list[p] @ offset.unsqueeze(-1)).squeeze(-1))
    return torch.stack(rot_list, dim=1), torch.stack(pos_list, dim=1)


def skinning_transforms(
    world_rotations: torch.Tensor, posed_joints: torch.Tensor, rest_joints: torch.Tensor
) -> torch.Tensor:
    """(B, J, 3, 4) maps from rest space to posed space: v -> R_j v + (p_j - R_j rest_j)."""
    t = posed_joints - (world_rotations @ rest_joints.unsqueeze(-1)).squeeze(-1)
    return torch.cat([world_rotations, t.unsqueeze(-1)], dim=-1)


def blend_and_apply(
    rest_vertices: torch.Tensor, weights: torch.Tensor, transforms: torch.Tensor
) -> torch.Tensor:
    """LBS proper: rest_vertices (B, V, 3), weights (V, J), transforms (B, J, 3, 4) -> (B, V, 3).

    The per-vertex blended 3x4 matrices come from one (V, J) @ (B, J, 12) matmul, applied with a
    batched 3x3 product; of the formulations measured on CPU (scripts/bench_body.py) this was the
    fastest for J = 24 and V ~ 7000.
    """
    b, j = transforms.shape[:2]
    blended = torch.matmul(weights, transforms.reshape(b, j, 12)).view(b, -1, 3, 4)
    return torch.einsum("bvij,bvj->bvi", blended[..., :3], rest_vertices) + blended[..., 3]


def lbs(
    rotmats: torch.Tensor,
    rest_vertices: torch.Tensor,
    rest_joints: torch.Tensor,
    weights: torch.Tensor,
    parents: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pose a rest mesh.

    rotmats (B, J, 3, 3), rest_vertices (B, V, 3), rest_joints (B, J, 3), weights (V, J).
    Returns (vertices (B, V, 3), joints (B, J, 3), joint_transforms (B, J, 4, 4)), where
    joint_transforms[b, j] = [R_j | p_j], the joint's world frame (rest-aligned axes rotated by
    the accumulated pose, origin at the posed joint).
    """
    world_rot, joints = forward_kinematics(rotmats, rest_joints, parents)
    vertices = blend_and_apply(rest_vertices, weights, skinning_transforms(world_rot, joints, rest_joints))
    return vertices, joints, homogeneous(world_rot, joints)


def homogeneous(rotations: torch.Tensor, translations: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3), (..., 3) -> (..., 4, 4)."""
    bottom = torch.zeros(rotations.shape[:-2] + (1, 4), dtype=rotations.dtype, device=rotations.device)
    bottom[..., 0, 3] = 1.0
    top = torch.cat([rotations, translations.unsqueeze(-1)], dim=-1)
    return torch.cat([top, bottom], dim=-2)
