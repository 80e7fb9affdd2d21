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


def interpolate_rotmats(key_times: torch.Tensor, key_rotmats: torch.Tensor,
                        times: torch.Tensor) -> torch.Tensor:
    """Geodesic (slerp) interpolation of rotations keyed at increasing `key_times` (K,):
    key_rotmats (K, ..., 3, 3) -> (T, ..., 3, 3) at `times` (T,); held constant outside the keys.
    R(t) = R_i exp(a log(R_i^T R_{i+1})), a = (t - t_i) / (t_{i+1} - t_i)."""
    k = len(key_times)
    if k == 1:
        return key_rotmats[:1].expand(len(times), *key_rotmats.shape[1:]).clone()
    seg, alpha = _segments(key_times, times)
    r0, r1 = key_rotmats[seg], key_rotmats[seg + 1]
    rel = roma.rotmat_to_rotvec(r0.transpose(-1, -2) @ r1)
    alpha = alpha.reshape(-1, *([1] * (rel.ndim - 1))).to(rel.dtype)
    return r0 @ roma.rotvec_to_rotmat(alpha * rel)


def interpolate_linear(key_times: torch.Tensor, key_values: torch.Tensor,
                       times: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of (K, ...) values to (T, ...), as interpolate_rotmats."""
    if len(key_times) == 1:
        return key_values[:1].expand(len(times), *key_values.shape[1:]).clone()
    seg, alpha = _segments(key_times, times)
    alpha = alpha.reshape(-1, *([1] * (key_values.ndim - 1))).to(key_values.dtype)
    return key_values[seg] * (1 - alpha) + key_values[seg + 1] * alpha


def _segments(key_times: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the key segment holding each time, and the fraction along it (clamped to 0..1)."""
    key_times = key_times.to(torch.float64)
    times = times.to(torch.float64)
    seg = (torch.searchsorted(key_times, times, right=True) - 1).clamp(0, len(key_times) - 2)
    t0, t1 = key_times[seg], key_times[seg + 1]
    alpha = ((times - t0) / (t1 - t0).clamp(min=1e-12)).clamp(0.0, 1.0)
    return seg, alpha
