"""The detector pass over a synthetic data set: the 2D keypoints YOLO-pose itself finds on each
rendered crop, so the skeleton branch can be trained on what it will see at inference time.

For each shard without one, writes shard-XXXXXX.det.npz (atomically; a separate, resumable
step after `meshvid synth`) with, per image (crops: (N, ...); sequences: (N, T, ...)):

    keypoints_coco17_det  (..., 17, 3) float32  x, y in crop pixels, keypoint confidence
    det_score             (...)        float32  box confidence (0 = nobody matched)
    det_box               (..., 4)     float32  x1, y1, x2, y2 in crop pixels

The detection kept is the one whose box best overlaps the labelled person's (the projected
COCO-17 joints' box); if none overlaps by IoU >= 0.3, keypoints and scores are 0 -- a miss,
which is information too (the network must cope with missing skeletons).

Deviation from inference: the detector runs on the 224-px crop (the person ~70-90% of its
height, like the ~200-px network-scale people meshvid's own imgsz choice aims for), not on the
full frame, which the synthetic pipeline never renders.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from meshvid.synth import shards as fmt

MIN_IOU = 0.3


def det_path(shard: Path) -> Path:
    return shard.with_name(shard.name.replace(".npz", ".det.npz"))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _label_box(joints2d: np.ndarray, vis: np.ndarray, size: int) -> np.ndarray:
    pts = joints2d[vis.astype(bool)] if vis.sum() >= 2 else joints2d
    lo = np.clip(pts.min(0), 0, size)
    hi = np.clip(pts.max(0), 0, size)
    pad = 0.1 * (hi - lo).max()
    return np.array([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad])


def detect_shard(detector, shard: Path, batch: int = 16, imgsz: int = 224) -> dict[str, np.ndarray]:
    z = fmt.read_shard(shard, keys=["jpeg", "jpeg_offsets", "joints2d_coco17", "vis_coco17"])
    offsets = z["jpeg_offsets"]
    n_img = len(offsets) - 1
    lead = z["joints2d_coco17"].shape[:-2]  # (N,) or (N, T)
    j2d = z["joints2d_coco17"].reshape(n_img, 17, 2)
    vis = z["vis_coco17"].reshape(n_img, 17)
    kps = np.zeros((n_img, 17, 3), np.float32)
    scores = np.zeros(n_img, np.float32)
    boxes = np.zeros((n_img, 4), np.float32)
    for start in range(0, n_img, batch):
        idx = range(start, min(n_img, start + batch))
        images = [fmt.decode_jpeg(z["jpeg"][offsets[i]:offsets[i + 1]]) for i in idx]
        size = images[0].shape[0]
        for i, dets in zip(idx, detector.detect(images, imgsz=imgsz)):
            if not dets:
                continue
            ref = _label_box(j2d[i], vis[i], size)
            best = max(dets, key=lambda d: _iou(d.box, ref))
            if _iou(best.box, ref) < MIN_IOU:
                continue
            kps[i, :, :2] = best.keypoints
            kps[i, :, 2] = best.keypoint_scores
            scores[i] = best.score
            boxes[i] = best.box
    return {"keypoints_coco17_det": kps.reshape(*lead, 17, 3),
            "det_score": scores.reshape(lead), "det_box": boxes.reshape(*lead, 4)}


def detect_dataset(root: str | Path, weights: str | None = None, imgsz: int = 224,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    """Run the detector over every shard of `root` that has no .det.npz yet."""
    from meshvid.errors import InputError
    from meshvid.perception.detector import PoseDetector

    root = Path(root)
    shard_files = fmt.list_shards(root)
    if not shard_files:
        raise InputError(f"no synthetic shards in {root}; make them with `meshvid synth --out {root}`")
    todo = [p for p in shard_files if not det_path(p).exists()]
    detector = PoseDetector(weights, imgsz=imgsz)
    images_total = sum(len(fmt.read_shard(p, keys=["jpeg_offsets"])["jpeg_offsets"]) - 1 for p in shard_files)
    done = images_total - sum(len(fmt.read_shard(p, keys=["jpeg_offsets"])["jpeg_offsets"]) - 1 for p in todo)
    if progress:
        progress(done, images_total)
    t0 = time.perf_counter()
    found = made = 0
    for p in todo:
        out = detect_shard(detector, p, imgsz=imgsz)
        fmt.write_npz_deterministic(det_path(p), out)
        n = out["det_score"].size
        made += n
        found += int((out["det_score"] > 0).sum())
        done += n
        if progress:
            progress(done, images_total)
    seconds = time.perf_counter() - t0
    return {"shards": len(shard_files), "shards_made": len(todo), "images": images_total,
            "images_made": made, "found_fraction": round(found / made, 4) if made else None,
            "seconds": round(seconds, 2), "images_per_second": round(made / seconds, 2) if made and seconds else None,
            "detector": str(detector.weights), "backend": detector.backend, "imgsz": imgsz}
