"""The common record every real data set loader yields, and the joint-order mappings onto
meshvid.body.joints (the one owner of joint orders).

A `PoseSample` is one person in one image:
* `image`: the image path (absolute, resolved against the data set root);
* `center` (2,) and `box_size`: a square person box in pixels (SPIN/HMR's `scale` is the box
  side / 200; loaders convert, so `box_size` is always pixels);
* `keypoints2d` (K, 3): pixels + visibility (0/1 or a confidence), in `keypoints2d_set`
  (LSP_14 or COCO_17 order);
* optional `joints3d` (J, 3) metres in camera axes (OpenCV: x right, y down, z forward), in
  `joints3d_set`; optional SMPL `pose` (24, 3) axis-angle (root orientation in camera axes) and
  `betas` (10,).
The masks `has_3d` / `has_smpl` say which losses a sample can feed: 2D-only data (MPII, LSP)
trains the 2D and skeleton losses only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from meshvid.body import joints as J

BOX_SCALE_UNIT = 200.0  # SPIN/HMR: box side in pixels = scale * 200


@dataclass
class PoseSample:
    dataset: str
    image: str
    center: np.ndarray  # (2,) pixels
    box_size: float  # pixels, square box side
    keypoints2d: np.ndarray  # (K, 3) pixels + visibility
    keypoints2d_set: str = "lsp14"
    joints3d: np.ndarray | None = None  # (J, 3) metres, camera axes
    joints3d_set: str = "lsp14"
    pose: np.ndarray | None = None  # (24, 3) axis-angle, SMPL_24 order
    betas: np.ndarray | None = None  # (10,)
    sequence: str = ""
    frame: int = -1
    action: str = ""
    subject: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def has_3d(self) -> bool:
        return self.joints3d is not None

    @property
    def has_smpl(self) -> bool:
        return self.pose is not None and self.betas is not None


# --- source joint orders (as released) -------------------------------------------------------

# MPII's 16 joints (the annotation's joint ids 0..15).
MPII_16: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
    "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
    "left_shoulder", "left_elbow", "left_wrist",
)

# SPIN's 24-joint "part"/"S" layout used by its preprocessed npz files (H36M, MPII, LSP, ...):
# the 14 LSP joints first, then MPII/H36M extras, then the COCO face points.
SPIN_24: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist", "neck", "head_top", "pelvis", "thorax", "spine", "jaw", "head", "nose",
    "left_eye", "right_eye", "left_ear", "right_ear",
)

# OpenPose COCO-18, the layout of 3DPW's `poses2d` (3, 18) per frame.
OPENPOSE_18: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)

# Names that mean the same point under another name in a source layout.
_ALIASES = {"upper_neck": "neck"}

TARGET_SETS: dict[str, tuple[str, ...]] = {"lsp14": J.LSP_14, "coco17": J.COCO_17,
                                           "smpl24": J.SMPL_24}


def joint_map(source: tuple[str, ...], target: str) -> np.ndarray:
    """Index array m (len(target set)) with target[k] = source[m[k]], or -1 where the source
    has no such joint."""
    names = [(_ALIASES.get(n, n)) for n in source]
    return np.array([names.index(n) if n in names else -1 for n in TARGET_SETS[target]],
                    dtype=np.int64)


def remap(points: np.ndarray, source: tuple[str, ...], target: str) -> np.ndarray:
    """(..., len(source), C) -> (..., len(target), C); missing joints are zero (visibility 0)."""
    m = joint_map(source, target)
    out = np.zeros(points.shape[:-2] + (len(m), points.shape[-1]), dtype=np.float64)
    ok = m >= 0
    out[..., ok, :] = points[..., m[ok], :]
    return out


def box_from_keypoints(kp: np.ndarray, margin: float = 1.2) -> tuple[np.ndarray, float]:
    """Square box (centre, side) around the visible keypoints (K, 3), enlarged by `margin`."""
    vis = kp[:, 2] > 0
    if not vis.any():
        raise ValueError("no visible keypoints to build a box from")
    lo, hi = kp[vis, :2].min(0), kp[vis, :2].max(0)
    return (lo + hi) / 2.0, float(max(hi - lo) * margin)
