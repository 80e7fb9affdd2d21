"""Look at a body: named pose presets and a front (+ side) render of a posed, reshaped body.

Used by `meshvid body show` and the docs' pictures. Rendering goes through
meshvid.render.offscreen (pyrender over EGL).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from meshvid.body.base import BodyModel
from meshvid.body.joints import NUM_BETAS, SMPL_24
from meshvid.errors import InputError

POSE_PRESETS: tuple[str, ...] = ("rest", "a", "walk", "sit", "wave")


def _rot(axis: str, angle: float) -> torch.Tensor:
    import roma

    v = torch.zeros(3, dtype=torch.float64)
    v["xyz".index(axis)] = angle
    return roma.rotvec_to_rotmat(v)


def pose_preset(name: str) -> np.ndarray:
    """(24, 3) axis-angle for a named pose, in SMPL's convention (rotations relative to the
    parent, in the T-pose's axes: x = body left, y = up, z = forward)."""
    import roma

    if name not in POSE_PRESETS:
        raise InputError(f"unknown pose preset {name!r}; choose one of: {', '.join(POSE_PRESETS)}")
    rots = {j: torch.eye(3, dtype=torch.float64) for j in SMPL_24}
    # Arms down from the T-pose: about +z, the left arm (along +x) goes down for a negative angle.
    arms_down = {"left_shoulder": _rot("z", -1.2), "right_shoulder": _rot("z", 1.2)}
    if name == "a":
        rots.update({"left_shoulder": _rot("z", -0.75), "right_shoulder": _rot("z", 0.75)})
    elif name == "walk":
        # Hip flexion is a negative x rotation (the thigh swings forward), knee flexion positive.
        rots.update({"left_hip": _rot("x", -0.45), "right_hip": _rot("x", 0.35),
                     "left_knee": _rot("x", 0.25), "right_knee": _rot("x", 0.6),
                     "right_ankle": _rot("x", -0.1)})
        # Arms hang down, then swing opposite to the legs (rotation about x, applied after).
        rots["left_shoulder"] = _rot("x", 0.35) @ arms_down["left_shoulder"]
        rots["right_shoulder"] = _rot("x", -0.35) @ arms_down["right_shoulder"]
        rots["left_elbow"], rots["right_elbow"] = _rot("y", -0.3), _rot("y", 0.3)
        rots["spine2"] = _rot("y", 0.08)
    elif name == "sit":
        rots.update({"left_hip": _rot("x", -1.45), "right_hip": _rot("x", -1.45),
                     "left_knee": _rot("x", 1.45), "right_knee": _rot("x", 1.45)})
        rots.update(arms_down)
        rots["left_elbow"], rots["right_elbow"] = _rot("y", -0.9), _rot("y", 0.9)
    elif name == "wave":
        rots["left_shoulder"] = arms_down["left_shoulder"]
        rots["right_shoulder"] = _rot("z", -0.45)  # right upper arm a little above horizontal
        rots["right_elbow"] = _rot("z", -1.5)  # forearm up
        rots["head"] = _rot("z", 0.15)
    mats = torch.stack([rots[j] for j in SMPL_24])
    return roma.rotmat_to_rotvec(mats).numpy().astype(np.float32)


def load_pose(spec: str) -> np.ndarray:
    """A preset name or a path to an .npy of shape (24, 3) (or (72,)) axis-angle."""
    if spec in POSE_PRESETS:
        return pose_preset(spec)
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"--pose {spec!r} is neither a preset ({', '.join(POSE_PRESETS)}) nor an .npy file")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:
        raise InputError(f"cannot read pose file {path}: {err}") from None
    arr = np.asarray(arr, dtype=np.float32)
    if arr.size != 72:
        raise InputError(f"pose file {path} has shape {arr.shape}; expected (24, 3) axis-angle")
    return arr.reshape(24, 3)


def parse_betas(text: str | None, shape_seed: int | None = None) -> np.ndarray:
    """'0.5,-1' -> (10,) betas (missing ones are 0); or N(0,1) betas from a seed."""
    betas = np.zeros(NUM_BETAS, dtype=np.float32)
    if shape_seed is not None:
        betas = np.random.default_rng(shape_seed).standard_normal(NUM_BETAS).astype(np.float32)
    if text:
        try:
            vals = [float(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"--betas {text!r}: expected comma-separated numbers") from None
        if len(vals) > NUM_BETAS:
            raise InputError(f"--betas has {len(vals)} values; the body has {NUM_BETAS}")
        betas[: len(vals)] = vals
    return betas


def _view_rotation(view: str) -> np.ndarray:
    """Body frame (y up, z forward) -> OpenCV camera axes (x right, y down, z into the scene)."""
    if view == "front":  # camera in front of the body, looking at its chest
        return np.diag([1.0, -1.0, -1.0])
    if view == "side":  # camera at the body's left, looking toward -x
        return np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])
    raise ValueError(view)


def render_body(
    vertices: np.ndarray,
    faces: np.ndarray,
    views: tuple[str, ...] = ("front",),
    size: int = 512,
    color: tuple[float, float, float] = (0.65, 0.74, 0.86),
    extent: float | None = None,
) -> np.ndarray:
    """Render one body (V, 3) in its own frame from the given views, side by side -> (H, W, 3).

    `extent` (metres) fixes the framed height so several renders share a scale.
    """
    from meshvid.render.offscreen import MeshToDraw, OffscreenRenderer, PinholeCamera

    focal = 2.0 * size
    tiles = []
    with OffscreenRenderer(size, size) as renderer:
        for view in views:
            v = np.asarray(vertices, dtype=np.float64) @ _view_rotation(view).T
            lo, hi = v.min(0), v.max(0)
            centre = (lo + hi) / 2.0
            span = extent if extent is not None else float(max(hi[0] - lo[0], hi[1] - lo[1]))
            # Distance so the body spans ~85% of the image, measured at its nearest depth.
            dist = focal * span / (0.85 * size) + (hi[2] - lo[2]) / 2.0
            v = v - centre + np.array([0.0, 0.0, dist])
            cam = PinholeCamera.centred(focal, size, size)
            out = renderer.render([MeshToDraw(v.astype(np.float32), faces, color=color)], cam)
            tiles.append(out.color)
    return np.concatenate(tiles, axis=1)


@torch.no_grad()
def posed_vertices(model: BodyModel, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    out = model(torch.as_tensor(pose, dtype=torch.float32)[None], torch.as_tensor(betas, dtype=torch.float32)[None])
    return out.vertices[0].cpu().numpy()


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Atomic PNG write."""
    import os

    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
