"""Issue 25: gravity from the scene's vertical lines (meshvid.scene.vanishing) against the
calibration's, on lab4cam's four cameras (world z-up), beside the people's mean pelvis up that
the world frame uses today (meshvid.scene.floor, from a `meshvid eval --dataset multiview` run).

For each camera: LSD segments of `--frames` frames spread over the clip, those touching a
tracked person's box (grown 10 %) dropped, pooled; the vertical direction with the calibrated
intrinsics (principal point and focal) and with what `meshvid infer` assumes (the image centre
and its focal guess, the run's `focal_length`), one estimate per frame and their consensus
(meshvid.scene.vanishing.consensus). Prints the angle to the calibration's up.

    python train/lab4cam_vanishing_gravity.py ../shared/realbench/lab4cam out/mv_sh "DSD+SATN+refine"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))

from lab4cam_gravity import angle  # noqa: E402


def clip_segments(video: Path, boxes_by_frame: dict[int, np.ndarray], frames: int,
                  min_length: float) -> tuple[list[np.ndarray], tuple[int, int]]:
    """LSD segments (N, 4) of each of `frames` evenly spaced frames, people's boxes masked."""
    import cv2

    from meshvid.io.video import open_source
    from meshvid.scene.vanishing import line_segments, mask_boxes

    src = open_source(video)
    total = src.info.num_frames
    wanted = set(np.linspace(0, max(total - 1, 0), frames).round().astype(int).tolist())
    pooled, size = [], (0, 0)
    for frame in open_source(video):
        if frame.index not in wanted:
            continue
        gray = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
        size = (gray.shape[1], gray.shape[0])
        seg = line_segments(gray, min_length * np.hypot(*gray.shape))
        pooled.append(mask_boxes(seg, boxes_by_frame.get(frame.index, np.zeros((0, 4)))))
    return pooled, size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("out", type=Path, help="a `meshvid eval --dataset multiview` --out folder")
    ap.add_argument("variant", help='its results.json variant, e.g. "DSD+SATN+refine"')
    ap.add_argument("--frames", type=int, default=7)
    ap.add_argument("--min-length", type=float, default=0.03,
                    help="shortest segment, share of the image diagonal")
    a = ap.parse_args(argv)
    from lab4cam_joint_bias import camera_results

    from meshvid.scene.camera_motion import boxes_by_frame
    from meshvid.scene.vanishing import consensus, vertical_direction

    cameras = camera_results(a.root, a.out, a.variant)
    data = next(cameras)
    for name, cam, result in cameras:
        gravity_up = cam.R[:, 2]  # the world's +z in the camera's axes
        t0 = time.perf_counter()
        seg, (w, h) = clip_segments(data.videos[name], boxes_by_frame(result.persons), a.frames,
                                    a.min_length)
        seconds = time.perf_counter() - t0
        calibrated = consensus([vertical_direction(s, cam.focal, (float(cam.K[0, 2]),
                                                                   float(cam.K[1, 2])))
                                for s in seg])
        assumed = consensus([vertical_direction(s, float(result.focal_length), (w / 2, h / 2))
                             for s in seg])
        fmt = (lambda e: "none" if e is None else
               f"{angle(e.up, gravity_up):.1f} deg ({e.support:.0f} px of {e.segments} segments)")
        print(f"{name}: camera tilt {angle(gravity_up, np.array([0.0, -1.0, 0.0])):.1f} deg | "
              f"people's up off by {angle(result.floor.up, gravity_up):.1f} deg | lines, "
              f"calibrated intrinsics: {fmt(calibrated)} | lines, infer's focal "
              f"{float(result.focal_length):.0f} px: {fmt(assumed)} | {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
