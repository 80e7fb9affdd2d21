"""Issue 24: where YOLO11n-pose puts the shoulders and hips on our body, against our rig's COCO-17
keypoints (meshvid.body: the mesh's surface keypoints that the networks train on and the fit aims
at).

On every rendered frame of a synthetic set with the detector's keypoints (`meshvid synth detect`)
where both shoulders and both hips are detected (confidence >= 0.5) and labelled visible, both
sets of 2D keypoints are measured in the body's own image frame: shoulder width and hip width
across the trunk axis (mid-hip to mid-shoulder), over the trunk's length, and the trunk's length
itself. The renders are our body, so any difference is the detector's idea of the joint against
the rig's, not the person. docs/training.md, "Issue 24, sixth session".

    python train/detector_keypoint_definitions.py data/cpu/train_seq
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CROP = 224  # `meshvid synth` crop size: labels are crop-normalised [-1, 1], detections crop px
TRUNK = (5, 6, 11, 12)  # COCO-17 shoulders and hips


def widths(k: np.ndarray) -> tuple[float, float, float]:
    """(shoulder width, hip width) across the trunk axis over the trunk length, and that length
    (px), of one frame's (17, 2) keypoints."""
    mid_hip, mid_shoulder = (k[11] + k[12]) / 2, (k[5] + k[6]) / 2
    axis = mid_shoulder - mid_hip
    length = float(np.linalg.norm(axis))
    axis = axis / length

    def across(a, b):
        d = k[a] - k[b]
        return abs(axis[0] * d[1] - axis[1] * d[0]) / length

    return across(5, 6), across(11, 12), length


# Each body joint's outward direction in the body's image frame: +1 where "across" points to
# the body's left (COCO's left joints), -1 for the right ones, so both sides pool.
SIDE = {5: 1, 6: -1, 7: 1, 8: -1, 9: 1, 10: -1, 11: 1, 12: -1, 13: 1, 14: -1, 15: 1, 16: -1}


def body_frame_offsets(det: np.ndarray, rig: np.ndarray) -> np.ndarray:
    """(12, 2) each body joint's detector-minus-rig offset in the rig's own image frame of one
    frame's (17, 2) keypoints: (outward, up the trunk), over the rig's trunk length. Outward is
    away from the body's midline on that joint's side; up is mid-hip to mid-shoulder."""
    mid_hip, mid_shoulder = (rig[11] + rig[12]) / 2, (rig[5] + rig[6]) / 2
    up = mid_shoulder - mid_hip
    length = float(np.linalg.norm(up))
    up = up / length
    left = rig[11] - rig[12]
    left = left - up * (left @ up)
    left = left / max(float(np.linalg.norm(left)), 1e-9)
    d = det[5:17] - rig[5:17]
    return np.stack([np.array([SIDE[j] for j in range(5, 17)]) * (d @ left), d @ up], -1) / length


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="a `meshvid synth` folder with .det.npz shards")
    a = ap.parse_args()
    det_rows, rig_rows, offsets = [], [], []
    for det_file in sorted(a.data.glob("shard-*.det.npz")):
        det = np.load(det_file)["keypoints_coco17_det"].reshape(-1, 17, 3)
        labels = np.load(det_file.with_name(det_file.name.replace(".det", "")))
        rig = (labels["joints2d_coco17_norm"].reshape(-1, 17, 2) + 1.0) * CROP / 2
        visible = labels["vis_coco17"].reshape(-1, 17)
        for d, r, v in zip(det, rig, visible):
            if (d[list(TRUNK), 2] < 0.5).any() or (v[list(TRUNK)] < 0.5).any():
                continue
            det_rows.append(widths(d[:, :2]))
            both = (d[5:17, 2] >= 0.5) & (v[5:17] >= 0.5)
            offsets.append(np.where(both[:, None], body_frame_offsets(d[:, :2], r), np.nan))
            rig_rows.append(widths(r))
    det_rows, rig_rows = np.array(det_rows), np.array(rig_rows)
    print(f"{len(det_rows)} frames of {a.data}: shoulder width / trunk: detector "
          f"{np.median(det_rows[:, 0]):.3f}, rig {np.median(rig_rows[:, 0]):.3f}; hip width / trunk: "
          f"detector {np.median(det_rows[:, 1]):.3f}, rig {np.median(rig_rows[:, 1]):.3f}; trunk "
          f"length detector / rig {np.median(det_rows[:, 2] / rig_rows[:, 2]):.3f}")
    med = np.nanmedian(np.array(offsets), axis=0)
    names = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    print("detector minus rig, median over frames and both sides, share of the trunk length "
          "(outward, up): " + ", ".join(
              f"{n} ({(med[2 * i, 0] + med[2 * i + 1, 0]) / 2:+.3f}, "
              f"{(med[2 * i, 1] + med[2 * i + 1, 1]) / 2:+.3f})" for i, n in enumerate(names)))


if __name__ == "__main__":
    main()
