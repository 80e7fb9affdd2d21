"""The widely used preprocessed annotation .npz files (SPIN / HMR style) for Human3.6M, MPII,
LSP and others: arrays `imgname` (N,), `center` (N, 2) pixels, `scale` (N,) (box side / 200),
`part` (N, 24, 3) 2D joints + visibility in SPIN's 24-joint order, and where present `S`
(N, 24, 4) 3D joints in metres (camera axes) + confidence, `pose` (N, 72) SMPL axis-angle,
`shape` (N, 10) betas, `has_smpl` (N,).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from meshvid.data.records import BOX_SCALE_UNIT, SPIN_24, PoseSample, remap
from meshvid.errors import InputError

# Human3.6M image names look like "images/S9_Directions_1.54138969_000001.jpg".
_H36M_NAME = re.compile(r"(S\d+)_([A-Za-z]+)(?: ?\d*)?[_.]")


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read annotation file {path}: {err}") from None
    missing = [k for k in ("imgname", "center", "scale", "part") if k not in data]
    if missing:
        raise InputError(f"{path} lacks keys {', '.join(missing)} (expected a SPIN/HMR-style "
                         "annotation npz)")
    return data


def npz_samples(path: str | Path, image_root: str | Path, dataset: str,
                keypoints_set: str = "lsp14") -> list[PoseSample]:
    data = read_npz(path)
    root = Path(image_root)
    n = len(data["imgname"])
    has_s = "S" in data
    has_pose = "pose" in data and "shape" in data
    has_smpl = data.get("has_smpl", np.ones(n) if has_pose else np.zeros(n)).astype(bool)
    out = []
    for i in range(n):
        name = str(data["imgname"][i])
        kp = remap(np.asarray(data["part"][i], dtype=np.float64), SPIN_24, keypoints_set)
        joints3d = None
        if has_s:
            s = np.asarray(data["S"][i], dtype=np.float64)
            if s.shape[-1] == 4 and not (s[:14, 3] > 0).any():
                s = None
            if s is not None:
                joints3d = remap(s[:, :3], SPIN_24, "lsp14")
        pose = betas = None
        if has_pose and has_smpl[i]:
            pose = np.asarray(data["pose"][i], dtype=np.float64).reshape(24, 3)
            betas = np.asarray(data["shape"][i], dtype=np.float64)[:10]
        m = _H36M_NAME.search(Path(name).name)
        subject, action = (m.group(1), m.group(2)) if m else ("", "")
        seq = Path(name).name.rsplit("_", 1)[0] if m else ""
        frame = int(re.findall(r"(\d+)\.\w+$", name)[0]) if re.search(r"\d+\.\w+$", name) else i
        out.append(PoseSample(
            dataset=dataset, image=str(root / name), center=np.asarray(data["center"][i], float),
            box_size=float(data["scale"][i]) * BOX_SCALE_UNIT, keypoints2d=kp,
            keypoints2d_set=keypoints_set, joints3d=joints3d, joints3d_set="lsp14", pose=pose,
            betas=betas, sequence=seq, frame=frame, action=action, subject=subject))
    return out
