"""Issue 25 probe: would placing each person on the floor make their depth steadier?

The keypoint fit finds a person's depth from their size in the image, which moves with every
pixel of keypoint error (a person 80 px tall: ~1 % of depth per pixel). Where the clip's floor
is known (one plane per clip, `meshvid.scene.floor`, estimated from every person and frame), the
ray through a standing person's lower ankle meets it at a depth that depends on the ankle's
image row instead, far steadier for a camera above the people. This re-places each person along
their viewing ray (root' = s * root, camera at the origin) with s from that intersection: per
frame, per person (median over the track), or per frame smoothed; in both runs of a re-framing
check, then compares them as `camera_motion_check.py compare` does.

    python scripts/floor_depth_probe.py still/vtest.npz turn/turn.npz turn.truth.npz [--moving-only]

Rows: fit (as written); frame / weighted / smooth0.5 / smooth1.5 / median: the floor along the people's up
(the clip's floor normal, through the median lower ankle) per frame, weighted per frame by the
rays' angle against the fit (floor_weight), smoothed over 0.5 or 1.5 s,
or one scale per person; plane / plane0.3: a plane fitted to every lower ankle (free normal).
Results: docs/camera-motion.md, "Depth from the floor".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parent))

ANKLES = (15, 16)  # COCO-17 left / right ankle in keypoints3d


def floor_scales(person, up_cam: np.ndarray, height: float, ankle_height: float) -> np.ndarray:
    """(T,) per frame, how far along its ray the person must move for the lower ankle to stand
    `ankle_height` above the floor {X: up . X = -height} (camera at the origin)."""
    a = person.keypoints3d[:, list(ANKLES)].astype(np.float64)  # (T, 2, 3)
    along = np.einsum("tkj,tj->tk", a, up_cam)  # up-coordinate of each ankle, (T, 2)
    low = along.min(axis=1)  # the lower ankle
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (height - ankle_height) / -low
    return np.where(np.isfinite(s) & (s > 0.5) & (s < 2.0), s, np.nan)


def floor_weight(person, up_cam: np.ndarray, focal: float, fit_px: float = 0.5) -> np.ndarray:
    """(T,) how much of the floor's depth to take, by which is steadier per pixel of keypoint
    error: the floor's relative depth error is 1 / (f sin d cos d) for a ray d below the floor's
    horizon, the fit's about `fit_px` / (the person's height in pixels); inverse-variance
    weights."""
    a = person.keypoints3d[:, list(ANKLES)].astype(np.float64)
    low = a[np.arange(len(a)), np.argmin(np.einsum("tkj,tj->tk", a, up_cam), axis=1)]
    ray = low / np.linalg.norm(low, axis=1, keepdims=True)
    sin_d = np.clip(-np.einsum("tj,tj->t", ray, up_cam), 1e-3, 1.0)
    floor_err = 1.0 / (focal * sin_d * np.sqrt(1.0 - sin_d ** 2))
    height_px = np.maximum(person.boxes[:, 3] - person.boxes[:, 1], 1.0)
    fit_err = fit_px / height_px
    return fit_err ** 2 / (fit_err ** 2 + floor_err ** 2)


def fit_plane(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The plane n . X + d = 0 through (N, 3) points: unit normal n (pointing up, negative
    camera y) and d; robust (iteratively reweighted least squares, residuals floored at 5 cm)."""
    w = np.ones(len(points))
    n, c = np.array([0.0, -1.0, 0.0]), points.mean(0)
    for _ in range(10):
        c = (w[:, None] * points).sum(0) / w.sum()
        q = points - c
        _, _, vt = np.linalg.svd(q * np.sqrt(w)[:, None], full_matrices=False)
        n = vt[-1] * (1 if vt[-1][1] < 0 else -1)
        w = 1.0 / np.maximum(np.abs(q @ n), 0.05)
    return n, -float(n @ c)


