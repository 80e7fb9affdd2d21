"""Θ, the body parameters every regressor here outputs, and the head that regresses them.

Layout (owned here): pose for the 24 SMPL_24 joints as the continuous 6D rotation of Zhou et al.
(meshvid.geometry.rotations: the first two matrix columns) — axis-angle and rotation matrices
are derived from it; 10 betas; a weak-perspective camera (s, tx, ty) in meshvid.geometry.camera's
convention (x_crop = s * (X_xy + t), X relative to the body-model origin, camera axes OpenCV).

The head regresses Θ as a residual from mean parameters (a direct, single-step version of HMR's
iterative regression, whose mean initialisation it keeps): the last layer starts near zero, so an
untrained network already outputs an upright person facing the camera, filling the crop. The
scale is s = softplus(raw) so it stays positive whatever the layer outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from meshvid.body.joints import NUM_BETAS, NUM_JOINTS
from meshvid.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_sixd,
    sixd_to_matrix,
)

POSE_DIM = NUM_JOINTS * 6
THETA_DIM = POSE_DIM + NUM_BETAS + 3
DEFAULT_CAM_SCALE = 0.9  # a ~1.7 m person spans ~80% of the crop's [-1, 1] extent


@dataclass
class Theta:
    pose_6d: torch.Tensor  # (..., 24, 6)
    betas: torch.Tensor  # (..., 10)
    cam: torch.Tensor  # (..., 3): s > 0, tx, ty

    @property
    def rotmat(self) -> torch.Tensor:  # (..., 24, 3, 3)
        return sixd_to_matrix(self.pose_6d)

    def axis_angle(self) -> torch.Tensor:  # (..., 24, 3), the BodyModel pose layout
        return matrix_to_axis_angle(self.rotmat)

    def reshape(self, *shape: int) -> "Theta":
        return Theta(self.pose_6d.reshape(*shape, NUM_JOINTS, 6),
                     self.betas.reshape(*shape, NUM_BETAS), self.cam.reshape(*shape, 3))

    def detach(self) -> "Theta":
        return Theta(self.pose_6d.detach(), self.betas.detach(), self.cam.detach())

    def vector(self) -> torch.Tensor:
        """(..., 157): pose 6D, betas, cam — a flat form for storage and comparisons."""
        return torch.cat([self.pose_6d.flatten(-2), self.betas, self.cam], dim=-1)


def facing_camera_root() -> torch.Tensor:
    """Root rotation of an upright body facing an OpenCV camera (body y up -> camera y down,
    body z forward -> towards the camera): 180 degrees about x."""
    return torch.tensor([math.pi, 0.0, 0.0])


def softplus_inverse(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class ThetaHead(nn.Module):
    """feature -> [2 x (FC, ReLU) of width `hidden`] -> FC -> Θ, as a residual from the mean
    parameters (stored as buffers). hidden=0: the single FC."""

    def __init__(self, in_dim: int, hidden: int = 0) -> None:
        super().__init__()
        self.mlp: nn.Module = nn.Identity()
        if hidden > 0:
            self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                                     nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
            in_dim = hidden
        self.fc = nn.Linear(in_dim, THETA_DIM)
        # Small initial residuals (HMR's final layer uses xavier with gain 0.01).
        nn.init.xavier_uniform_(self.fc.weight, gain=0.01)
        nn.init.zeros_(self.fc.bias)
        self.register_buffer("mean_pose_6d", torch.zeros(NUM_JOINTS, 6))
        self.register_buffer("mean_betas", torch.zeros(NUM_BETAS))
        self.register_buffer("mean_cam_raw", torch.zeros(3))
        pose = torch.zeros(NUM_JOINTS, 3)
        pose[0] = facing_camera_root()
        self.set_mean(pose, torch.zeros(NUM_BETAS), torch.tensor([DEFAULT_CAM_SCALE, 0.0, 0.0]))

    @torch.no_grad()
    def set_mean(self, pose_axis_angle: torch.Tensor, betas: torch.Tensor,
                 cam: torch.Tensor) -> None:
        """Set the mean Θ (e.g. from training-data statistics): pose (24, 3), betas, cam."""
        self.mean_pose_6d.copy_(matrix_to_sixd(axis_angle_to_matrix(pose_axis_angle.float())))
        self.mean_betas.copy_(betas)
        self.mean_cam_raw.copy_(torch.stack([
            torch.tensor(softplus_inverse(float(cam[0]))), cam[1].float(), cam[2].float()]))

    def forward(self, feature: torch.Tensor) -> Theta:
        delta = self.fc(self.mlp(feature))
        lead = delta.shape[:-1]
        pose = self.mean_pose_6d + delta[..., :POSE_DIM].reshape(*lead, NUM_JOINTS, 6)
        betas = self.mean_betas + delta[..., POSE_DIM:POSE_DIM + NUM_BETAS]
        cam_raw = self.mean_cam_raw + delta[..., POSE_DIM + NUM_BETAS:]
        cam = torch.cat([F.softplus(cam_raw[..., :1]), cam_raw[..., 1:]], dim=-1)
        return Theta(pose, betas, cam)
