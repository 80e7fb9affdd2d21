"""The crop convention: square padded boxes, affines both ways, pixels sampled where the affine
says, keypoints in crop pixels and crop-normalised coordinates (camera.py's convention)."""

from __future__ import annotations

import numpy as np
import torch

from meshvid.data.crops import to_crop_normalised
from meshvid.geometry.camera import crop_normalised_to_pixels
from meshvid.perception.crops import (apply_affines, invert_affines, make_crops, square_boxes)


def test_square_box_is_padded_longer_side():
    c, s = square_boxes(np.array([[10, 20, 50, 120]]), padding=1.2)
    np.testing.assert_allclose(c, [[30, 70]])
    np.testing.assert_allclose(s, [120.0])


def test_affines_are_inverse_and_map_box_to_crop():
    boxes = np.array([[10, 20, 50, 120], [300, 40, 420, 100]], float)
    b = make_crops(None, boxes, size=224, padding=1.0)
    pts = np.random.default_rng(0).uniform(0, 400, (2, 7, 2))
    back = apply_affines(b.crop_to_frame, apply_affines(b.frame_to_crop, pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    np.testing.assert_allclose(invert_affines(b.crop_to_frame), b.frame_to_crop, atol=1e-12)
    # with padding 1, the square's corners are the crop's corners
    corners = np.stack([b.centres - b.sides[:, None] / 2, b.centres + b.sides[:, None] / 2], 1)
    np.testing.assert_allclose(apply_affines(b.frame_to_crop, corners),
                               [[[0, 0], [224, 224]]] * 2, atol=1e-9)


def test_keypoints_in_crop_pixels_and_normalised():
    box = np.array([[100, 50, 160, 250]], float)
    kp = np.array([[[130, 150], [100, 50], [160, 250]]], float)
    b = make_crops(None, box, kp, np.ones((1, 3)), size=256)
    np.testing.assert_allclose(b.keypoints_crop[0, 0], [128, 128])  # box centre -> crop centre
    # normalised coordinates agree with camera.py's inverse and with the data loaders' helper
    back = crop_normalised_to_pixels(torch.from_numpy(b.keypoints_norm), 256).numpy()
    np.testing.assert_allclose(back, b.keypoints_crop, atol=1e-9)
    np.testing.assert_allclose(b.keypoints_norm[0],
                               to_crop_normalised(kp[0], b.centres[0], b.sides[0]), atol=1e-9)
    assert np.all(np.abs(b.keypoints_norm) <= 1.0)


def test_pixels_are_sampled_where_the_affine_says():
    # a smooth ramp image: value = 0.5*u + 0.25*v at pixel centres (u + 0.5, v + 0.5)
    h, w = 240, 320
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    ramp = (0.5 * (u + 0.5) + 0.25 * (v + 0.5))
    img = np.repeat(ramp[..., None], 3, axis=2).astype(np.float32)
    boxes = np.array([[100, 60, 180, 200], [20, 30, 60, 70]], float)
    b = make_crops(img, boxes, size=64, padding=1.2)
    for i in range(len(boxes)):
        # crop pixel centres -> frame points -> expected ramp values
        cv_, cu = np.mgrid[0:64, 0:64].astype(np.float64)
        pts = np.stack([cu + 0.5, cv_ + 0.5], -1).reshape(1, -1, 2)
        f = apply_affines(b.crop_to_frame[i:i + 1], pts)[0]
        expected = (0.5 * f[:, 0] + 0.25 * f[:, 1]).reshape(64, 64)
        inside = ((f[:, 0] > 1) & (f[:, 0] < w - 1) & (f[:, 1] > 1) & (f[:, 1] < h - 1)).reshape(64, 64)
        # exact on a linear ramp; a half-pixel slip would show as ~0.6 here
        assert np.abs(b.images[i, ..., 0][inside] - expected[inside]).max() < 0.05


def test_outside_the_frame_is_black_and_batch_shapes():
    img = np.full((100, 100, 3), 200, np.uint8)
    b = make_crops(img, np.array([[-50, -50, 30, 30], [10, 10, 90, 90]], float), size=32)
    assert b.images.shape == (2, 32, 32, 3) and b.images.dtype == np.uint8
    assert b.images[0, 0, 0].sum() == 0 and b.images[0, -1, -1].sum() > 0
    assert len(b) == 2 and b.frame_to_crop.shape == (2, 2, 3)
