"""A second look at each tracked person: the detector again on their crop, larger (issue 24).

The first pass runs the pose detector on the whole frame at the size that finds people
(detector.choose_imgsz: the typical person ~200 px tall at network scale). Its keypoints are
the networks' only view of the body, and on real footage they cost the most: exact 2D takes
13 mm off the network's PA-MPJPE and 22 mm off the pipeline's on lab4cam
(docs/eval-multiview.md). Here each tracked person's square crop is resampled to `size` px
(they stand ~size/1.25 px tall in it), the detector runs on the batch of crops, the detection
that is this person (its box overlaps the tracked box, IoU >= MIN_IOU) is kept, and its
keypoints are mapped back to the frame and fused with the first pass's, weighted by the
detector's own confidences. Boxes and the tracking itself stay the first pass's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from meshvid.body.joints import COCO_17_FLIP
from meshvid.perception.crops import apply_affines, make_crops
from meshvid.records import Detection

CROP_PADDING = 1.25  # room for outstretched arms around the box
MIN_IOU = 0.5  # below this the crop's detection is someone else (or no one)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4), (M, 4) x1, y1, x2, y2 -> (N, M) intersection over union."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def fuse_keypoints(first: Detection, kps: np.ndarray, conf: np.ndarray) -> Detection:
    """First-pass detection + the crop's keypoints (17, 2) and confidences (17,) -> a detection
    whose keypoints are the confidence-weighted mean and whose confidence is the larger one."""
    w1 = np.asarray(first.keypoint_scores, np.float64)[:, None]
    w2 = np.asarray(conf, np.float64)[:, None]
    total = w1 + w2
    mean = np.where(total > 0, (w1 * first.keypoints + w2 * kps) / np.maximum(total, 1e-12),
                    0.5 * (first.keypoints + kps))
    return dataclasses.replace(first, keypoints=mean,
                               keypoint_scores=np.maximum(first.keypoint_scores, conf))


def _own_detection(dets, own_box: np.ndarray):
    """The detection among `dets` that is the person of `own_box` (IoU >= MIN_IOU), or None."""
    if not dets:
        return None
    iou = box_iou(own_box, np.stack([d.box for d in dets]))[0]
    k = int(np.argmax(iou))
    return dets[k] if iou[k] >= MIN_IOU else None


def crop_keypoints(detector, image: np.ndarray, boxes: np.ndarray, size: int, flip: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The detector on each box's square crop at `size` px -> keypoints (N, 17, 2) in frame
    pixels (NaN where the crop shows no detection overlapping the box) and confidences (N, 17).

    flip: also run the detector on each crop mirrored left to right, mirror its keypoints back
    (left and right joints swapped) and average the two views, weighted by their confidences.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    kps = np.full((len(boxes), 17, 2), np.nan)
    conf = np.zeros((len(boxes), 17))
    if not len(boxes):
        return kps, conf
    crops = make_crops(image, boxes, size=size, padding=CROP_PADDING)
    own = apply_affines(crops.frame_to_crop, boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    found = detector.detect(list(crops.images), imgsz=size)
    mirrored = (detector.detect([np.ascontiguousarray(im[:, ::-1]) for im in crops.images],
                                imgsz=size) if flip else [None] * len(boxes))
    flip_idx = list(COCO_17_FLIP)
    for i, (dets, mdets) in enumerate(zip(found, mirrored)):
        views = []
        d = _own_detection(dets, own[i])
        if d is not None:
            views.append((d.keypoints, d.keypoint_scores))
        if flip:
            width = crops.images[i].shape[1]
            x1, y1, x2, y2 = own[i]
            m = _own_detection(mdets, np.array([width - x2, y1, width - x1, y2]))
            if m is not None:  # back to the unmirrored crop: x -> width - x, sides swapped
                k = np.asarray(m.keypoints, np.float64)[flip_idx].copy()
                k[:, 0] = width - k[:, 0]
                views.append((k, np.asarray(m.keypoint_scores, np.float64)[flip_idx]))
        if not views:
            continue
        w = np.stack([c for _, c in views])[..., None]  # (V, 17, 1)
        k = np.stack([k for k, _ in views])  # (V, 17, 2)
        mean = np.where(w.sum(0) > 0, (w * k).sum(0) / np.maximum(w.sum(0), 1e-12), k.mean(0))
        kps[i] = apply_affines(crops.crop_to_frame[i:i + 1], mean[None])[0]
        conf[i] = w[..., 0].mean(0)
    return kps, conf


def second_look(detector, image: np.ndarray, detections: list[Detection], size: int,
                flip: bool = False) -> list[Detection]:
    """The tracked `detections` of one frame with keypoints refined by a pass on their crops.

    A person whose crop shows no matching detection keeps the first pass's keypoints.
    """
    if not detections:
        return []
    kps, conf = crop_keypoints(detector, image, np.stack([d.box for d in detections]), size,
                               flip=flip)
    return [first if np.isnan(k).any() else fuse_keypoints(first, k, c)
            for first, k, c in zip(detections, kps, conf)]
