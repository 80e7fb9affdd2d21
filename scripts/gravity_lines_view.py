"""Gravity from a clip's plumb lines beside its people's up, printed per sampled frame and drawn.

Reads a `meshvid infer` result (its people's boxes, focal length and floor) and the clip; on
seven frames spread over it finds the vertical direction (meshvid.scene.vanishing, people
masked), prints each frame's estimate, their consensus and its angle to the people's mean up
(the NPZ's floor up when it came from the people, i.e. `--gravity people`), and with `--draw`
writes the first frame with the segments that agree (green) and those that do not (red), and a
short vertical drawn at three places for the lines' up (cyan) and the people's (magenta).

    python scripts/gravity_lines_view.py VIDEO OUT/NAME.npz [--draw view.jpg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                              -1, 1))))


def main(argv: list[str] | None = None) -> int:
    import cv2

    from meshvid.export.npz import load_npz
    from meshvid.io.video import open_source
    from meshvid.scene.vanishing import (MIN_SEGMENT, GravityStage, line_segments, mask_boxes,
                                         plane_normals)
    from meshvid.scene.world import body_ups, estimate_up

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", type=Path)
    ap.add_argument("npz", type=Path)
    ap.add_argument("--draw", type=Path)
    a = ap.parse_args(argv)
    result = load_npz(a.npz)
    focal = float(result.focal_length)
    info = open_source(a.video).info
    # the stage `meshvid infer --gravity lines` runs, on the same frames
    stage = GravityStage("lines", result.persons, info.num_frames, (info.width, info.height),
                         focal)
    first = None
    for frame in open_source(a.video):
        stage(frame)
        if first is None and stage.found:
            first = frame.image[:, :, ::-1].copy()
    for index, est in stage.found:
        print(f"frame {index}: " + ("none" if est is None else
              f"up {np.round(est.up, 3).tolist()}, {est.support:.0f} px agree"))
    people = estimate_up(body_ups(result.persons))
    best = stage.finish(None, people)
    level = np.array([0.0, -1.0, 0.0])
    if best is None:
        print(f"no estimate from the lines: {stage.reason}")
        return 1
    print(f"lines: up {np.round(best.up, 3).tolist()}, tilt {angle(best.up, level):.1f} deg | "
          f"people's mean up {np.round(people, 3).tolist()}, tilt {angle(people, level):.1f} deg | "
          f"between them {angle(best.up, people):.1f} deg")
    # Which up does the reconstruction stand on? The lower ankle's height along each candidate,
    # 10th to 90th percentile over every person-frame (a still camera's frame): small for the
    # ground the feet are on (a plane fitted to the feet is the smallest by construction).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from floor_depth_probe import fit_plane

    lows = []
    for p in result.persons:
        k = p.keypoints3d[:, [15, 16]].astype(np.float64)
        lows.append(k[np.arange(len(k)), np.argmax(k[:, :, 1], axis=1)])  # larger y: lower
    lows = np.concatenate(lows)
    plane, _ = fit_plane(lows)
    for name, up in (("the people's mean up", people), ("a plane fitted to the feet", plane),
                     ("the lines", best.up)):
        q = np.percentile(lows @ up, [10, 90])
        print(f"feet heights along {name} (tilt {angle(up, level):.1f} deg): 10-90 % spread "
              f"{q[1] - q[0]:.2f} m")
    if a.draw and first is not None:
        img = first
        h, w = img.shape[:2]
        c = (w / 2, h / 2)
        index, est = stage.found[0]
        seg = mask_boxes(line_segments(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY),
                                       MIN_SEGMENT * np.hypot(w, h)),
                         stage.boxes.get(index, np.zeros((0, 4))))
        if est is not None:
            agree = np.abs(plane_normals(seg, focal, c) @ est.up) < np.sin(np.radians(1.0))
            for s_, ok in zip(seg, agree):
                cv2.line(img, (int(s_[0]), int(s_[1])), (int(s_[2]), int(s_[3])),
                         (0, 255, 0) if ok else (0, 0, 255), 2)
        for up, colour in ((best.up, (255, 255, 0)), (people, (255, 0, 255))):
            for x in (0.15 * w, 0.5 * w, 0.85 * w):
                p = np.array([(x - c[0]) / focal, (0.5 * h - c[1]) / focal, 1.0]) * 10.0
                q = p + up * 2.0
                cv2.line(img, (int(p[0] / p[2] * focal + c[0]), int(p[1] / p[2] * focal + c[1])),
                         (int(q[0] / q[2] * focal + c[0]), int(q[1] / q[2] * focal + c[1])),
                         colour, 2)
        cv2.imwrite(str(a.draw), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        print(f"wrote {a.draw}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
