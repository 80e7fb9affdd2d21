"""The articulation network (issue 24): a keypoints-only DSD in a weights folder
(body.safetensors) whose body joints are averaged with the main network's."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from meshvid.geometry.rotations import axis_angle_to_sixd, geodesic_angle, sixd_to_matrix
from meshvid.pipeline.infer import with_body
from meshvid.pipeline.regressor import BODY_FILE, MeshRegressor, blend_body
from conftest import keypoint_batch, keypoint_net_folder, refuses_image_network_as


def _pose6d(degrees: np.ndarray) -> torch.Tensor:
    """(N, 24) angles about x, degrees -> (N, 24, 6)."""
    aa = torch.zeros(*np.shape(degrees), 3)
    aa[..., 0] = torch.deg2rad(torch.as_tensor(np.asarray(degrees, np.float32)))
    return axis_angle_to_sixd(aa)


def _angles(a6d: torch.Tensor, b6d: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(geodesic_angle(sixd_to_matrix(a6d), sixd_to_matrix(b6d)))


def test_blend_moves_the_body_joints_halfway_and_keeps_the_root():
    main = _pose6d(np.zeros((2, 24)))
    other_deg = np.full((2, 24), 20.0)
    other_deg[:, 5] = 70.0  # too far apart to average: the main network's stays
    got = blend_body(main, _pose6d(other_deg))
    moved = _angles(got, main)
    assert torch.allclose(moved[:, 0], torch.zeros(2), atol=1e-3)  # the root is the main one's
    assert torch.allclose(moved[:, 5], torch.zeros(2), atol=1e-3)
    keep = [j for j in range(1, 24) if j != 5]
    assert torch.allclose(moved[:, keep], torch.full((2, 22), 10.0), atol=1e-2)


def test_with_body_blends_key_rows_and_smooths_the_network_along_the_track():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(30, 157)).astype(np.float32)
    theta[:, :144] = _pose6d(np.zeros((30, 24))).reshape(30, 144).numpy()
    noisy = 20.0 + 4.0 * rng.standard_normal((30, 24))
    body = _pose6d(noisy).reshape(30, 144).numpy()
    frames = np.arange(30) * 3
    raw = with_body(theta, body, frames, smooth=False)
    assert np.array_equal(raw[:, 144:], theta[:, 144:])  # shape and camera untouched
    expect = blend_body(torch.from_numpy(theta[:, :144].reshape(30, 24, 6)),
                        torch.from_numpy(body.reshape(30, 24, 6)))
    assert np.allclose(raw[:, :144], expect.reshape(30, 144).numpy(), atol=1e-5)
    smooth = with_body(theta, body, frames, smooth=True, stride=3)
    target = _pose6d(np.full((30, 24), 10.0))
    err_raw = _angles(torch.from_numpy(raw[:, :144].reshape(30, 24, 6)), target)[:, 1:].mean()
    err_smooth = _angles(torch.from_numpy(smooth[:, :144].reshape(30, 24, 6)), target)[:, 1:].mean()
    assert err_smooth < 0.6 * err_raw


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The shipped weights plus a keypoints-only network (random heads) as body.safetensors."""
    return keypoint_net_folder(tmp_path_factory.mktemp("weights"), BODY_FILE)


def test_regressor_runs_the_articulation_network_beside_the_main_one(folder):
    with_net = MeshRegressor(folder, orientation=False)
    without = MeshRegressor(folder, orientation=False, articulation=False)
    assert with_net.body_net is not None and without.body_net is None
    crops, kp, conf = keypoint_batch()
    a, b = with_net.single_frame(crops, kp, conf), without.single_frame(crops, kp, conf)
    assert b.body is None and a.body.shape == (3, 144)
    assert np.allclose(a.theta, b.theta, atol=1e-5)  # the main network is untouched
    with torch.no_grad():
        ref = with_net.body_net.forward_features(torch.zeros(3, 1), torch.from_numpy(kp),
                                                 torch.from_numpy(conf)).theta.pose_6d
    assert np.allclose(a.body, ref.reshape(3, 144).numpy(), atol=1e-5)
    flip = MeshRegressor(folder, flip_test=True, orientation=False).single_frame(crops, kp, conf)
    r = sixd_to_matrix(torch.from_numpy(flip.body.reshape(3, 24, 6)))
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand_as(r), atol=1e-5)


def test_an_image_network_is_refused_as_articulation_network(folder, tmp_path):
    refuses_image_network_as(folder, tmp_path, BODY_FILE)
