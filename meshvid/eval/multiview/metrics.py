"""Per-frame errors of one camera-person pair, with missing reference joints masked out.

Pure functions on numpy arrays, metres in, millimetres (or pixels) out. The root is the
mid-hip (the mean of the two hips of the joint set's source, COCO-17 indices 11 and 12); a
frame without both reference hips is not scored. Joint sets (`JOINT_SETS`) are COCO-17
indices; `SMPL_FOR_COCO` maps the body joints onto the body model's joint centres.

* MPJPE: mean over valid joints of |(P_j - P_root) - (G_j - G_root)|, in camera-frame
  orientation (no rotation alignment), per frame.
* PA-MPJPE: the same after the best similarity transform (scale, rotation, translation) of the
  frame's valid joints onto the reference (meshvid.geometry.procrustes, Umeyama).
* Acceleration error: |a_P - a_G| with a_X(t) = X(t+1) - 2 X(t) + X(t-1) of root-relative joints,
  per joint where the three frames are scored and the joint valid in all three; mm/frame^2
  (x fps^2 for mm/s^2).
* Trunk pitch error: the prediction's trunk pitch (`trunk_pitch`) minus the reference's,
  degrees, mean over scored frames; negative = the predicted body stands more upright in the
  camera than the person (it misses the lean toward a down-looking camera).
* 2D error: mean pixel distance to the reference's projection over valid joints, also as a
  share of the person's height in the image (the vertical extent of the projected reference
  body joints).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from meshvid.body.joints import COCO_17, SMPL_24
from meshvid.geometry.procrustes import procrustes_align

MM = 1000.0
HIP_L, HIP_R = COCO_17.index("left_hip"), COCO_17.index("right_hip")
BODY_12 = tuple(range(COCO_17.index("left_shoulder"), len(COCO_17)))  # shoulders .. ankles
JOINT_SETS: dict[str, tuple[int, ...]] = {"body12": BODY_12, "coco17": tuple(range(17))}
# body-model joint centre for each COCO-17 body joint (the face points have none)
SMPL_FOR_COCO: dict[int, int] = {
    COCO_17.index(c): SMPL_24.index(s) for c, s in (
        ("left_shoulder", "left_shoulder"), ("right_shoulder", "right_shoulder"),
        ("left_elbow", "left_elbow"), ("right_elbow", "right_elbow"),
        ("left_wrist", "left_wrist"), ("right_wrist", "right_wrist"),
        ("left_hip", "left_hip"), ("right_hip", "right_hip"),
        ("left_knee", "left_knee"), ("right_knee", "right_knee"),
        ("left_ankle", "left_ankle"), ("right_ankle", "right_ankle"))}


def smpl_as_coco(joints24: np.ndarray) -> np.ndarray:
    """Body-model joint centres in COCO-17 slots (face slots NaN).

    Args:
        joints24: (F, 24, 3) SMPL_24 joints.
    Returns:
        (F, 17, 3).
    """
    out = np.full((*joints24.shape[:-2], 17, 3), np.nan)
    for c, s in SMPL_FOR_COCO.items():
        out[..., c, :] = joints24[..., s, :]
    return out


def root_relative(joints: np.ndarray) -> np.ndarray:
    """(F, 17, 3) -> (F, 17, 3) minus the mid-hip (NaN where a hip is missing)."""
    return joints - joints[:, [HIP_L, HIP_R]].mean(axis=1, keepdims=True)


def joint_mask(reference: np.ndarray, prediction: np.ndarray, joints: tuple[int, ...],
               frames: np.ndarray) -> np.ndarray:
    """(F, 17) bool: joints of the set, finite in both, on scored frames (both reference hips
    present there)."""
    ok = np.isfinite(reference).all(-1) & np.isfinite(prediction).all(-1)
    in_set = np.zeros(17, bool)
    in_set[list(joints)] = True
    hips = np.isfinite(reference[:, [HIP_L, HIP_R]]).all(axis=(1, 2))
    return ok & in_set[None] & (np.asarray(frames, bool) & hips)[:, None]


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(F, J) values, (F, J) mask -> (F,) mean over the mask (NaN where empty)."""
    n = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(mask, values, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


def joint_errors(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Root-aligned per-joint errors in mm.

    Args:
        pred, ref: (F, 17, 3) camera-frame joints, metres (roots from each one's own hips).
    Returns:
        (F, 17) |(P - P_root) - (G - G_root)| in mm (NaN where missing).
    """
    return np.linalg.norm(root_relative(pred) - root_relative(ref), axis=-1) * MM


def mpjpe(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-frame mid-hip-aligned MPJPE (mm), camera-frame orientation.

    Args:
        pred, ref: (F, 17, 3) metres; mask: (F, 17) joints that count.
    Returns:
        (F,) mm, NaN on frames without a counted joint.
    """
    return _masked_mean(np.nan_to_num(joint_errors(pred, ref)), mask)


def pa_mpjpe(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray, min_joints: int = 4
             ) -> np.ndarray:
    """Per-frame Procrustes-aligned MPJPE (mm) over each frame's counted joints.

    Args:
        pred, ref: (F, 17, 3) metres; mask: (F, 17).
        min_joints: frames with fewer counted joints are NaN (a similarity needs >= 3 points).
    Returns:
        (F,) mm.
    """
    out = np.full(len(pred), np.nan)
    patterns: dict[bytes, list[int]] = {}
    for f in np.flatnonzero(mask.sum(axis=1) >= min_joints):
        patterns.setdefault(mask[f].tobytes(), []).append(int(f))
    for key, frames in patterns.items():
        cols = np.frombuffer(key, dtype=bool)
        p = torch.as_tensor(pred[frames][:, cols], dtype=torch.float64)
        g = torch.as_tensor(ref[frames][:, cols], dtype=torch.float64)
        out[frames] = ((procrustes_align(p, g) - g).norm(dim=-1).mean(dim=-1) * MM).numpy()
    return out


def accel_error(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-frame acceleration error (mm/frame^2) of the root-relative joints.

    Args:
        pred, ref: (F, 17, 3) metres, consecutive frames; mask: (F, 17).
    Returns:
        (F,) mm/frame^2 at frame t (needs t-1, t, t+1 counted per joint); NaN elsewhere and at
        the ends.
    """
    out = np.full(len(pred), np.nan)
    if len(pred) < 3:
        return out
    p, g = root_relative(pred), root_relative(ref)
    acc_p = p[2:] - 2.0 * p[1:-1] + p[:-2]
    acc_g = g[2:] - 2.0 * g[1:-1] + g[:-2]
    m = mask[2:] & mask[1:-1] & mask[:-2]
    err = np.nan_to_num(np.linalg.norm(acc_p - acc_g, axis=-1)) * MM
    out[1:-1] = _masked_mean(err, m)
    return out


def pixel_error(points: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-frame mean 2D distance (pixels).

    Args:
        points, ref: (F, 17, 2) pixels; mask: (F, 17).
    Returns:
        (F,) pixels.
    """
    d = np.linalg.norm(points - ref, axis=-1)
    return _masked_mean(np.nan_to_num(d), mask & np.isfinite(d))


def person_height_px(ref2d: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(F, 17, 2) projected reference, (F, 17) visible -> (F,) vertical extent in pixels of the
    visible body joints (NaN with fewer than two)."""
    body = np.zeros(17, bool)
    body[list(BODY_12)] = True
    m = visible & body[None]
    v = np.where(m, ref2d[..., 1], np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = np.nanmax(v, axis=1) - np.nanmin(v, axis=1)
    h[m.sum(axis=1) < 2] = np.nan
    return h


def constant_pose(ref_cam: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """A person's own mean root-relative pose in this camera, over `frames`.

    Args:
        ref_cam: (F, 17, 3) camera-frame reference, metres; frames: (F,) bool.
    Returns:
        (17, 3) mean root-relative pose (per joint over the frames where it is present).
    """
    rel = root_relative(ref_cam)[np.asarray(frames, bool)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(rel, axis=0) if len(rel) else np.full((17, 3), np.nan)


def trunk_pitch(joints: np.ndarray) -> np.ndarray:
    """The trunk's pitch in the camera: the angle (degrees) of mid-hip -> mid-shoulder in the
    camera's y-z plane, 0 when it points straight up the image (-y), positive when its top
    leans toward the camera (-z): a camera looking down at a standing person sees about its
    own downward tilt.

    Args:
        joints: (F, 17, 3) camera-frame COCO-17 joints.
    Returns:
        (F,) degrees (NaN where a hip or shoulder is missing).
    """
    trunk = joints[:, [5, 6]].mean(axis=1) - joints[:, [HIP_L, HIP_R]].mean(axis=1)
    return np.degrees(np.arctan2(-trunk[:, 2], -trunk[:, 1]))
