"""Issue 25: how far the clip's floor normal (the people's mean pelvis up, meshvid.scene.floor)
and a plane fitted to the people's lower ankles are from gravity, on lab4cam's calibrated cameras
(whose world is z-up). docs/camera-motion.md, "Depth from the floor".

    python train/lab4cam_gravity.py ../shared/realbench/lab4cam out/mv_base "DSD+SATN+refine"
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "train"))


def angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                              -1, 1))))


def main() -> None:
    from floor_depth_probe import fit_plane
    from lab4cam_joint_bias import camera_results

    cameras = camera_results(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
    next(cameras)
    for name, cam, result in cameras:
        gravity_up = cam.R[:, 2]  # the world's +z in the camera's axes
        lows = []
        for p in result.persons:
            a = p.keypoints3d[:, [15, 16]].astype(np.float64)
            lows.append(a[np.arange(len(a)), np.argmax(a[:, :, 1], 1)])  # larger y: lower
        plane, _ = fit_plane(np.concatenate(lows))
        print(f"{name}: camera tilt {angle(gravity_up, np.array([0.0, -1.0, 0.0])):.1f} deg | the "
              f"people's up off by {angle(result.floor.up, gravity_up):.1f} deg | the ankle plane "
              f"off by {angle(plane, gravity_up):.1f} deg | focal {float(result.focal_length):.0f} px")


if __name__ == "__main__":
    main()
