"""Appearance of a tracked person: colour histograms of the box, for identity checks.

A bridge across a gap in a track (the tracker lost the person and found "them" again, or two
tracklets are stitched) must not pass a track from one person to another. Besides motion and
size, the evidence is what the person wears: a hue-saturation histogram of the upper and of the
lower half of the box (clothes; the outer 20 % of the width and the top 10 % (hair, background)
are left out, value is ignored so shade and light changes matter less). Descriptors are
L1-normalised per half; `appearance_distance` is the Hellinger distance averaged over the
halves: 0 same colours, 1 nothing in common.
"""

from __future__ import annotations

import numpy as np

HUE_BINS, SAT_BINS = 12, 4
DESCRIPTOR_SIZE = 2 * HUE_BINS * SAT_BINS


def appearance_descriptor(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Colour descriptor of one person.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        box: (4,) x1, y1, x2, y2 pixels.

    Returns:
        (DESCRIPTOR_SIZE,) float32: upper-half then lower-half histograms, each summing to 1
        (all zero where the region is empty).
    """
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    xa, xb = int(max(0, x1 + 0.2 * bw)), int(min(w, x2 - 0.2 * bw))
    ya, ym, yb = int(max(0, y1 + 0.1 * bh)), int(max(0, min(h, y1 + 0.5 * bh))), int(min(h, y2))
    out = np.zeros(DESCRIPTOR_SIZE, np.float32)
    for k, (a, b) in enumerate(((ya, ym), (ym, yb))):
        if b - a < 2 or xb - xa < 2:
            continue
        patch = np.ascontiguousarray(image[a:b, xa:xb])
        step = max(1, int(max(patch.shape[:2]) // 64))  # a 64-px patch is plenty for colours
        hsv = cv2.cvtColor(patch[::step, ::step], cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256])
        hist = hist.reshape(-1)
        total = float(hist.sum())
        if total > 0:
            out[k * HUE_BINS * SAT_BINS:(k + 1) * HUE_BINS * SAT_BINS] = hist / total
    return out


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger distance between two descriptors (or means of several), averaged over the
    halves both have; 1.0 when they share no half."""
    n = HUE_BINS * SAT_BINS
    ds = []
    for k in range(2):
        p, q = a[k * n:(k + 1) * n], b[k * n:(k + 1) * n]
        sp, sq = float(p.sum()), float(q.sum())
        if sp <= 0 or sq <= 0:
            continue
        bc = float(np.sqrt((p / sp) * (q / sq)).sum())
        ds.append(np.sqrt(max(0.0, 1.0 - bc)))
    return float(np.mean(ds)) if ds else 1.0
