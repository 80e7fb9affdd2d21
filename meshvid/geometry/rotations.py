"""Rotation conversions between the layouts meshvid uses, delegated to roma.

Layouts: axis-angle (..., 3), rotation matrix (..., 3, 3), and the continuous 6D
representation of Zhou et al. (..., 6) = the first two *columns* of the matrix, stacked
(roma's convention), which the networks regress.
"""

from __future__ import annotations

import roma
import torch


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    return roma.rotvec_to_rotmat(rotvec)


def matrix_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    return roma.rotmat_to_rotvec(rotmat)


def sixd_to_matrix(sixd: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) via Gram-Schmidt on two column vectors."""
    return roma.special_gramschmidt(sixd.reshape(*sixd.shape[:-1], 2, 3).transpose(-1, -2))


def matrix_to_sixd(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    return rotmat[..., :, :2].transpose(-1, -2).reshape(*rotmat.shape[:-2], 6)


def sixd_to_axis_angle(sixd: torch.Tensor) -> torch.Tensor:
    return matrix_to_axis_angle(sixd_to_matrix(sixd))


def axis_angle_to_sixd(rotvec: torch.Tensor) -> torch.Tensor:
    return matrix_to_sixd(axis_angle_to_matrix(rotvec))


def quaternion_wxyz_to_matrix(quat_wxyz: torch.Tensor) -> torch.Tensor:
    """Quaternions stored w-first (as DeepMimic and Blender do) -> rotation matrices."""
    return roma.unitquat_to_rotmat(roma.quat_wxyz_to_xyzw(quat_wxyz))


def matrix_to_quaternion_wxyz(rotmat: torch.Tensor) -> torch.Tensor:
    return roma.quat_xyzw_to_wxyz(roma.rotmat_to_unitquat(rotmat))


def geodesic_angle(rot_a: torch.Tensor, rot_b: torch.Tensor) -> torch.Tensor:
    """Angle in radians of the relative rotation between two stacks of matrices."""
    return roma.rotmat_geodesic_distance(rot_a, rot_b)
