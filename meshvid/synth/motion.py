"""Motion clips in the body's own layout, and the operations the generators apply to them.

A `MotionClip` holds, per frame, the 24 SMPL_24 *local* joint rotations (as rotation matrices,
SMPL's convention: relative to the parent, in rest-pose world axes) and the pelvis position,
both in the clip's "motion world": SMPL's body frame extended to the scene, i.e. y up, and a
body whose root rotation is the identity faces +z. Cameras are placed in this world later;
the pose labels only become camera-relative when a scene is rendered (see labels.py).

Everything here is float64 numpy; rotations go through roma (torch) in small batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import roma
import torch

from meshvid.body.joints import NUM_JOINTS, SMPL_24_FLIP

# Mirroring the body frame left<->right is a reflection of x. Conjugating a rotation by it gives
# the mirrored rotation (in axis-angle: (a, b, c) -> (a, -b, -c)).
_MIRROR = np.diag([-1.0, 1.0, 1.0])


@dataclass
class MotionClip:
    name: str  # e.g. "deepmimic/humanoid3d_walk" (held-out checks use this)
    source: str  # "deepmimic", "anny-walkcycle", "sampler", or a combination after blending
    fps: float
    rotmats: np.ndarray  # (T, 24, 3, 3) local rotations
    root_pos: np.ndarray  # (T, 3) pelvis position in the motion world, metres
    loop: bool = False  # the last frame leads back into the first (cycle offset applied)
    cycle_yaw: float = 0.0  # a loop's turn per cycle (radians about y)
    cycle_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # its ground shift
    tags: tuple[str, ...] = ()  # augmentations applied, for the labels' provenance

    def __post_init__(self) -> None:
        t = len(self.rotmats)
        if self.rotmats.shape != (t, NUM_JOINTS, 3, 3) or self.root_pos.shape != (t, 3):
            raise ValueError(f"{self.name}: bad shapes {self.rotmats.shape}, {self.root_pos.shape}")

    @property
    def num_frames(self) -> int:
        return len(self.rotmats)

    @property
    def duration(self) -> float:
        """Seconds covered: (T - 1) / fps for a one-shot clip, T / fps for a loop."""
        return (self.num_frames if self.loop else self.num_frames - 1) / self.fps

    def axis_angle(self) -> np.ndarray:
        """(T, 24, 3) axis-angle, the pose layout of meshvid.body.base."""
        return rotmat_to_rotvec(self.rotmats)


# --- rotation helpers (numpy in, numpy out; roma does the maths)

def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float64))


def rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    return roma.rotvec_to_rotmat(_t(rotvec)).numpy()


def rotmat_to_rotvec(rotmat: np.ndarray) -> np.ndarray:
    return roma.rotmat_to_rotvec(_t(rotmat)).numpy()


def quat_wxyz_to_rotmat(quat_wxyz: np.ndarray) -> np.ndarray:
    q = _t(quat_wxyz)
    q = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return roma.unitquat_to_rotmat(roma.quat_wxyz_to_xyzw(q)).numpy()


def rotmat_power(rotmat: np.ndarray, fraction: float | np.ndarray) -> np.ndarray:
    """R^f: the same axis, the angle scaled by f (rotations about one axis commute, so the
    powers f1 + f2 + ... = 1 of R compose back to R exactly)."""
    rv = rotmat_to_rotvec(rotmat)
    f = np.asarray(fraction, dtype=np.float64)
    return rotvec_to_rotmat(rv * (f[..., None] if f.ndim else f))


def shortest_arc(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction `src` to direction `dst` (both (3,))."""
    a = src / np.linalg.norm(src)
    b = dst / np.linalg.norm(dst)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    c = float(np.clip(a @ b, -1.0, 1.0))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        # Opposite directions: any perpendicular axis.
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return rotvec_to_rotmat(perp / np.linalg.norm(perp) * np.pi)
    return rotvec_to_rotmat(axis / s * np.arctan2(s, c))


