"""The camera's rotation per frame, from feature tracks on the background.

Handheld and panning cameras turn far more than they move: over a clip a phone held by
someone following a person turns by tens of degrees while its centre moves by centimetres to a
metre, which at the distance of the background (several metres) is a small parallax. So the
model here is a camera turning about its centre: a background point seen along ray `a` in an
anchor frame is seen along `b = R a` in a later frame (the rotation-only homography
`H = K R K^-1` in pixels). Translation is not estimated (`t = 0`): the world's origin is the
camera's centre.

Conventions (meshvid/geometry/camera.py owns them): OpenCV camera axes (x right, y down,
z forward), pixels with the principal point at the image centre, the pipeline's focal length.
`CameraMotion.R[f]` maps camera-0 coordinates to camera-f coordinates (`X_f = R[f] @ X_0`):
with the first frame's camera as the world, it is the world -> camera rotation of frame f.

Algorithm (`CameraMotionEstimator`, streamed: it sees each frame once, as the pipeline decodes
it, and keeps a grayscale copy of the previous frame at most `work_size` pixels wide):

1. Corners (`cv2.goodFeaturesToTrack`) are found in an *anchor* frame outside the people's
   boxes (each grown by `box_margin`) and the image border.
2. They are tracked frame to frame with pyramidal Lucas-Kanade and kept while they stay
   outside the people's boxes of the frame (optionally also a forward-backward check).
3. Per frame the rotation from the anchor to the frame is fitted to the surviving
   (anchor point, current point) pairs as rays: RANSAC over 2-point rotations (Kabsch),
   inliers within `ransac_px`, then a least-squares (Kabsch) refit on the inliers. Points on
   people the boxes missed, on cars and on other moving things are outliers.
4. Chained: `R[f] = R(anchor -> f) @ R[anchor]`. Within an anchor's life nothing accumulates
   (each frame is compared with the anchor, not with the previous frame); errors accumulate
   only when a new anchor is taken: when fewer than `reanchor_fraction` of the anchor's
   corners survive, or after `max_anchor_frames` frames, or after a failed frame.
5. A frame whose fit has fewer than `min_inliers` inliers keeps the previous rotation and is
   counted as failed.

`finish` decides whether the camera was still: when the `static_quantile` quantile of the
per-frame rotation angles, in working pixels (f * angle), is under `static_px`, the result is
the identity *exactly* (`is_static`), so still clips give the same numbers as before camera
motion existed. With `mode="auto"` a clip whose background does not support the estimate
(too many failed frames, too few inliers) also falls back to the identity, with `reason` saying
why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from meshvid.errors import InputError

CAMERA_MOTION_MODES = ("auto", "static", "estimate")


@dataclass(frozen=True)
class CameraMotionParams:
    """Settings of `CameraMotionEstimator` (defaults measured in docs/camera-motion.md)."""

    work_size: int = 640  # long side of the grayscale working copy, pixels
    max_corners: int = 160
    quality: float = 0.01  # goodFeaturesToTrack quality level
    min_distance: float = 10.0  # working pixels between corners
    box_margin: float = 0.15  # people's boxes grown by this fraction of their size
    border: int = 6  # working pixels at the image border where no corner is taken
    lk_window: int = 21
    lk_levels: int = 3
    # forward-backward tracking check, working pixels (0: off; RANSAC already rejects bad
    # tracks, and the check doubled the tracking cost for no measured gain)
    fb_max_px: float = 0.0
    ransac_px: float = 1.0  # inlier threshold, working pixels
    ransac_hypotheses: int = 64
    min_inliers: int = 12  # fewer: the frame fails (keeps the previous rotation)
    reanchor_fraction: float = 0.6  # new anchor when fewer of its corners survive
    max_anchor_frames: int = 120
    # still camera: the quantile of f * angle under this (working pixels; 2 px is 0.19 deg at
    # 640 px, 3 cm at 10 m). A re-encoded still clip reached 0.64 px by slow tracking drift.
    static_px: float = 2.0
    static_quantile: float = 0.95
    max_failed_fraction: float = 0.2  # auto: more failed frames -> static, with a reason
    seed: int = 0

    def validate(self) -> None:
        if self.work_size < 64 or self.max_corners < 8 or self.min_inliers < 3:
            raise InputError("camera motion: work_size >= 64, max_corners >= 8 and "
                             "min_inliers >= 3 are required")
        if not (0.0 < self.reanchor_fraction <= 1.0 and 0.0 <= self.max_failed_fraction <= 1.0):
            raise InputError("camera motion: reanchor_fraction in (0, 1], max_failed_fraction "
                             "in [0, 1]")


@dataclass(frozen=True)
class CameraMotion:
    """The camera's motion over a clip, relative to its first frame.

    Attributes:
        R: (F, 3, 3) float64, camera-0 -> camera-f rotation (`X_f = R[f] @ X_0`); identity
            exactly when `is_static`.
        t: (F, 3) float64, camera-0 -> camera-f translation, metres; zeros (rotation only).
        is_static: the camera was still, or the estimate was not used (mode static / fallback).
        mode: what produced `R`: "static" (asked for), "estimate" (estimated) or
            "fallback" (auto: the background did not support an estimate).
        reason: one line on why the camera is treated as still ("" when estimated).
        diagnostics: numbers for the summary (frames, failed frames, anchors, median inliers,
            largest angle in degrees, seconds of work).
    """

    R: np.ndarray
    t: np.ndarray
    is_static: bool
    mode: str
    reason: str = ""
    diagnostics: dict[str, float] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.R.shape[0])

    def summary(self) -> dict:
        """JSON-ready overview (what `meshvid infer --json` prints under "camera_motion")."""
        return {"mode": self.mode, "static": self.is_static, "reason": self.reason,
                **{k: (round(v, 4) if isinstance(v, float) else v)
                   for k, v in self.diagnostics.items()}}


def static_motion(num_frames: int, mode: str = "static", reason: str = "",
                  diagnostics: dict | None = None) -> CameraMotion:
    """A still camera over `num_frames` frames: R = identity, t = 0 exactly."""
    n = max(int(num_frames), 1)
    return CameraMotion(R=np.tile(np.eye(3), (n, 1, 1)), t=np.zeros((n, 3)), is_static=True,
                        mode=mode, reason=reason, diagnostics=dict(diagnostics or {}))


def pixel_rays(points: np.ndarray, focal: float, center: tuple[float, float]) -> np.ndarray:
    """Pixels (N, 2) -> unit viewing rays (N, 3) in camera axes for a pinhole camera.

    Args:
        points: (N, 2) pixel coordinates (u right, v down).
        focal: focal length, pixels.
        center: principal point (cx, cy), pixels.
    Returns:
        (N, 3) float64 unit vectors.
    """
    p = np.asarray(points, np.float64)
    rays = np.concatenate([(p - np.asarray(center, np.float64)) / focal,
                           np.ones((len(p), 1))], axis=1)
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def kabsch(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The rotations R minimising sum_i w_i |R a_i - b_i|^2, batched.

    Args:
        a, b: (..., N, 3) corresponding vectors.
        weights: (..., N) non-negative, or None for equal weights.
    Returns:
        (..., 3, 3) proper rotations.
    """
    if weights is not None:
        a = a * weights[..., None]
    h = np.swapaxes(a, -1, -2) @ b  # (..., 3, 3) = sum a_i b_i^T
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.ones(h.shape[:-2] + (3,))
    fix[..., 2] = d
    return np.swapaxes(vt, -1, -2) @ (fix[..., None] * np.swapaxes(u, -1, -2))


