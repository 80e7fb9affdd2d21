"""The body-model interface every backend (anny24, smpl) implements.

Pose layout (owned here): `pose` is (B, 24, 3) axis-angle in SMPL_24 order, root first; each
joint's rotation is relative to its parent, expressed in the rest-pose (T-pose) world axes,
exactly as SMPL defines it. `betas` is (B, 10). `transl` is (B, 3), added to every output point.
The body's own frame is SMPL's: y up, x to the body's left, z forward (out of the chest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from meshvid.body.joints import NUM_BETAS, NUM_JOINTS, SMPL_24_PARENTS


@dataclass
class BodyOutput:
    vertices: torch.Tensor  # (B, V, 3)
    joints: torch.Tensor  # (B, 24, 3) posed SMPL_24 joint centres
    lsp14: torch.Tensor  # (B, 14, 3) LSP_14 joints regressed from the vertices
    coco17: torch.Tensor  # (B, 17, 3) COCO_17 keypoints regressed from the vertices
    joint_transforms: torch.Tensor | None = None  # (B, 24, 4, 4) world transforms of the joints


class BodyModel(nn.Module):
    """Base class: subclasses fill the buffers and implement `forward_rotmat`."""

    name: str = "body"
    num_joints: int = NUM_JOINTS
    num_betas: int = NUM_BETAS
    parents: tuple[int, ...] = SMPL_24_PARENTS

    @property
    def faces(self) -> np.ndarray:  # (F, 3) int64 triangle indices
        raise NotImplementedError

    @property
    def num_vertices(self) -> int:
        raise NotImplementedError

    @property
    def lbs_weights(self) -> torch.Tensor:  # (V, 24) skinning weights, rows sum to 1
        raise NotImplementedError

    def adult_betas(self) -> torch.Tensor:
        """(10,) the shape of an average adult: where `meshvid infer` shrinks the networks'
        shape to (InferOptions.shape_weight). SMPL's mean shape is an adult's (zeros)."""
        return torch.zeros(self.num_betas)

    def rest_shape(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """betas (B, 10) -> rest-pose (T-pose) vertices (B, V, 3) and joints (B, 24, 3).

        Exporters build a rig from these: bind pose = rest pose, joints at the rest joints.
        """
        raise NotImplementedError

    def forward_rotmat(
        self, rotmats: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor | None = None
    ) -> BodyOutput:
        """rotmats (B, 24, 3, 3), betas (B, 10), transl (B, 3) -> BodyOutput."""
        raise NotImplementedError

    def coco17_rig(self, betas: torch.Tensor) -> torch.Tensor:
        """The COCO-17 keypoints as points skinned to the joints: betas (B, 10) -> (B, 17, 24, 4).

        Row [b, k, j] is the homogeneous rest-space point (x, y, z, w) that joint j's skinning
        transform carries towards keypoint k, so that for any pose

            coco17[b, k] = sum_j  A[b, j] @ rig[b, k, j],   A = skinning_transforms (B, 24, 3, 4)

        (LBS is linear in the rest points, so a keypoint regressed from skinned vertices is the
        skinning of its regressor-weighted, weight-split rest points). Pose fitting uses this
        to move the 17 keypoints with forward kinematics alone, without skinning the mesh.
        """
        raise NotImplementedError

    @staticmethod
    def batch_inputs(rotmats: torch.Tensor, betas: torch.Tensor, dtype: torch.dtype
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """forward_rotmat's argument check: (B, 24, 3, 3) rotations; one betas row is shared by
        the whole batch. Both returned in `dtype`."""
        if rotmats.shape[1:] != (24, 3, 3):
            raise ValueError(f"rotmats must be (B, 24, 3, 3), got {tuple(rotmats.shape)}")
        b = rotmats.shape[0]
        betas = betas.to(dtype)
        return rotmats.to(dtype), betas.expand(b, -1) if betas.shape[0] != b else betas

    def forward(
        self, pose: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor | None = None
    ) -> BodyOutput:
        from meshvid.geometry.rotations import axis_angle_to_matrix

        return self.forward_rotmat(axis_angle_to_matrix(pose), betas, transl)
