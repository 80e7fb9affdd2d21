"""2D-only data sets: MPII and LSP. They train the 2D and skeleton losses only (no 3D labels).

MPII, either of the two common preprocessed annotation forms:
* JSON (as distributed with HRNet / simple-baselines, converted from the official .mat): a list
  of {"image": "xxx.jpg", "center": [x, y], "scale": s (box/200), "joints": 16 x [x, y],
  "joints_vis": 16 x 0/1} in MPII's joint order; images under ROOT/images/;
* SPIN-style npz (mpii_train.npz; see spin_npz.py).

LSP: the official `joints.mat` (scipy.io.loadmat) next to images/im0001.jpg ...:
* LSP (2000 images): `joints` is 3 x 14 x 2000 — x, y and an *occlusion* flag (1 = occluded);
* LSP-extended: 14 x 3 x N with a *visibility* flag (1 = visible).
Both are accepted and normalised to visibility 1 = visible. Boxes come from the joints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from meshvid.body.joints import LSP_14
from meshvid.data.records import BOX_SCALE_UNIT, MPII_16, PoseSample, box_from_keypoints, remap
from meshvid.data.spin_npz import npz_samples
from meshvid.errors import InputError


def load_mpii(annotation: str | Path, image_root: str | Path | None = None,
              keypoints_set: str = "lsp14") -> list[PoseSample]:
    annotation = Path(annotation)
    if not annotation.is_file():
        raise InputError(f"MPII annotation file not found: {annotation}")
    if annotation.suffix == ".npz":
        return npz_samples(annotation, image_root or annotation.parent, "mpii", keypoints_set)
    root = Path(image_root) if image_root else annotation.parent / "images"
    try:
        items = json.loads(annotation.read_text())
    except ValueError as err:
        raise InputError(f"{annotation} is not MPII JSON: {err}") from None
    out = []
    for i, item in enumerate(items):
        try:
            joints = np.asarray(item["joints"], dtype=np.float64).reshape(16, 2)
            vis = np.asarray(item.get("joints_vis", np.ones(16)), dtype=np.float64).reshape(16)
            center = np.asarray(item["center"], dtype=np.float64)
            scale = float(item["scale"])
        except (KeyError, ValueError, TypeError) as err:
            raise InputError(f"{annotation}: entry {i} is not an MPII annotation ({err})") from None
        vis = vis * (joints[:, 0] >= 0)  # MPII marks absent joints with -1 coordinates
        kp = remap(np.concatenate([joints, vis[:, None]], 1), MPII_16, keypoints_set)
        out.append(PoseSample(dataset="mpii", image=str(root / item["image"]), center=center,
                              box_size=scale * BOX_SCALE_UNIT, keypoints2d=kp,
                              keypoints2d_set=keypoints_set, frame=i))
    return out


def read_lsp_joints(path: str | Path) -> np.ndarray:
    """joints.mat -> (N, 14, 3) pixels + visibility (1 = visible), either LSP layout."""
    from scipy.io import loadmat

    try:
        joints = np.asarray(loadmat(str(path))["joints"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"cannot read LSP joints from {path}: {err}") from None
    if joints.ndim == 3 and joints.shape[:2] == (3, 14):  # LSP: occlusion flag
        out = joints.transpose(2, 1, 0).copy()
        out[..., 2] = 1.0 - out[..., 2]
    elif joints.ndim == 3 and joints.shape[:2] == (14, 3):  # LSP-extended: visibility flag
        out = joints.transpose(2, 0, 1).copy()
    else:
        raise InputError(f"{path}: joints must be 3x14xN (LSP) or 14x3xN (LSP-extended); got "
                         f"{joints.shape}")
    return out


def load_lsp(root: str | Path, keypoints_set: str = "lsp14",
             indices: range | None = None) -> list[PoseSample]:
    """LSP from ROOT/joints.mat + ROOT/images/im%04d.jpg (or a SPIN-style npz as ROOT)."""
    root = Path(root)
    if root.suffix == ".npz":
        return npz_samples(root, root.parent, "lsp", keypoints_set)
    joints = read_lsp_joints(root / "joints.mat")
    out = []
    for i in (indices if indices is not None else range(len(joints))):
        kp14 = joints[i]
        if not (kp14[:, 2] > 0).any():
            continue
        center, size = box_from_keypoints(kp14)
        kp = remap(kp14, LSP_14, keypoints_set)
        out.append(PoseSample(dataset="lsp", image=str(root / "images" / f"im{i + 1:04d}.jpg"),
                              center=center, box_size=size, keypoints2d=kp,
                              keypoints2d_set=keypoints_set, frame=i))
    return out
