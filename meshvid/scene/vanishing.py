"""Gravity from the scene's vertical lines (issue 25): the vertical vanishing direction.

The people's mean pelvis up (meshvid.scene.floor) is a body's idea of up: off by 13-14 degrees on
two of lab4cam's calibrated cameras, whose people lean and walk. Buildings, door frames, poles
and furniture are plumb. Every image segment of a vertical 3D line lies in a plane through the
camera centre that contains the vertical direction, so that direction is the one orthogonal to
the most of those planes' normals. Line segments come from OpenCV's LSD detector; the direction
from a RANSAC over pairs of segments, refined by least squares on its inliers (weighted by
length). Only segments within `max_tilt_deg` of the image's own vertical are candidates, and the
answer must be within that of the camera's -y: a camera rolled or pitched further than that is
outside what this estimates (it says so by returning None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class VerticalEstimate:
    """up: (3,) unit vector, gravity's up in camera axes (x right, y down, z forward).
    support: summed length (px) of the segments that agree within `inlier_deg`.
    segments: how many candidate segments were considered."""

    up: np.ndarray
    support: float
    segments: int


# LSD runs on the frame scaled to at most this many pixels on its longer side (the plumb lines
# that decide are long; a 1768 px frame takes 0.35 s at full size, ~0.1 s at this one)
LSD_MAX_SIDE = 960


def line_segments(gray: np.ndarray, min_length: float) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 (pixels of `gray`) of the LSD segments at least `min_length` px
    long."""
    import cv2

    scale = min(1.0, LSD_MAX_SIDE / max(gray.shape[:2]))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale,
                                                 interpolation=cv2.INTER_AREA)
    found = cv2.createLineSegmentDetector().detect(small)[0]
    if found is None:
        return np.zeros((0, 4))
    seg = found.reshape(-1, 4).astype(np.float64) / scale
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    return seg[length >= min_length]


def plane_normals(segments: np.ndarray, focal: float, center: tuple[float, float]
                  ) -> np.ndarray:
    """(N, 3) unit normals of the planes through the camera centre and each segment."""
    cx, cy = center
    p1 = np.stack([(segments[:, 0] - cx) / focal, (segments[:, 1] - cy) / focal,
                   np.ones(len(segments))], -1)
    p2 = np.stack([(segments[:, 2] - cx) / focal, (segments[:, 3] - cy) / focal,
                   np.ones(len(segments))], -1)
    n = np.cross(p1, p2)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def vertical_direction(segments: np.ndarray, focal: float, center: tuple[float, float], *,
                       max_tilt_deg: float = 40.0, inlier_deg: float = 1.0,
                       iterations: int = 500, seed: int = 0) -> VerticalEstimate | None:
    """Gravity's up from (N, 4) image segments (pixels) of a camera with `focal` and principal
    point `center`, or None when fewer than 4 segments support any candidate."""
    if len(segments) < 4:
        return None
    dx, dy = segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]
    near_vertical = np.abs(np.degrees(np.arctan2(np.abs(dx), np.abs(dy)))) <= max_tilt_deg
    seg = segments[near_vertical]
    if len(seg) < 4:
        return None
    normals = plane_normals(seg, focal, center)
    weight = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    camera_up = np.array([0.0, -1.0, 0.0])
    cos_tilt, sin_in = np.cos(np.radians(max_tilt_deg)), np.sin(np.radians(inlier_deg))
    rng = np.random.default_rng(seed)
    best, best_support = None, 0.0
    for _ in range(iterations):
        i, j = rng.choice(len(seg), 2, replace=False)
        d = np.cross(normals[i], normals[j])
        norm = np.linalg.norm(d)
        if norm < 1e-9:
            continue
        d = d / norm
        d = d if d @ camera_up >= 0 else -d
        if d @ camera_up < cos_tilt:
            continue
        support = weight[np.abs(normals @ d) < sin_in].sum()
        if support > best_support:
            best, best_support = d, support
    if best is None:
        return None
    inliers = np.abs(normals @ best) < sin_in
    if inliers.sum() < 4:
        return None
    # least squares: the direction most orthogonal to the inliers' normals
    n, w = normals[inliers], weight[inliers]
    _, vecs = np.linalg.eigh((n * w[:, None]).T @ n)
    d = vecs[:, 0]
    d = d if d @ camera_up >= 0 else -d
    return VerticalEstimate(up=d, support=float(w.sum()), segments=int(len(seg)))


