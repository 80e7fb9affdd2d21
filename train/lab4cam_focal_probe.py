"""Issue 25 probe: the focal length from the scene's plumb lines and the people's horizon.

Two 2D facts fix the focal length of a pitched camera without any 3D: the vertical vanishing
point V (where plumb lines meet, meshvid.scene.vanishing; d pixels from the principal point)
and the horizon (the ground plane's vanishing line; e pixels from it on the other side), since
d * e = f^2. The horizon comes from the people: a standing person's image height is
proportional to how far below the horizon their feet are (h = k (y_feet - y_horizon), the
same k for people of one height), so a line fitted through every detected (foot row, height)
pair meets h = 0 at the horizon. Heights here are ankle to eyes, from the tracker's keypoints
(confidence >= 0.5), measured along the direction to V.

For lab4cam's four cameras (calibrated focal 1,009-1,024 px), prints the focal this gives and
`meshvid infer`'s guess.

    python train/lab4cam_focal_probe.py ../shared/realbench/lab4cam out/mv_sh "DSD+SATN+refine"
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))

from lab4cam_vanishing_gravity import clip_segments  # noqa: E402


def horizon_offset(persons, vp: np.ndarray, center: np.ndarray) -> tuple[float, int]:
    """(e, samples): the horizon's distance from the principal point along the direction away
    from the vertical vanishing point `vp` (pixels), from every person-frame's (feet, height)."""
    towards_vp = (vp - center) / np.linalg.norm(vp - center)
    feet, height = [], []
    for p in persons:
        k, s = np.asarray(p.keypoints2d, np.float64), np.asarray(p.keypoint_scores)
        for kk, ss in zip(k, s):
            if (ss[[15, 16]] < 0.5).all() or (ss[[1, 2]] < 0.5).all():
                continue
            ankles = kk[[15, 16]][ss[[15, 16]] >= 0.5]
            eyes = kk[[1, 2]][ss[[1, 2]] >= 0.5]
            f = (ankles - center) @ towards_vp
            e = (eyes - center) @ towards_vp
            feet.append(f.max())
            height.append(f.max() - e.min())
    feet, height = np.array(feet), np.array(height)
    if len(feet) < 20:
        return float("nan"), len(feet)
    # h = k (foot - horizon): robust line fit (iteratively reweighted)
    w = np.ones(len(feet))
    for _ in range(10):
        A = np.stack([feet, np.ones_like(feet)], 1) * w[:, None]
        k, b = np.linalg.lstsq(A, height * w, rcond=None)[0]
        r = np.abs(height - (k * feet + b))
        w = 1.0 / np.maximum(r, np.median(r) + 1e-6)
    return float(b / k), len(feet)  # horizon at foot = -b/k along towards_vp: offset -(-b/k)


def main() -> None:
    from lab4cam_joint_bias import camera_results

    from meshvid.scene.camera_motion import boxes_by_frame
    from meshvid.scene.vanishing import consensus, vertical_direction

    cameras = camera_results(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
    data = next(cameras)
    for name, cam, result in cameras:
        seg, (w, h) = clip_segments(data.videos[name], boxes_by_frame(result.persons), 7, 0.03)
        guess = float(result.focal_length)
        center = np.array([w / 2.0, h / 2.0])
        est = consensus([vertical_direction(s, guess, tuple(center)) for s in seg])
        if est is None:
            print(f"{name}: no vertical vanishing point")
            continue
        up = est.up
        vp = center + guess * up[:2] / up[2]  # the pixel where plumb lines meet (any focal)
        d = float(np.linalg.norm(vp - center))
        e, n = horizon_offset(result.persons, vp, center)
        focal = float(np.sqrt(d * e)) if e > 0 else float("nan")
        print(f"{name}: vanishing point {d:.0f} px from the centre, horizon {e:.0f} px on the "
              f"other side ({n} person-frames) -> focal {focal:.0f} px; calibrated "
              f"{cam.focal:.0f}, infer's guess {guess:.0f}")


if __name__ == "__main__":
    main()