def main() -> None:
    from camera_motion_check import probe_parser, rms_summary, root_rms

    from meshvid.export.npz import load_npz

    a = probe_parser(__doc__, "correct the re-framed run only (the still run as written)").parse_args()
    still, moving = load_npz(a.still), load_npz(a.moving)
    cam_R = np.load(a.moving)["cam_R"]
    truth = np.load(a.truth)
    fps = still.fps

    def ups(result, R):
        """Per person, the floor's up in each of its frames' cameras, and the floor height."""
        f = result.floor
        # the stored floor is in the world frame: its level up (0,-1,0) along `height` for a
        # moving clip (world levelled), the people's mean up along `height_levelled` for a still
        up_w, h = (np.array([0.0, -1.0, 0.0]), f.height) if R is not None else (f.up, f.height_levelled)
        out = []
        for p in result.persons:
            u = (np.einsum("tij,j->ti", R[p.frame_ids], up_w) if R is not None
                 else np.tile(up_w, (len(p), 1)))
            out.append(u)
        return out, h

    def corrected(result, R):
        us, h = ups(result, R)
        # the ankles' height above the floor when standing: the clip's median lower ankle
        lows = np.concatenate([np.einsum("tkj,tj->tk", p.keypoints3d[:, list(ANKLES)], u).min(1)
                               for p, u in zip(result.persons, us)])
        e = float(np.median(lows + h))
        out = {}
        for p, u in zip(result.persons, us):
            s = floor_scales(p, u, h, e)
            root = p.joints3d[:, 0].astype(np.float64)
            med = np.nanmedian(s) if np.isfinite(s).any() else 1.0
            filled = np.where(np.isfinite(s), s, med)
            out[id(p)] = {"fit": root, "median": root * med,
                          "frame": root * filled[:, None],
                          "smooth0.5": root * gaussian_filter1d(filled, 0.5 * fps, mode="nearest")[:, None],
                          "smooth1.5": root * gaussian_filter1d(filled, 1.5 * fps, mode="nearest")[:, None],
                          "weighted": root * (1 + floor_weight(p, u, float(result.focal_length))
                                              * (filled - 1))[:, None]}
        return out, e

    def lower_ankles(result, R):
        """Per person (T, 3): the lower ankle along the camera's rough up, in the first camera's
        axes (the world for a still clip)."""
        out = []
        for p in result.persons:
            a = p.keypoints3d[:, list(ANKLES)].astype(np.float64)
            low = a[np.arange(len(a)), np.argmax(a[:, :, 1], axis=1)]  # larger y: lower
            if R is not None:
                low = np.einsum("tji,tj->ti", R[p.frame_ids], low) @ R[0].T
            out.append(low)
        return out

    def plane_corrected(result, R):
        lows = lower_ankles(result, R)
        n, d = fit_plane(np.concatenate(lows))
        out = {}
        for p, low in zip(result.persons, lows):
            s = -d / (low @ n)
            s = np.where(np.isfinite(s) & (s > 0.5) & (s < 2.0), s, 1.0)
            root = p.joints3d[:, 0].astype(np.float64)
            out[id(p)] = {"plane": root * s[:, None],
                          "plane0.3": root * gaussian_filter1d(s, 0.3 * fps, mode="nearest")[:, None]}
        return out, n, d

    cs, es = corrected(still, None)
    ps, ns, ds = plane_corrected(still, None)
    pm, nm, dm = plane_corrected(moving, cam_R)
    print(f"ankle plane: still n {np.round(ns, 3)} d {ds:.2f}; moving (first camera) n {np.round(nm, 3)} d {dm:.2f}")
    cm, em = corrected(moving, cam_R)
    for k in cs:
        cs[k].update(ps[k])
    for k in cm:
        cm[k].update(pm[k])
    print(f"median lower ankle above the clip's floor estimate: still {es:.3f} m, moving {em:.3f} m; "
          "camera height "
          f"still {still.floor.height_levelled:.2f}, moving {moving.floor.height:.2f}")
    kinds = list(next(iter(cs.values())).keys())
    rows = root_rms(still, moving, truth, cam_R, kinds, lambda p, k: cm[id(p)][k],
                    lambda p, k: cs[id(p)]["fit" if a.moving_only else k])
    for k in kinds:
        print(f"{k:10s}: {rms_summary(rows[k])}")


if __name__ == "__main__":
    main()