def mask_boxes(segments: np.ndarray, boxes: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The segments with neither end inside any (M, 4) box grown by `margin` of its size
    (people are not plumb)."""
    if not len(boxes) or not len(segments):
        return segments
    b = np.asarray(boxes, np.float64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    x0, y0 = b[:, 0] - margin * w, b[:, 1] - margin * h
    x1, y1 = b[:, 2] + margin * w, b[:, 3] + margin * h

    def inside(x, y):
        return ((x[:, None] >= x0) & (x[:, None] <= x1) & (y[:, None] >= y0)
                & (y[:, None] <= y1)).any(1)

    keep = ~inside(segments[:, 0], segments[:, 1]) & ~inside(segments[:, 2], segments[:, 3])
    return segments[keep]


# With a prior (the people's up), every family of frames with at least this share of the best
# family's support is a candidate, and the one nearest the prior wins.
PRIOR_MIN_SHARE = 0.3


def consensus(estimates: list[VerticalEstimate | None], agree_deg: float = 2.0,
              prior: np.ndarray | None = None) -> VerticalEstimate | None:
    """One clip's up from per-frame estimates: the frame whose direction the most support (summed
    over frames within `agree_deg` of it) agrees with, then the support-weighted mean of those
    frames. A frame where another family of lines won (a receding table edge, a stair rail) is
    outvoted by the frames where the plumb lines did. Where two families both hold a fair share
    (PRIOR_MIN_SHARE) of the frames' support, a `prior` up (the people's: coarse, but never on
    the wrong family's side by much) picks the one nearest it. None when no frame had an
    estimate."""
    found = [e for e in estimates if e is not None]
    if not found:
        return None
    ups = np.stack([e.up for e in found])
    support = np.array([e.support for e in found])
    close = ups @ ups.T >= np.cos(np.radians(agree_deg))
    family = close.astype(float) @ support
    best = int(np.argmax(family))
    if prior is not None:
        candidates = np.flatnonzero(family >= PRIOR_MIN_SHARE * family[best])
        best = int(candidates[np.argmax(ups[candidates] @ (prior / np.linalg.norm(prior)))])
    agree = close[best]
    d = (ups[agree] * support[agree, None]).sum(0)
    return VerticalEstimate(up=d / np.linalg.norm(d), support=float(support[agree].sum()),
                            segments=int(sum(e.segments for e in found)))


GRAVITY_MODES = ("auto", "lines", "people")
# Frames looked at for lines, spread over the clip; one LSD pass each (~0.1-0.3 s at 720p).
GRAVITY_SAMPLES = 7
# Least summed length of agreeing segments, in image diagonals, for the lines to be trusted
# over the people's up (lab4cam's sparsest camera: 1.6 diagonals; the demo clips: 7-18).
MIN_SUPPORT_DIAGONALS = 1.0
MIN_SEGMENT = 0.03  # shortest segment, share of the image diagonal


def stage_mode(requested: str, focal_given: bool) -> tuple[str, str]:
    """`--gravity` -> (the GravityStage mode, why the people's up is used, or ""). "auto" looks
    at the lines only when the focal length is the user's (`--focal`). With meshvid's guessed
    focal the people are reconstructed on a ground plane tilted by the guess, and the true
    gravity from the lines makes them walk on a slope (vtest.avi: their feet's heights spread
    2.9 m along the lines' up against 1.4 m along their own; docs/camera-motion.md)."""
    if requested == "lines" or (requested == "auto" and focal_given):
        return "lines", ""
    if requested == "auto":
        return "people", "--gravity auto without --focal (the guessed focal tilts the people's ground)"
    return "people", "--gravity people"


class GravityStage:
    """The pipeline's hook for gravity from the scene's lines: call it with every decoded frame
    (records.Frame) of a pass, in order; it looks at GRAVITY_SAMPLES of them, spread over
    `num_frames`, with the tracked people's boxes masked. `finish(motion)` gives gravity's up in
    the first frame's camera axes (each sample turned back by the camera motion), or None when
    the mode is "people" or the lines do not support an estimate (`reason` says which).

    Args:
        requested: `--gravity`: "lines" (lines when supported, else None and the people's up),
            "people" (never look) or "auto" (`stage_mode`: lines when `focal_given`).
        tracks: the tracker's tracks (their boxes).
        num_frames: frames in the pass; image_size: (width, height); focal: pixels.
        focal_given: whether `focal` is the user's (`--focal`) rather than meshvid's guess.
    """

    def __init__(self, requested: str, tracks, num_frames: int, image_size: tuple[int, int],
                 focal: float, samples: int = GRAVITY_SAMPLES, focal_given: bool = True) -> None:
        from meshvid.errors import InputError
        from meshvid.scene.camera_motion import boxes_by_frame

        if requested not in GRAVITY_MODES:
            raise InputError(f"--gravity must be one of {', '.join(GRAVITY_MODES)}, "
                             f"not {requested!r}")
        self.mode, self.reason = stage_mode(requested, focal_given)
        self.focal = float(focal)
        self.center = (image_size[0] / 2.0, image_size[1] / 2.0)
        self.diagonal = float(np.hypot(*image_size))
        n = max(int(num_frames), 1)
        self.wanted = (set(np.linspace(0, n - 1, min(samples, n)).round().astype(int).tolist())
                       if self.mode == "lines" else set())
        self.boxes = boxes_by_frame(tracks) if self.wanted else {}
        self.found: list[tuple[int, VerticalEstimate | None]] = []
        self.seconds = 0.0

    def __call__(self, frame) -> None:
        if frame.index not in self.wanted:
            return
        import time

        import cv2

        t0 = time.perf_counter()
        image = frame.image
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        seg = mask_boxes(line_segments(gray, MIN_SEGMENT * self.diagonal),
                         self.boxes.get(frame.index, np.zeros((0, 4))))
        self.found.append((frame.index, vertical_direction(seg, self.focal, self.center)))
        self.seconds += time.perf_counter() - t0

    def finish(self, motion=None, prior: np.ndarray | None = None) -> VerticalEstimate | None:
        """Gravity's up in camera-0 axes, or None (then `reason` says why). `prior`: the
        people's up in camera-0 axes, which picks between two well-supported families of lines
        (`consensus`)."""
        if self.mode == "people":
            return None
        turned = []
        for index, est in self.found:
            if est is not None and motion is not None and not motion.is_static:
                R = np.asarray(motion.R[min(index, motion.num_frames - 1)], np.float64)
                est = VerticalEstimate(up=R.T @ est.up, support=est.support,
                                       segments=est.segments)  # camera k -> camera 0
            turned.append(est)
        best = consensus(turned, prior=prior)
        if best is None or best.support < MIN_SUPPORT_DIAGONALS * self.diagonal:
            self.reason = "too few plumb lines in the scene"
            return None
        return best


def gravity_summary(estimate: VerticalEstimate | None, stage: GravityStage) -> dict:
    """The NPZ's `gravity` record: where gravity's up came from and, for lines, the estimate
    (camera-0 axes), its support and the time it took."""
    if estimate is None:
        return {"source": "people", "reason": stage.reason, "seconds": round(stage.seconds, 3)}
    tilt = float(np.degrees(np.arccos(np.clip(-estimate.up[1], -1.0, 1.0))))
    return {"source": "lines", "up": [round(float(x), 5) for x in estimate.up],
            "tilt_deg": round(tilt, 2), "support_px": round(estimate.support, 1),
            "segments": estimate.segments, "frames": len(stage.found),
            "seconds": round(stage.seconds, 3)}
