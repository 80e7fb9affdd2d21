"""A contact sheet of retargeted frames: the anny24 body in the solved pose (front and side),
with the scaled source joint positions drawn on top (red dots) - the picture that shows at a
glance whether a skeleton family retargets right (upright, limbs where the capture has them,
knees and elbows bending the right way)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meshvid.motion.retarget import ERROR_JOINTS, Retargeted, J


def _deyaw(rot0: np.ndarray) -> np.ndarray:
    """Rotation about y that turns a root rotation (3, 3) to face +z."""
    fwd = rot0 @ np.array([0.0, 0.0, 1.0])
    yaw = np.arctan2(fwd[0], fwd[2])
    c, s = np.cos(-yaw), np.sin(-yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def render_frames(items: list[tuple[Retargeted, int]], size: int = 224, label: bool = True) -> np.ndarray:
    """One row per (clip, frame): front and side view with the source points -> (H, W, 3) uint8."""
    import torch  # noqa: PLC0415
    from PIL import Image, ImageDraw  # noqa: PLC0415

    from meshvid.body import load_body_model  # noqa: PLC0415
    from meshvid.body.preview import _view_rotation, render_body  # noqa: PLC0415

    body = load_body_model("anny24")
    faces = np.asarray(body.faces)
    rows = []
    for res, f in items:
        rot = res.clip.rotmats[f].copy()
        d = _deyaw(rot[0])
        rot[0] = d @ rot[0]
        with torch.no_grad():
            out = body.forward_rotmat(torch.from_numpy(rot).float()[None], torch.zeros(1, 10))
        verts = out.vertices[0].double().numpy()
        pelvis = out.joints[0, 0].double().numpy()
        # The source points around the pelvis they were fitted with (the proportioned skeleton's;
        # the clip's root is scaled to our legs).
        tgt = (res.targets[f] - res.fitted[f, 0]) @ d.T + pelvis
        tiles = []
        for view in ("front", "side"):
            img = render_body(verts, faces, views=(view,), size=size)
            # Same camera as render_body: centre the view-space box, focal 2 * size.
            r = _view_rotation(view)
            v = verts @ r.T
            lo, hi = v.min(0), v.max(0)
            centre = (lo + hi) / 2.0
            span = float(max(hi[0] - lo[0], hi[1] - lo[1]))
            focal = 2.0 * size
            dist = focal * span / (0.85 * size) + (hi[2] - lo[2]) / 2.0
            p = tgt @ r.T - centre + np.array([0.0, 0.0, dist])
            im = Image.fromarray(np.ascontiguousarray(img))
            dr = ImageDraw.Draw(im)
            for name in ERROR_JOINTS:
                q = p[J[name]]
                if not np.isfinite(q).all():
                    continue
                u, w = focal * q[0] / q[2] + size / 2, focal * q[1] / q[2] + size / 2
                dr.ellipse([u - 2.5, w - 2.5, u + 2.5, w + 2.5], fill=(220, 30, 30))
            if label and view == "front":
                dr.text((4, 4), f"{res.clip.name.split('/')[-1][:30]} f{f}", fill=(0, 0, 0))
                dr.text((4, 16), f"{res.family} {res.frame_error_mm[f]:.0f} mm", fill=(0, 0, 0))
            tiles.append(np.asarray(im))
        rows.append(np.concatenate(tiles, 1))
    return rows


def contact_sheet(results: list[Retargeted], path: str | Path, frames_per_clip: int = 3,
                  columns: int = 3, size: int = 224) -> Path:
    """Write a PNG grid: for each clip, `frames_per_clip` evenly spaced frames (each a front +
    side pair with the source points in red)."""
    from meshvid.body.preview import save_png  # noqa: PLC0415

    items = []
    for res in results:
        t = res.clip.num_frames
        for k in range(frames_per_clip):
            items.append((res, int((k + 0.5) * t / frames_per_clip)))
    tiles = render_frames(items, size)
    blank = np.full_like(tiles[0], 255)
    while len(tiles) % columns:
        tiles.append(blank)
    grid = np.concatenate([np.concatenate(tiles[i:i + columns], 1) for i in range(0, len(tiles), columns)], 0)
    return save_png(grid, path)
