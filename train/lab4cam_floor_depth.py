"""Issue 25: is a person's depth from the floor closer to the truth than the keypoint fit's?

lab4cam's calibrated cameras: the mid-hip's camera-space position of a `meshvid eval --dataset
multiview` run's variant against the reference, as the fit placed it and moved along its ray so
that the lower ankle lies on the floor along the people's up (the plane through the median lower
ankle; scripts/floor_depth_probe.py). RMS per camera, raw and after one scale per camera (which
takes out the focal length and the body's size). docs/camera-motion.md, "Depth from the floor".

    python train/lab4cam_floor_depth.py ../shared/realbench/lab4cam out/mv_base "DSD+SATN+refine"
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))

from lab4cam_joint_bias import matched_pairs  # noqa: E402


def floor_scales(result) -> dict[int, np.ndarray]:
    """Per track id, (T,) how far along its ray each frame's body moves for its lower ankle to
    lie on the floor plane (normal: the result's floor up; through the median lower ankle)."""
    up = result.floor.up
    lows = [(p.keypoints3d[:, [15, 16]].astype(np.float64) @ up).min(1) for p in result.persons]
    plane = np.median(np.concatenate(lows))
    return {p.track_id: np.clip(plane / low, 0.5, 2.0) for p, low in zip(result.persons, lows)}


def rms_after_scale(pred: np.ndarray, ref: np.ndarray) -> str:
    k = (pred * ref).sum() / (pred * pred).sum()  # one scale: the focal length, the body's size
    raw = np.linalg.norm(pred - ref, axis=1)
    scaled = np.linalg.norm(k * pred - ref, axis=1)
    depth = k * pred[:, 2] - ref[:, 2]
    return (f"raw {np.sqrt((raw ** 2).mean()):.3f} m, after one scale ({k:.3f}) "
            f"{np.sqrt((scaled ** 2).mean()):.3f} m, depth {np.sqrt((depth ** 2).mean()):.3f} m")


def main() -> None:
    root, out, variant = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    per_cam: dict[str, list] = {}
    for name, _cam, pi, _ref, result, view, m, got, ok in matched_pairs(root, out, variant):
        scales = floor_scales(result)
        g = view.joints[pi][ok]
        p = got["keypoints3d"][ok]
        s = np.array([scales[result.persons[int(t)].track_id][int(r)]
                      for t, r in zip(m.track[ok], m.row[ok])])
        g_hip, p_hip = g[:, [11, 12]].mean(1), p[:, [11, 12]].mean(1)
        v = np.isfinite(g_hip).all(1) & np.isfinite(p_hip).all(1)
        per_cam.setdefault(name, []).append((g_hip[v], p_hip[v], p_hip[v] * s[v][:, None]))
    for name, rows in per_cam.items():
        g, fit, floor = (np.concatenate([r[i] for r in rows]) for i in range(3))
        print(f"{name}: depth {g[:, 2].min():.1f}-{g[:, 2].max():.1f} m | fit: "
              f"{rms_after_scale(fit, g)} | floor: {rms_after_scale(floor, g)}")


if __name__ == "__main__":
    main()
