"""Flip test (`infer --flip-test`): the mirror image of Θ and of a crop's inputs, and the
averaged estimate the regressor returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshvid.body import load_body_model
from meshvid.body.joints import COCO_17_FLIP
from meshvid.geometry.rotations import axis_angle_to_sixd, sixd_to_matrix
from meshvid.model.theta import Theta
from meshvid.pipeline.regressor import (MeshRegressor, average_thetas, flip_inputs,
                                        mirror_theta)


def _random_theta(n: int, seed: int = 0) -> Theta:
    g = torch.Generator().manual_seed(seed)
    pose = 0.4 * torch.randn(n, 24, 3, generator=g)
    cam = torch.stack([0.8 + 0.1 * torch.rand(n, generator=g), 0.2 * torch.randn(n, generator=g),
                       0.2 * torch.randn(n, generator=g)], -1)
    return Theta(axis_angle_to_sixd(pose), torch.zeros(n, 10), cam)


def test_mirrored_theta_poses_the_mirror_image_of_the_body():
    """Posing the mirrored Θ gives the original keypoints with x negated and sides swapped."""
    body = load_body_model("anny24")
    theta = _random_theta(3)
    mirrored = mirror_theta(theta)
    with torch.no_grad():
        a = body.forward_rotmat(theta.rotmat, theta.betas).coco17
        b = body.forward_rotmat(mirrored.rotmat, mirrored.betas).coco17
    expect = a[:, list(COCO_17_FLIP)].clone()
    expect[..., 0] = -expect[..., 0]
    # rest pose of the body is symmetric to a few mm, not exactly
    assert torch.allclose(b, expect, atol=0.01)
    assert torch.allclose(mirrored.cam[:, 1], -theta.cam[:, 1])
    twice = mirror_theta(mirrored)
    assert torch.allclose(sixd_to_matrix(twice.pose_6d), theta.rotmat, atol=1e-5)


def test_average_of_an_estimate_with_itself_is_the_estimate_and_rotations_stay_rotations():
    a, b = _random_theta(4, 1), _random_theta(4, 2)
    same = average_thetas(a, a)
    assert torch.allclose(same.rotmat, a.rotmat, atol=1e-5)
    mean = average_thetas(a, b).rotmat
    eye = torch.eye(3).expand_as(mean)
    assert torch.allclose(mean @ mean.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(mean), torch.ones(mean.shape[:-2]), atol=1e-5)


def test_flip_inputs_mirror_crops_and_keypoints():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)
    kp = rng.uniform(-1, 1, (2, 17, 2)).astype(np.float32)
    conf = rng.uniform(0, 1, (2, 17)).astype(np.float32)
    fc, fk, fs = flip_inputs(crops, kp, conf)
    assert np.array_equal(fc[:, :, 0], crops[:, :, -1])
    assert np.allclose(fk[:, 5, 0], -kp[:, 6, 0]) and np.allclose(fk[:, 5, 1], kp[:, 6, 1])
    assert np.array_equal(fs[:, 5], conf[:, 6])
    back = flip_inputs(fc, fk, fs)
    assert np.array_equal(back[0], crops) and np.allclose(back[1], kp) and np.array_equal(back[2], conf)


@pytest.fixture(scope="module")
def regressors():
    return MeshRegressor(), MeshRegressor(flip_test=True)


def test_flip_test_regressor_averages_the_two_views(regressors, monkeypatch):
    """With the shipped weights: a mirrored crop gives (up to the network's own asymmetry) the
    mirrored estimate, so flip test on a crop and on its mirror image agree exactly after
    mirroring (with every pair of views averaged: random crops disagree wildly), and the
    features of both views are kept for SATN."""
    import meshvid.pipeline.regressor as reg

    monkeypatch.setattr(reg, "MAX_AVERAGED_DEG", 180.0)
    plain, flip = regressors
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 255, (2, plain.crop_size, plain.crop_size, 3), dtype=np.uint8)
    kp = rng.uniform(-0.6, 0.6, (2, 17, 2)).astype(np.float32)
    conf = np.full((2, 17), 0.9, np.float32)
    one = flip.single_frame(crops, kp, conf)
    assert one.features.shape == (2, 1024) and flip.feature_width == 1024
    other = flip.single_frame(*flip_inputs(crops, kp, conf))
    t1 = torch.from_numpy(one.theta)
    from meshvid.pipeline.regressor import theta_from_vector

    back = mirror_theta(theta_from_vector(torch.from_numpy(other.theta)))
    assert torch.allclose(back.rotmat, theta_from_vector(t1).rotmat, atol=1e-3)
    # it is the mean of the plain estimate and the mirrored view's
    a = plain.single_frame(crops, kp, conf)
    assert np.allclose(one.features[:, :512], a.features, atol=1e-4)
    seq = flip.temporal(np.repeat(one.features[:1], 12, axis=0))
    assert seq.shape == (12, 157) and np.isfinite(seq).all()


def test_views_far_apart_are_not_averaged():
    """Two views facing opposite ways have no meaningful mean: the first view's rotation is
    kept for that joint, while nearby rotations are still averaged."""
    def about_y(deg):
        aa = torch.zeros(1, 24, 3)
        aa[0, :, 1] = np.deg2rad(deg)
        return Theta(axis_angle_to_sixd(aa), torch.zeros(1, 10), torch.tensor([[1.0, 0.0, 0.0]]))

    a, far, near = about_y(10.0), about_y(170.0), about_y(30.0)
    kept = average_thetas(a, far)
    assert torch.allclose(kept.rotmat, a.rotmat, atol=1e-5)
    mean = average_thetas(a, near)
    assert torch.allclose(mean.rotmat, about_y(20.0).rotmat, atol=1e-5)
