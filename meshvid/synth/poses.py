"""A pose sampler within per-joint limits, for coverage beyond the motion clips.

Each joint's local rotation (SMPL convention: rest-pose world axes, x = body's left, y = up,
z = forward) is composed from three angles, R = Rz(c) @ Ry(b) @ Rx(a), each drawn within the
joint's range. In the T-pose, for the left side: hip/knee/ankle/spine flexion is about x
(knee flexion > 0 bends the shin backwards, hip flexion < 0 lifts the thigh forwards); the arm
lies along +x, so the shoulder swings it down/up about z (arm down = -90 deg) and
forwards/backwards about y (forwards < 0), and the elbow bends about y. The right side is the
mirror image of independently drawn left-side values.

Draws are biased towards the middle of each range (a symmetric Beta(2, 2)), which keeps most
poses natural while still reaching the limits.
"""

from __future__ import annotations

import numpy as np

from meshvid.body.joints import SMPL_24, SMPL_24_FLIP
from meshvid.synth.motion import rotvec_to_rotmat

_MIRROR = np.diag([-1.0, 1.0, 1.0])

# joint -> ((a_min, a_max) about x, (b_min, b_max) about y, (c_min, c_max) about z), radians,
# for the centre and LEFT joints. Right joints are mirrored.
LIMITS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "spine1": ((-0.25, 0.5), (-0.3, 0.3), (-0.25, 0.25)),
    "spine2": ((-0.2, 0.4), (-0.3, 0.3), (-0.2, 0.2)),
    "spine3": ((-0.2, 0.4), (-0.3, 0.3), (-0.2, 0.2)),
    "neck": ((-0.35, 0.5), (-0.6, 0.6), (-0.3, 0.3)),
    "head": ((-0.3, 0.4), (-0.5, 0.5), (-0.25, 0.25)),
    "left_hip": ((-1.9, 0.45), (-0.5, 0.6), (-0.3, 0.8)),
    "left_knee": ((0.0, 2.3), (-0.1, 0.1), (-0.05, 0.05)),
    "left_ankle": ((-0.5, 0.6), (-0.3, 0.3), (-0.25, 0.25)),
    "left_foot": ((-0.3, 0.3), (-0.05, 0.05), (-0.05, 0.05)),
    "left_collar": ((-0.15, 0.15), (-0.25, 0.2), (-0.15, 0.35)),
    "left_shoulder": ((-1.0, 1.0), (-1.4, 0.6), (-1.45, 1.2)),
    "left_elbow": ((-0.8, 0.8), (-2.4, 0.0), (-0.05, 0.05)),
    "left_wrist": ((-0.8, 0.8), (-0.4, 0.4), (-0.6, 0.6)),
    "left_hand": ((-0.3, 0.3), (-0.3, 0.1), (-0.2, 0.2)),
}


def _euler_to_rotmat(angles: np.ndarray) -> np.ndarray:
    """(..., 3) angles (a about x, b about y, c about z) -> Rz(c) @ Ry(b) @ Rx(a)."""
    z = np.zeros(angles.shape[:-1])
    rx = rotvec_to_rotmat(np.stack([angles[..., 0], z, z], -1))
    ry = rotvec_to_rotmat(np.stack([z, angles[..., 1], z], -1))
    rz = rotvec_to_rotmat(np.stack([z, z, angles[..., 2]], -1))
    return rz @ ry @ rx


def _draw(rng: np.random.Generator, lim: tuple[tuple[float, float], ...]) -> np.ndarray:
    lo = np.array([r[0] for r in lim])
    hi = np.array([r[1] for r in lim])
    return lo + (hi - lo) * rng.beta(2.0, 2.0, 3)


def _draw_joint(rng: np.random.Generator, name: str, lim) -> np.ndarray:
    angles = _draw(rng, lim)
    if name == "left_shoulder" and rng.random() < 0.15:
        angles[2] = rng.uniform(1.2, 2.4)  # arm raised above the shoulder (waving, reaching)
    return angles


def sample_pose(rng: np.random.Generator) -> np.ndarray:
    """(24, 3, 3) local rotations, root = identity (the caller orients the body)."""
    rot = np.tile(np.eye(3), (24, 1, 1))
    for name, lim in LIMITS.items():
        j = SMPL_24.index(name)
        rot[j] = _euler_to_rotmat(_draw_joint(rng, name, lim))
        if name.startswith("left_"):
            r = SMPL_24_FLIP[j]
            rot[r] = _MIRROR @ _euler_to_rotmat(_draw_joint(rng, name, lim)) @ _MIRROR
    # Symmetric arms now and then (both up, both forward...), as people often hold them.
    if rng.random() < 0.2:
        for name in ("left_shoulder", "left_elbow"):
            j = SMPL_24.index(name)
            rot[SMPL_24_FLIP[j]] = _MIRROR @ rot[j] @ _MIRROR
    return rot


def sample_root(rng: np.random.Generator) -> np.ndarray:
    """A world root rotation: mostly upright (small lean), now and then bent over or lying."""
    u = rng.random()
    yaw = rng.uniform(-np.pi, np.pi)
    if u < 0.85:
        tilt = rng.normal(0.0, 0.12, 2)
    elif u < 0.95:
        tilt = np.array([rng.uniform(0.3, 1.2), rng.normal(0, 0.2)])  # leaning forward
    else:
        tilt = np.array([rng.choice([-1.0, 1.0]) * np.pi / 2, rng.normal(0, 0.3)])  # lying
    yaw_m = rotvec_to_rotmat(np.array([0.0, yaw, 0.0]))
    tilt_m = rotvec_to_rotmat(np.array([tilt[0], 0.0, tilt[1]]))
    return yaw_m @ tilt_m
