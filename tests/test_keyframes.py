"""Keyframes of a track and Θ between them: rotations along the geodesic, the rest linearly."""

from __future__ import annotations

import numpy as np
import torch

from meshvid.geometry.rotations import (axis_angle_to_matrix, geodesic_angle, interpolate_linear,
                                        interpolate_rotmats, matrix_to_sixd)
from meshvid.pipeline.keyframes import interpolate_theta, key_mask


def test_key_mask_takes_multiples_and_both_ends():
    m = key_mask(np.arange(4, 15), 3)
    assert np.flatnonzero(m).tolist() == [0, 2, 5, 8, 10]  # frames 4, 6, 9, 12, 14
    assert key_mask(np.arange(5), 1).all()
    assert key_mask(np.array([7]), 3).tolist() == [True]


def test_slerp_halfway_about_one_axis_and_constant_speed():
    key_t = torch.tensor([0.0, 4.0])
    rots = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]))
    out = interpolate_rotmats(key_t, rots, torch.arange(0.0, 5.0))
    want = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.5 * i] for i in range(5)]))
    torch.testing.assert_close(out, want, atol=1e-6, rtol=0)
    # outside the keys the ends are held
    held = interpolate_rotmats(key_t, rots, torch.tensor([-3.0, 9.0]))
    torch.testing.assert_close(held, rots, atol=1e-6, rtol=0)


def test_slerp_takes_the_short_way_and_keeps_batch_dims():
    g = torch.Generator().manual_seed(0)
    a = axis_angle_to_matrix(torch.randn(24, 3, generator=g))
    b = axis_angle_to_matrix(torch.randn(24, 3, generator=g))
    out = interpolate_rotmats(torch.tensor([0.0, 1.0]), torch.stack([a, b]),
                              torch.tensor([0.25, 0.5]))
    assert out.shape == (2, 24, 3, 3)
    total = geodesic_angle(a, b)
    torch.testing.assert_close(geodesic_angle(a, out[1]), total / 2, atol=1e-5, rtol=0)
    torch.testing.assert_close(geodesic_angle(a, out[0]) + geodesic_angle(out[0], b), total,
                               atol=1e-4, rtol=0)


def test_linear_interpolation():
    out = interpolate_linear(torch.tensor([0.0, 2.0, 6.0]), torch.tensor([[0.0], [2.0], [0.0]]),
                             torch.tensor([1.0, 2.0, 4.0, 7.0]))
    assert out.ravel().tolist() == [1.0, 2.0, 1.0, 0.0]


def test_interpolate_theta_keeps_keys_and_fills_between():
    frames = np.arange(10, 17)
    key = key_mask(frames, 3)  # rows 0, 2, 5, 6
    g = torch.Generator().manual_seed(1)
    k = int(key.sum())
    pose = matrix_to_sixd(axis_angle_to_matrix(0.5 * torch.randn(k, 24, 3, generator=g)))
    vec = torch.cat([pose.flatten(1), torch.randn(k, 13, generator=g)], 1).numpy()
    out = interpolate_theta(frames, key, vec)
    assert out.shape == (7, 157)
    np.testing.assert_allclose(out[key], vec, atol=1e-5)
    # betas and camera of frame 11: halfway between the keys at frames 10 and 12
    np.testing.assert_allclose(out[1, 144:], (vec[0, 144:] + vec[1, 144:]) / 2, atol=1e-5)
    assert interpolate_theta(frames, np.ones(7, bool), np.zeros((7, 157))).shape == (7, 157)