def slerp_rotmats(r0: np.ndarray, r1: np.ndarray, w: np.ndarray | float) -> np.ndarray:
    """Per-element slerp between two stacks of rotation matrices; w broadcast on the leading
    dims (w=0 -> r0, w=1 -> r1)."""
    q0 = roma.rotmat_to_unitquat(_t(r0))
    q1 = roma.rotmat_to_unitquat(_t(r1))
    # Shortest path: flip q1 where the dot product is negative.
    q1 = torch.where(((q0 * q1).sum(-1, keepdim=True) < 0), -q1, q1)
    wt = _t(np.broadcast_to(np.asarray(w, dtype=np.float64), q0.shape[:-1]))[..., None]
    dot = (q0 * q1).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    theta = torch.acos(dot)
    sin = torch.sin(theta)
    small = sin < 1e-6
    a = torch.where(small, 1.0 - wt, torch.sin((1.0 - wt) * theta) / torch.where(small, 1.0, sin))
    b = torch.where(small, wt, torch.sin(wt * theta) / torch.where(small, 1.0, sin))
    q = a * q0 + b * q1
    q = q / q.norm(dim=-1, keepdim=True)
    return roma.unitquat_to_rotmat(q).numpy()


# --- sampling a clip in time

def _yaw(angle: np.ndarray) -> np.ndarray:
    """(N,) angles -> (N, 3, 3) rotations about the world's up axis (y)."""
    angle = np.asarray(angle, dtype=np.float64)
    return rotvec_to_rotmat(np.stack([np.zeros_like(angle), angle, np.zeros_like(angle)], -1))


