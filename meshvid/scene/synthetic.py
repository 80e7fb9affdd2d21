"""Synthetic clips filmed by a turning camera with a known rotation (tests and measurements).

The background is a textured sphere around the camera (an equirectangular picture of random
rectangles and fine noise), so a frame of any camera rotation is exact: each pixel's ray is
rotated into the first camera's frame and looked up on the sphere. A "person" (a textured
rectangle with its own motion across the image) walks through the view and is reported as
a box, as the tracker would; an optional unboxed distractor moves too (a car, a person the
detector missed), which the estimator must reject as outliers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation


@lru_cache(maxsize=2)
def sphere_texture(seed: int = 0, width: int = 4096) -> np.ndarray:
    """(width/2, width) uint8 grayscale equirectangular texture: rectangles of random grey
    levels and sizes over fine noise (corners everywhere, as on a real background). Cached:
    treat it as read-only."""
    import cv2

    rng = np.random.default_rng(seed)
    h = width // 2
    tex = rng.integers(60, 200, size=(h // 16, width // 16), dtype=np.uint8)
    tex = cv2.resize(tex, (width, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(width * 2 * width // 4096):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, h))
        sw, sh = int(rng.integers(6, 60)), int(rng.integers(6, 60))
        cv2.rectangle(tex, (x, y), (x + sw, y + sh), int(rng.integers(0, 256)), -1)
    noise = rng.normal(0.0, 6.0, size=tex.shape)
    return np.clip(tex + noise, 0, 255).astype(np.uint8)


def pan_rotations(num_frames: int, yaw_deg: float = 40.0, pitch_deg: float = 0.0,
                  roll_deg: float = 0.0, shake_deg: float = 0.0, seed: int = 0) -> np.ndarray:
    """(F, 3, 3) camera-0 -> camera-f rotations of a smooth pan (yaw about the camera's y,
    pitch about x, roll about z, each ramping with a smooth-step from 0 to the given total)
    plus an optional handheld shake (a smooth random wobble of `shake_deg` amplitude)."""
    s = np.linspace(0.0, 1.0, num_frames)
    ramp = s * s * (3.0 - 2.0 * s)
    angles = np.stack([pitch_deg * ramp, yaw_deg * ramp, roll_deg * ramp], axis=1)  # x, y, z
    if shake_deg > 0:
        rng = np.random.default_rng(seed)
        t = np.arange(num_frames)[:, None]
        freq = rng.uniform(0.02, 0.08, size=(1, 3))
        phase = rng.uniform(0, 2 * np.pi, size=(1, 3))
        angles = angles + shake_deg * (np.sin(2 * np.pi * freq * t + phase) - np.sin(phase))
    # the camera turns by these angles; points turn the other way in its frame
    cam_to_world = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    return np.swapaxes(cam_to_world, -1, -2)


@dataclass
class SyntheticPan:
    """A turning-camera clip: `frames()` yields (index, RGB image, boxes (1, 4)) one at a time.

    Attributes:
        R: (F, 3, 3) true camera-0 -> camera-f rotations.
        size: (width, height) pixels; focal: pixels (principal point at the centre).
    """

    R: np.ndarray
    size: tuple[int, int] = (640, 360)
    focal: float = 615.0
    seed: int = 0
    person: bool = True
    distractor: bool = False

    def frames(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        import cv2

        # about one texel per pixel at the image centre (2 pi f texels around)
        tex = sphere_texture(self.seed, int(np.clip(2 * np.pi * self.focal, 1024, 8192)) // 2 * 2)
        th, tw = tex.shape
        w, h = self.size
        u, v = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5 - w / 2.0,
                           np.arange(h, dtype=np.float64) + 0.5 - h / 2.0)
        rays = np.stack([u / self.focal, v / self.focal, np.ones_like(u)], -1)
        rng = np.random.default_rng(self.seed + 1)
        patch = rng.integers(0, 256, size=(40, 16), dtype=np.uint8)
        patch = cv2.resize(patch, (80, 200), interpolation=cv2.INTER_NEAREST)
        n = len(self.R)
        for f in range(n):
            d = rays @ self.R[f]  # R^T applied to each ray: camera f -> camera 0
            lon = np.arctan2(d[..., 0], d[..., 2])
            lat = np.arctan2(d[..., 1], np.hypot(d[..., 0], d[..., 2]))
            mx = ((lon / (2 * np.pi) + 0.5) * tw - 0.5).astype(np.float32)
            my = ((lat / np.pi + 0.5) * th - 0.5).astype(np.float32)
            img = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
            boxes = np.zeros((0, 4))
            if self.person:  # walks right to left across the frame, ~a third of its height
                x = int(w * 0.8 - (w * 0.75) * f / max(n - 1, 1))
                y = int(h * 0.35 + 10 * np.sin(f * 0.3))
                ph, pw = min(200, h - y - 1), 80
                img[y:y + ph, x:x + pw] = patch[:ph, :pw]
                boxes = np.array([[x, y, x + pw, y + ph]], np.float64)
            if self.distractor:  # unboxed: moves left to right low in the frame
                x = int(w * 0.05 + (w * 0.7) * f / max(n - 1, 1))
                y = int(h * 0.75)
                img[y:y + 50, x:x + 120] = cv2.resize(patch[:50, :40], (120, 50))
            yield f, np.repeat(img[..., None], 3, axis=2), boxes


def estimate_pan(clip: SyntheticPan, params=None, mode: str = "estimate"):
    """Run the estimator over a synthetic clip; returns its CameraMotion."""
    from meshvid.scene.camera_motion import CameraMotionEstimator

    est = CameraMotionEstimator(clip.size, clip.focal, params, mode=mode)
    for f, img, boxes in clip.frames():
        est.update(f, img, boxes)
    return est.finish(len(clip.R))


def rotation_errors_deg(R_est: np.ndarray, R_true: np.ndarray) -> np.ndarray:
    """(F,) geodesic angle in degrees between estimated and true rotations (F, 3, 3)."""
    rel = np.swapaxes(R_est, -1, -2) @ R_true
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def reframe(image: np.ndarray, R: np.ndarray, focal: float, out_size: tuple[int, int]
            ) -> np.ndarray:
    """A virtual camera turning inside a still clip's frame: the window a camera rotated by
    `R` (camera-0 -> camera-f, the original frame being camera 0) with the same focal length
    sees, cut from `image` (exact: the rotation homography K R^T K'^-1, no first-order
    approximation as with a sliding crop).

    Args:
        image: (H, W, 3) the original frame (principal point at its centre).
        R: (3, 3) the virtual camera's rotation relative to the original camera.
        focal: focal length of both cameras, pixels.
        out_size: (width, height) of the virtual camera's frame.
    Returns:
        (out_h, out_w, 3) frame (black where the window leaves the original frame).
    """
    import cv2

    h, w = image.shape[:2]
    k_src = np.array([[focal, 0, w / 2.0], [0, focal, h / 2.0], [0, 0, 1.0]])
    k_dst = np.array([[focal, 0, out_size[0] / 2.0], [0, focal, out_size[1] / 2.0], [0, 0, 1.0]])
    # a destination pixel's ray, in camera f, is R^T times that ray in camera 0
    H = k_src @ R.T @ np.linalg.inv(k_dst)
    return cv2.warpPerspective(image, H, out_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
