"""THE crop convention: square, padded, scale-normalised person crops and their affines.

A crop is the square of side `side = padding * max(box_w, box_h)` frame pixels centred on the
box centre, resampled to `size x size` crop pixels (default 224, the network input). Parts of
the square outside the frame are black. Every crop therefore shows a person at the same scale,
whatever their size in the frame (the paper's and HMR/SPIN's input normalisation; padding 1.2
as in SPIN).

Coordinates follow meshvid/geometry/camera.py: pixel coordinates have their origin at the
top-left pixel's *corner* (pixel (0, 0) covers [0, 1)^2), and crop-normalised coordinates map
the crop to [-1, 1]^2 through `pixels_to_crop_normalised` (owned there). The affines here are
2x3 matrices A acting on column vectors [u, v, 1]:

    crop_px  = frame_to_crop @ [frame_px, 1]      frame_px = crop_to_frame @ [crop_px, 1]

cv2.warpAffine indexes pixel *centres*, so `crop_images` shifts by half a pixel on both sides
to sample exactly what the affine says.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from meshvid.geometry.camera import pixels_to_crop_normalised

DEFAULT_CROP_SIZE = 224
DEFAULT_PADDING = 1.2


def square_boxes(boxes: np.ndarray, padding: float = DEFAULT_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) x1, y1, x2, y2 -> centres (N, 2) and square sides (N,) in frame pixels."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centres = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    sides = padding * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return centres, np.maximum(sides, 1.0)


def frame_to_crop_affines(centres: np.ndarray, sides: np.ndarray, size: int) -> np.ndarray:
    """(N, 2) centres, (N,) sides -> (N, 2, 3) affines from frame pixels to crop pixels."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    scale = size / np.asarray(sides, dtype=np.float64).reshape(-1)
    a = np.zeros((len(scale), 2, 3))
    a[:, 0, 0] = a[:, 1, 1] = scale
    a[:, :, 2] = size / 2.0 - scale[:, None] * centres
    return a


def invert_affines(a: np.ndarray) -> np.ndarray:
    """(N, 2, 3) -> (N, 2, 3) inverses (general 2x3 affines)."""
    a = np.asarray(a, dtype=np.float64)
    lin = np.linalg.inv(a[..., :2])
    out = np.empty_like(a)
    out[..., :2] = lin
    out[..., 2] = -np.einsum("...ij,...j->...i", lin, a[..., 2])
    return out


def apply_affines(a: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2, 3) affines, (N, K, 2) points -> (N, K, 2) transformed points."""
    return np.einsum("nij,nkj->nki", a[..., :2], points) + a[:, None, :, 2]


def crop_images(image: np.ndarray, frame_to_crop: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) frame, (N, 2, 3) affines -> (N, size, size, 3) crops (black outside the frame).

    One warpAffine per box: it resamples only the crop's pixels, so cropping many people of one
    frame costs O(N * size^2), independent of the frame size.
    """
    out = np.zeros((len(frame_to_crop), size, size, image.shape[2]), dtype=image.dtype)
    for i, a in enumerate(frame_to_crop):
        # pixel-centre form: x_c - 0.5 = A_lin (x_f - 0.5) + A_lin*0.5 + t - 0.5
        m = a.copy()
        m[:, 2] += a[:, :2].sum(axis=1) * 0.5 - 0.5
        # scale < 1 means shrinking: INTER_AREA averages instead of aliasing
        interp = cv2.INTER_AREA if a[0, 0] < 1.0 else cv2.INTER_LINEAR
        cv2.warpAffine(image, m, (size, size), dst=out[i], flags=interp,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


@dataclass
class CropBatch:
    """N crops of one frame, with everything needed to go back and forth."""

    images: np.ndarray  # (N, S, S, 3) uint8 RGB
    frame_to_crop: np.ndarray  # (N, 2, 3)
    crop_to_frame: np.ndarray  # (N, 2, 3)
    centres: np.ndarray  # (N, 2) square centres in frame pixels
    sides: np.ndarray  # (N,) square sides in frame pixels
    keypoints_crop: np.ndarray | None  # (N, K, 2) crop pixels
    keypoints_norm: np.ndarray | None  # (N, K, 2) crop-normalised [-1, 1] (camera.py)
    keypoint_scores: np.ndarray | None  # (N, K)
    size: int

    def __len__(self) -> int:
        return len(self.sides)


def make_crops(image: np.ndarray | None, boxes: np.ndarray, keypoints: np.ndarray | None = None,
               keypoint_scores: np.ndarray | None = None, *, size: int = DEFAULT_CROP_SIZE,
               padding: float = DEFAULT_PADDING) -> CropBatch:
    """Crop every box of one frame. `image=None` computes only the geometry (no pixels)."""
    centres, sides = square_boxes(boxes, padding)
    f2c = frame_to_crop_affines(centres, sides, size)
    c2f = invert_affines(f2c)
    kp_crop = kp_norm = None
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float64).reshape(len(sides), -1, 2)
        kp_crop = apply_affines(f2c, kp)
        kp_norm = pixels_to_crop_normalised(kp_crop, float(size))
    images = (crop_images(image, f2c, size) if image is not None
              else np.zeros((len(sides), 0, 0, 3), np.uint8))
    return CropBatch(images=images, frame_to_crop=f2c, crop_to_frame=c2f, centres=centres,
                     sides=sides, keypoints_crop=kp_crop, keypoints_norm=kp_norm,
                     keypoint_scores=None if keypoint_scores is None
                     else np.asarray(keypoint_scores).reshape(len(sides), -1),
                     size=size)