def fit_rotation_ransac(a: np.ndarray, b: np.ndarray, threshold: float, *,
                        hypotheses: int = 64, rng: np.random.Generator | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Robust rotation between two sets of unit rays (`b ≈ R a`).

    2-point Kabsch hypotheses, scored by the number of rays within `threshold` radians, the
    best one's inliers refitted by least squares twice.

    Args:
        a, b: (N, 3) unit rays, N >= 2.
        threshold: inlier distance |R a - b| (about the angle), radians.
        hypotheses: number of random 2-point samples.
        rng: random generator (seeded by the caller for repeatable results).
    Returns:
        R (3, 3) and the inlier mask (N,) bool.
    """
    rng = rng or np.random.default_rng(0)
    n = len(a)
    if n < 2:
        return np.eye(3), np.zeros(n, bool)
    i = rng.integers(0, n, size=(hypotheses, 2))
    same = i[:, 0] == i[:, 1]
    i[same, 1] = (i[same, 1] + 1) % n
    cand = kabsch(a[i], b[i])  # (H, 3, 3)
    res = np.linalg.norm(np.swapaxes(cand @ a.T, -1, -2) - b[None], axis=-1)  # (H, N)
    counts = (res < threshold).sum(axis=1)
    best = cand[int(np.argmax(counts))]
    inliers = np.linalg.norm(a @ best.T - b, axis=1) < threshold
    for _ in range(2):
        if inliers.sum() < 3:
            break
        best = kabsch(a[inliers], b[inliers])
        inliers = np.linalg.norm(a @ best.T - b, axis=1) < threshold
    return best, inliers


def rotation_angle(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (...) angles in radians."""
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def box_mask(shape: tuple[int, int], boxes: np.ndarray, scale: float, margin: float,
             border: int) -> np.ndarray:
    """uint8 mask (H, W) of the background: 255 outside the grown boxes and the border.

    Args:
        shape: (H, W) of the working image.
        boxes: (M, 4) x1, y1, x2, y2 in full-frame pixels.
        scale: working pixels per frame pixel.
        margin: each box grown by this fraction of its width/height on every side.
        border: working pixels excluded at the image border.
    """
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    mask[border:h - border, border:w - border] = 255
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        gw, gh = (x2 - x1) * margin, (y2 - y1) * margin
        c0, r0 = int(max(0, np.floor((x1 - gw) * scale))), int(max(0, np.floor((y1 - gh) * scale)))
        c1, r1 = int(min(w, np.ceil((x2 + gw) * scale))), int(min(h, np.ceil((y2 + gh) * scale)))
        if c1 > c0 and r1 > r0:
            mask[r0:r1, c0:c1] = 0
    return mask


class CameraMotionEstimator:
    """Streamed per-frame camera rotation; feed frames in order with `update`, then `finish`.

    Example:
        est = CameraMotionEstimator((1920, 1080), focal=1800.0)
        for frame in source:
            est.update(frame.index, frame.image, boxes_of(frame.index))
        motion = est.finish(num_frames)

    Args:
        image_size: (width, height) of the full frames, pixels.
        focal: the pipeline's focal length for those frames, pixels.
        params: CameraMotionParams.
        mode: "auto" (estimate, fall back to still when the background does not support it)
            or "estimate" (always use the estimate; still clips are still detected).
    """

    def __init__(self, image_size: tuple[int, int], focal: float,
                 params: CameraMotionParams | None = None, mode: str = "auto") -> None:
        import cv2

        self._cv2 = cv2
        self.params = params or CameraMotionParams()
        self.params.validate()
        if mode not in ("auto", "estimate"):
            raise InputError(f"camera motion estimator mode must be auto or estimate, not {mode!r}")
        self.mode = mode
        width, height = image_size
        self.scale = min(1.0, self.params.work_size / max(width, height))
        self.work = (max(1, int(round(width * self.scale))),
                     max(1, int(round(height * self.scale))))
        # the working image's camera: same field of view, principal point at its centre
        self.focal = float(focal) * self.work[0] / width
        self.center = (self.work[0] / 2.0, self.work[1] / 2.0)
        self._rng = np.random.default_rng(self.params.seed)
        self._rot: list[np.ndarray] = []  # per frame index, camera-0 -> camera-f
        self._prev: np.ndarray | None = None
        self._anchor_R = np.eye(3)
        self._anchor_rays: np.ndarray | None = None  # (N, 3) rays of the anchor's corners
        self._anchor_age = 0
        self._anchor_count = 0
        self._points: np.ndarray | None = None  # (N, 2) current positions (working pixels)
        self._need_anchor = True
        self.failed = 0
        self.anchors = 0
        self.inliers: list[int] = []
        self.seconds = 0.0  # wall time in `update`
        self.cpu_seconds = 0.0  # CPU time of the calling thread in `update`

    def _gray(self, image: np.ndarray) -> np.ndarray:
        # grayscale, halved by Gaussian pyramid steps while at least twice the working size,
        # then linearly resized: low-passed like INTER_AREA at a quarter of its cost (INTER_AREA
        # at a fractional factor took ~10 ms a frame for a 1236 x 694 source)
        cv2 = self._cv2
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        while gray.shape[1] >= 2 * self.work[0] and gray.shape[0] >= 2 * self.work[1]:
            gray = cv2.pyrDown(gray)
        if (gray.shape[1], gray.shape[0]) != self.work:
            gray = cv2.resize(gray, self.work, interpolation=cv2.INTER_LINEAR)
        return gray

    def _new_anchor(self, gray: np.ndarray, mask: np.ndarray, R: np.ndarray) -> None:
        p = self.params
        corners = self._cv2.goodFeaturesToTrack(gray, maxCorners=p.max_corners,
                                                qualityLevel=p.quality,
                                                minDistance=p.min_distance, mask=mask,
                                                blockSize=7)
        pts = np.zeros((0, 2), np.float32) if corners is None else corners.reshape(-1, 2)
        self._points = pts.astype(np.float32)
        self._anchor_rays = pixel_rays(pts, self.focal, self.center)
        self._anchor_R = R
        self._anchor_age = 0
        self._anchor_count = len(pts)
        self._need_anchor = len(pts) < self.params.min_inliers
        self.anchors += 1

    def _track(self, prev: np.ndarray, gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Track the current points into `gray`; returns the (N,) bool mask of survivors and
        updates the points."""
        cv2 = self._cv2
        p = self.params
        lk = dict(winSize=(p.lk_window, p.lk_window), maxLevel=p.lk_levels,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        pts = self._points.reshape(-1, 1, 2)
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, gray, pts, None, **lk)
        ok = st.ravel() == 1
        nxt = nxt.reshape(-1, 2)
        if p.fb_max_px > 0:  # forward-backward check: the track must lead back to its start
            back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev, nxt.reshape(-1, 1, 2), None, **lk)
            ok &= (st2.ravel() == 1) & (np.linalg.norm(back.reshape(-1, 2) - self._points,
                                                       axis=1) < p.fb_max_px)
        h, w = gray.shape
        inside = (nxt[:, 0] >= 0) & (nxt[:, 0] < w - 1) & (nxt[:, 1] >= 0) & (nxt[:, 1] < h - 1)
        ok &= inside
        xi = np.clip(np.round(nxt[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(nxt[:, 1]).astype(int), 0, h - 1)
        ok &= mask[yi, xi] > 0  # a person walked over the corner: drop it
        self._points = nxt[ok].astype(np.float32)
        self._anchor_rays = self._anchor_rays[ok]
        return ok

    def update(self, index: int, image: np.ndarray, boxes: np.ndarray | None = None) -> None:
        """Take frame `index` (frames must come in order, 0 first; a skipped index repeats
        the last rotation).

        Args:
            index: 0-based frame index.
            image: (H, W, 3) uint8 RGB or (H, W) grayscale full frame.
            boxes: (M, 4) people's boxes x1, y1, x2, y2 in frame pixels (None: none).
        """
        t0, c0 = time.perf_counter(), time.thread_time()
        p = self.params
        if index < len(self._rot):
            raise InputError(f"camera motion: frame {index} came after frame {len(self._rot) - 1}")
        last = self._rot[-1] if self._rot else np.eye(3)
        while len(self._rot) < index:  # frames not seen hold the last rotation
            self._rot.append(last)
        gray = self._gray(image)
        mask = box_mask(gray.shape, np.zeros((0, 4)) if boxes is None else boxes, self.scale,
                        p.box_margin, p.border)
        R = last
        if self._prev is None:
            self._new_anchor(gray, mask, np.eye(3))
        else:
            if self._points is not None and len(self._points):
                self._track(self._prev, gray, mask)
            self._anchor_age += 1
            n = 0 if self._points is None else len(self._points)
            if n >= p.min_inliers:
                rays = pixel_rays(self._points, self.focal, self.center)
                rel, inl = fit_rotation_ransac(self._anchor_rays, rays, p.ransac_px / self.focal,
                                               hypotheses=p.ransac_hypotheses, rng=self._rng)
                k = int(inl.sum())
                if k >= p.min_inliers:
                    R = rel @ self._anchor_R
                    self.inliers.append(k)
                    # outliers now are outliers later: keep the inliers only
                    self._points, self._anchor_rays = self._points[inl], self._anchor_rays[inl]
                else:
                    self.failed += 1
                    self._need_anchor = True
            else:
                self.failed += 1
                self._need_anchor = True
            n = 0 if self._points is None else len(self._points)
            if (self._need_anchor or n < p.reanchor_fraction * self._anchor_count
                    or self._anchor_age >= p.max_anchor_frames):
                self._new_anchor(gray, mask, R)
        self._rot.append(R)
        self._prev = gray
        self.seconds += time.perf_counter() - t0
        self.cpu_seconds += time.thread_time() - c0

    def finish(self, num_frames: int | None = None) -> CameraMotion:
        """The clip's CameraMotion over `num_frames` frames (frames after the last one seen
        hold its rotation; default: the frames seen)."""
        n = max(len(self._rot), 1) if num_frames is None else max(int(num_frames), 1)
        rot = list(self._rot[:n]) or [np.eye(3)]
        while len(rot) < n:
            rot.append(rot[-1])
        R = np.stack(rot)
        angles = rotation_angle(R)
        seen = max(len(self._rot) - 1, 0)  # frames that were fitted (all but the first)
        diag: dict[str, float] = {
            "frames": int(len(self._rot)), "failed_frames": int(self.failed),
            "anchors": int(self.anchors),
            "median_inliers": float(np.median(self.inliers)) if self.inliers else 0.0,
            "max_angle_deg": float(np.degrees(angles.max())) if len(angles) else 0.0,
            "seconds": float(self.seconds),
            "cpu_seconds": float(self.cpu_seconds),
            "ms_per_frame": 1000.0 * self.seconds / max(len(self._rot), 1),
        }
        p = self.params
        if seen and self.failed > p.max_failed_fraction * seen:
            reason = (f"the background gave too few tracked points on {self.failed} of "
                      f"{seen} frames")
            if self.mode == "auto":
                return static_motion(n, "fallback", reason + ": treated as a still camera",
                                     diag)
        moved = float(np.quantile(angles * self.focal, p.static_quantile)) if len(angles) else 0.0
        diag["angle_px_quantile"] = moved
        if moved < p.static_px:
            return static_motion(n, "static", "still camera detected", diag)
        return CameraMotion(R=R, t=np.zeros((n, 3)), is_static=False, mode="estimate",
                            reason="", diagnostics=diag)


def boxes_by_frame(tracks) -> dict[int, np.ndarray]:
    """frame index -> (M, 4) boxes of every tracked person in it (records.Track list)."""
    out: dict[int, list[np.ndarray]] = {}
    for track in tracks:
        for f, box in zip(np.asarray(track.frame_ids).tolist(), np.asarray(track.boxes)):
            out.setdefault(int(f), []).append(box)
    return {f: np.stack(b) for f, b in out.items()}


class CameraMotionStage:
    """The pipeline's hook: call it with every decoded frame (records.Frame) of a pass, in
    order; the tracked people's boxes are masked out. `finish` gives the CameraMotion.

    Args:
        mode: "auto", "static" (no estimate: the identity) or "estimate".
        tracks: the tracker's tracks (their boxes, every frame, bridged ones included).
        image_size: (width, height) of the frames; focal: the pipeline's focal length, pixels.
        params: CameraMotionParams.
    """

    def __init__(self, mode: str, tracks, image_size: tuple[int, int], focal: float,
                 params: CameraMotionParams | None = None) -> None:
        if mode not in CAMERA_MOTION_MODES:
            raise InputError(f"--camera-motion must be one of {', '.join(CAMERA_MOTION_MODES)}, "
                             f"not {mode!r}")
        self.mode = mode
        self.boxes = boxes_by_frame(tracks) if mode != "static" else {}
        self.estimator = (CameraMotionEstimator(image_size, focal, params, mode=mode)
                          if mode != "static" else None)

    @property
    def seconds(self) -> float:
        return self.estimator.seconds if self.estimator is not None else 0.0

    def __call__(self, frame) -> None:
        if self.estimator is not None:
            self.estimator.update(frame.index, frame.image, self.boxes.get(frame.index))

    def finish(self, num_frames: int) -> CameraMotion:
        if self.estimator is None:
            return static_motion(num_frames, "static", "--camera-motion static")
        return self.estimator.finish(num_frames)
