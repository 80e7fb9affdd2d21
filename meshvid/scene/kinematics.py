"""Skeletons and skins in numpy: forward kinematics and linear blend skinning for one rest
skeleton (the numpy twins of meshvid/body/lbs.py), shared by the floor, the foot lock and the
export rig. Frames are whatever frame the pose's root rotation and `transl` are in (camera or
world, meshvid/scene/world.py).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from meshvid.body.joints import SMPL_24_PARENTS


def axis_angle_to_matrix(pose: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3)."""
    flat = pose.reshape(-1, 3).astype(np.float64)
    return Rotation.from_rotvec(flat).as_matrix().reshape(*pose.shape[:-1], 3, 3)


def forward_kinematics(
    rotmats: np.ndarray, rest_joints: np.ndarray, parents: tuple[int, ...] = SMPL_24_PARENTS
) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of meshvid/body/lbs.forward_kinematics for one rest skeleton.

    rotmats (T, J, 3, 3) local rotations, rest_joints (J, 3) -> world rotations (T, J, 3, 3) and
    posed joints (T, J, 3) (root at its rest position: add `transl`).
    """
    t = rotmats.shape[0]
    world_rot = np.empty_like(rotmats, dtype=np.float64)
    joints = np.empty((t, len(parents), 3), dtype=np.float64)
    for j, p in enumerate(parents):
        if p < 0:
            world_rot[:, j] = rotmats[:, j]
            joints[:, j] = rest_joints[j]
        else:
            world_rot[:, j] = world_rot[:, p] @ rotmats[:, j]
            joints[:, j] = joints[:, p] + world_rot[:, p] @ (rest_joints[j] - rest_joints[p])
    return world_rot, joints


def person_fk(person, rest_joints_body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A PersonMotion's joint rotations (T, 24, 3, 3) and positions (T, 24, 3), metres, in the
    frame of its pose and `transl` (camera space, or the world for a world-frame person)."""
    world_rot, joints = forward_kinematics(axis_angle_to_matrix(person.pose), rest_joints_body)
    return world_rot, joints + person.transl[:, None, :].astype(np.float64)


def skin(rest_vertices: np.ndarray, rest_joints: np.ndarray, weights: np.ndarray,
         world_rot: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Linear blend skinning in numpy: rest mesh (V, 3) -> posed meshes (T, V, 3) for world
    joint rotations (T, J, 3, 3) and posed joint positions (T, J, 3)."""
    t = world_rot.shape[0]
    trans = joints - (world_rot @ rest_joints[..., None])[..., 0]
    mats = np.concatenate([world_rot.reshape(t, -1, 9), trans], -1)  # (T, J, 12)
    blended = np.matmul(weights.astype(np.float64)[None], mats)  # (T, V, 12), one BLAS call
    rot = blended[..., :9].reshape(t, -1, 3, 3)
    return (rot * rest_vertices[None, :, None, :]).sum(-1) + blended[..., 9:]
