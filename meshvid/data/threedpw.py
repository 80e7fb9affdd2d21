"""3DPW (von Marcard et al., ECCV 2018) in its official release layout:

    ROOT/sequenceFiles/{train,validation,test}/<sequence>.pkl
    ROOT/imageFiles/<sequence>/image_00000.jpg

Each .pkl is a Python-2 pickle (read with encoding="latin1") of a dict with, per sequence:
`sequence`, `img_frame_ids` (T,), `cam_poses` (T, 4, 4) world->camera, `cam_intrinsics` (3, 3),
and per actor (lists of length N): `poses` (T, 72) SMPL axis-angle in world axes, `betas`
(10,) or more, `trans` (T, 3), `jointPositions` (T, 72) the 24 SMPL joints in world metres,
`poses2d` (T, 3, 18) OpenPose COCO-18 detections (x, y, confidence), `campose_valid` (T,),
`genders`.

SECURITY: this is the ONE place meshvid unpickles anything. 3DPW is only released as pickles.
We unpickle with an allow-list (numpy arrays, dtypes and builtin containers only), so a
crafted file cannot run code through other globals; still, only open files you downloaded
from the official 3DPW site.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from meshvid.data.records import OPENPOSE_18, PoseSample, box_from_keypoints, remap
from meshvid.errors import InputError

SPLITS = ("train", "validation", "test")

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object"),
    ("_codecs", "encode"),  # protocol-2 pickles of numpy buffers go through it (pure)
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle API
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"3DPW file refers to {module}.{name}, which is not a "
                                     "numpy array type; refusing to load it")


def read_sequence_file(path: str | Path) -> dict:
    """Unpickle one official 3DPW sequence file (latin1, numpy-only allow-list)."""
    path = Path(path)
    try:
        data = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except OSError as err:
        raise InputError(f"cannot read 3DPW file {path}: {err.strerror}") from None
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise InputError(f"{path} is not a 3DPW sequence file: {err}") from None
    missing = [k for k in ("sequence", "img_frame_ids", "poses", "betas", "jointPositions",
                           "poses2d", "cam_poses") if k not in data]
    if missing:
        raise InputError(f"{path} lacks 3DPW keys: {', '.join(missing)}")
    return data


def sequence_samples(data: dict, root: Path, split: str = "") -> list[PoseSample]:
    """All valid (camera pose known, person visible) actor-frames of one sequence, in frame
    order per actor. 3D joints and the root orientation are moved into camera axes."""
    seq = str(data["sequence"])
    cam_poses = np.asarray(data["cam_poses"], dtype=np.float64)
    frame_ids = np.asarray(data["img_frame_ids"]).astype(int)
    valid_all = data.get("campose_valid")
    out: list[PoseSample] = []
    from scipy.spatial.transform import Rotation

    for actor in range(len(data["poses"])):
        poses = np.asarray(data["poses"][actor], dtype=np.float64).reshape(-1, 24, 3)
        betas = np.asarray(data["betas"][actor], dtype=np.float64).reshape(-1)[:10]
        joints_w = np.asarray(data["jointPositions"][actor], dtype=np.float64).reshape(-1, 24, 3)
        kp2d = np.asarray(data["poses2d"][actor], dtype=np.float64)  # (T, 3, 18)
        valid = (np.ones(len(poses), bool) if valid_all is None
                 else np.asarray(valid_all[actor]).astype(bool))
        for t in range(len(poses)):
            if not valid[t]:
                continue
            kp = remap(kp2d[t].T, OPENPOSE_18, "coco17")
            if (kp[:, 2] > 0).sum() < 4:
                continue  # the person is (nearly) not visible in this frame
            rot, trn = cam_poses[t, :3, :3], cam_poses[t, :3, 3]
            joints_c = joints_w[t] @ rot.T + trn
            pose = poses[t].copy()
            pose[0] = Rotation.from_matrix(rot @ Rotation.from_rotvec(pose[0]).as_matrix()).as_rotvec()
            center, size = box_from_keypoints(kp)
            frame = int(frame_ids[t]) if t < len(frame_ids) else t
            out.append(PoseSample(
                dataset="3dpw", image=str(root / "imageFiles" / seq / f"image_{frame:05d}.jpg"),
                center=center, box_size=size, keypoints2d=kp, keypoints2d_set="coco17",
                joints3d=joints_c, joints3d_set="smpl24", pose=pose, betas=betas,
                sequence=f"{seq}/{actor}", frame=frame, action=split,
                extra={"gender": (data.get("genders") or ["n"] * (actor + 1))[actor],
                       "intrinsics": np.asarray(data.get("cam_intrinsics", np.eye(3)))}))
    return out


def load_3dpw(root: str | Path, split: str = "test") -> list[PoseSample]:
    root = Path(root)
    if split not in SPLITS:
        raise InputError(f"3DPW split must be one of {', '.join(SPLITS)}; got {split!r}")
    folder = root / "sequenceFiles" / split
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise InputError(f"no 3DPW sequence files in {folder}; point --data-root at the folder "
                         "that holds sequenceFiles/ and imageFiles/")
    samples: list[PoseSample] = []
    for f in files:
        samples += sequence_samples(read_sequence_file(f), root, split)
    return samples