def _cycle_transform(clip: MotionClip, cycles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rigid map (yaw rotation (N,3,3), translation (N,3)) that carries cycle 0 of a loop
    to cycle c: p -> Ry(c psi) p + sum_{i<c} Ry(i psi) offset."""
    cycles = np.asarray(cycles, dtype=np.int64)
    rot = _yaw(cycles * clip.cycle_yaw)
    trans = np.zeros((len(cycles), 3))
    if np.any(cycles < 0):
        raise ValueError("loops are sampled forward in time only")
    for n, c in enumerate(cycles):
        for i in range(int(c)):
            trans[n] += _yaw(np.array([i * clip.cycle_yaw]))[0] @ clip.cycle_offset
    return rot, trans


def _frames(clip: MotionClip, idx: np.ndarray, cycles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rot = clip.rotmats[idx].copy()
    pos = clip.root_pos[idx].copy()
    if clip.loop and np.any(cycles != 0):
        crot, ctrans = _cycle_transform(clip, cycles)
        rot[:, 0] = crot @ rot[:, 0]
        pos = np.einsum("nij,nj->ni", crot, pos) + ctrans
    return rot, pos


def sample_times(clip: MotionClip, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (N, 24, 3, 3) and root positions (N, 3) at arbitrary times (seconds).

    Rotations are slerped between neighbouring frames, positions interpolated linearly. A loop
    wraps around, each completed cycle moved on by the clip's cycle transform (a yaw and a
    ground-plane shift, so a walker keeps walking); a one-shot clip is clamped to its ends.
    """
    times = np.asarray(times, dtype=np.float64)
    f = times * clip.fps
    t = clip.num_frames
    if clip.loop:
        f0 = np.floor(f)
        c0 = np.floor(f0 / t).astype(np.int64)
        i0 = (f0 - c0 * t).astype(np.int64)
        w = f - f0
        i1 = i0 + 1
        c1 = c0 + (i1 >= t)
        i1 = np.where(i1 >= t, 0, i1)
    else:
        f = np.clip(f, 0.0, t - 1)
        i0 = np.floor(f).astype(np.int64)
        w = f - i0
        i1 = np.minimum(i0 + 1, t - 1)
        c0 = c1 = np.zeros_like(i0)
    r0, p0 = _frames(clip, i0, c0)
    r1, p1 = _frames(clip, i1, c1)
    rot = slerp_rotmats(r0, r1, w[:, None])
    pos = p0 + w[:, None] * (p1 - p0)
    return rot, pos


def close_loop(rotmats: np.ndarray, root_pos: np.ndarray, blend_fraction: float = 0.5
               ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Make a captured cycle seamless. The last frame of a cyclic capture should be the first
    pose again, moved on by the cycle (yaw psi, ground shift); mocap loops rarely close exactly,
    so the remaining per-joint difference is spread over the last `blend_fraction` of the
    cycle. Returns the T-1 frames of one cycle, the cycle yaw and the cycle offset."""
    t = len(rotmats)
    delta = rotmats[-1, 0] @ rotmats[0, 0].T
    # Yaw of the root's change over the cycle: the heading of the rotated forward axis.
    fwd = delta @ np.array([0.0, 0.0, 1.0])
    psi = float(np.arctan2(fwd[0], fwd[2]))
    ry = _yaw(np.array([psi]))[0]
    offset = root_pos[-1] - ry @ root_pos[0]
    offset[1] = 0.0
    target = rotmats[0].copy()
    target[0] = ry @ rotmats[0, 0]
    # Correction that takes the last frame onto the target, applied progressively.
    corr = np.einsum("jba,jbc->jac", rotmats[-1], target)  # R_last^T @ R_target per joint
    corr_rv = rotmat_to_rotvec(corr)
    n_blend = max(1, int(round(blend_fraction * (t - 1))))
    weights = np.clip((np.arange(t) - (t - 1 - n_blend)) / n_blend, 0.0, 1.0)
    out = rotmats.copy()
    for k in np.nonzero(weights > 0)[0]:
        c = rotvec_to_rotmat(corr_rv * weights[k])
        out[k, 1:] = rotmats[k, 1:] @ c[1:]
        out[k, 0] = rotmats[k, 0] @ c[0]
    return out[:-1], root_pos[:-1].copy(), psi, offset


def resample(clip: MotionClip, fps: float, speed: float = 1.0) -> MotionClip:
    """The clip played `speed` times faster and sampled at `fps` (slerp between frames)."""
    n = max(2, int(np.floor(clip.duration * fps / speed)) + (0 if clip.loop else 1))
    times = np.arange(n) * speed / fps
    rot, pos = sample_times(clip, times)
    tags = clip.tags + ((f"speed{speed:.2f}",) if abs(speed - 1.0) > 1e-6 else ())
    out = replace(clip, fps=fps, rotmats=rot, root_pos=pos, tags=tags)
    if clip.loop:
        # Keep a loop only if the resampled length still closes the cycle.
        out = replace(out, loop=False)
    return out


# --- augmentations

def mirror(clip: MotionClip) -> MotionClip:
    """Left/right mirror image of the motion (joints swapped, rotations reflected in x)."""
    rot = _MIRROR @ clip.rotmats[:, list(SMPL_24_FLIP)] @ _MIRROR
    pos = clip.root_pos @ _MIRROR
    return replace(clip, rotmats=rot, root_pos=pos, cycle_offset=clip.cycle_offset @ _MIRROR,
                   cycle_yaw=-clip.cycle_yaw,
                   tags=clip.tags + ("mirror",))


def mirror_pose(rotvec: np.ndarray) -> np.ndarray:
    """(..., 24, 3) axis-angle -> its mirror image (the same rule as `mirror`)."""
    out = np.asarray(rotvec)[..., list(SMPL_24_FLIP), :].copy()
    out[..., 1:] *= -1.0
    return out


def add_noise(clip: MotionClip, rng: np.random.Generator, sigma: float = 0.04,
              smooth_frames: int = 0) -> MotionClip:
    """Small per-joint rotation noise (radians, not on the root). With smooth_frames > 0 the
    noise is a slowly varying offset (linear between random anchors), so a sequence stays
    temporally coherent; with 0 it is independent per frame (for single crops)."""
    t = clip.num_frames
    if smooth_frames > 0:
        anchors = np.arange(0, t + smooth_frames, smooth_frames)
        values = rng.normal(0.0, sigma, size=(len(anchors), NUM_JOINTS, 3))
        idx = np.arange(t)
        noise = np.stack([
            np.stack([np.interp(idx, anchors, values[:, j, k]) for k in range(3)], -1)
            for j in range(NUM_JOINTS)
        ], 1)
    else:
        noise = rng.normal(0.0, sigma, size=(t, NUM_JOINTS, 3))
    noise[:, 0] = 0.0
    rot = clip.rotmats @ rotvec_to_rotmat(noise)
    return replace(clip, rotmats=rot, tags=clip.tags + (f"noise{sigma:.2f}",))


def blend(a: MotionClip, b: MotionClip, weight: float) -> MotionClip:
    """Per-joint slerp of two clips of the same length and rate (root from `a`): a plausible
    in-between motion, e.g. half-way between a walk and a punch."""
    n = min(a.num_frames, b.num_frames)
    rot = slerp_rotmats(a.rotmats[:n, 1:], b.rotmats[:n, 1:], weight)
    rot = np.concatenate([a.rotmats[:n, :1], rot], axis=1)
    return MotionClip(
        name=f"blend({a.name},{b.name})", source=f"{a.source}+{b.source}", fps=a.fps,
        rotmats=rot, root_pos=a.root_pos[:n].copy(), loop=False,
        tags=a.tags + (f"blend{weight:.2f}",),
    )


def window(clip: MotionClip, start: int, length: int) -> MotionClip:
    """Frames [start, start + length) (wrapping around a loop)."""
    times = (start + np.arange(length)) / clip.fps
    rot, pos = sample_times(clip, times)
    return replace(clip, rotmats=rot, root_pos=pos, loop=False)
