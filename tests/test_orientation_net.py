"""The root-orientation network (issue 24): a keypoints-only DSD in a weights folder
(orient.safetensors) whose root rotation replaces the main network's."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from meshvid.geometry.rotations import axis_angle_to_sixd, sixd_to_matrix
from meshvid.pipeline.infer import with_root
from meshvid.pipeline.regressor import ORIENT_FILE, MeshRegressor
from conftest import keypoint_batch, keypoint_net_folder, refuses_image_network_as


def _root6d(angles: np.ndarray) -> np.ndarray:
    """(T,) pitch angles -> (T, 6) root rotations about x."""
    aa = torch.zeros(len(angles), 3)
    aa[:, 0] = torch.from_numpy(np.asarray(angles, np.float32))
    return axis_angle_to_sixd(aa).numpy()


def test_with_root_replaces_joint_zero_and_smooths_along_the_track():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(30, 157)).astype(np.float32)
    theta[:, :6] = _root6d(np.full(30, 0.2))  # the main network's root, ~6 degrees away
    pitch = 0.3 + 0.05 * rng.standard_normal(30)
    root = _root6d(pitch)
    frames = np.arange(30) * 3  # model rate: every 3rd frame of a 30 fps clip
    raw = with_root(theta, root, frames, smooth=False)
    assert np.allclose(raw[:, :6], root, atol=1e-5) and np.array_equal(raw[:, 6:], theta[:, 6:])
    smooth = with_root(theta, root, frames, smooth=True, stride=3)
    got = torch.linalg.matrix_norm(sixd_to_matrix(torch.from_numpy(smooth[:, :6]))
                                   - sixd_to_matrix(torch.from_numpy(_root6d(np.full(30, 0.3)))))
    err_raw = np.abs(pitch - 0.3).mean()
    # chordal distance of a rotation about x by d is 2 sqrt(2) |sin(d / 2)| ~ sqrt(2) |d|
    assert float(got.mean()) / np.sqrt(2) < 0.6 * err_raw
    steady = with_root(theta, _root6d(np.full(30, 0.3)), frames, smooth=True, stride=3)
    assert np.allclose(steady[:, :6], _root6d(np.full(30, 0.3)), atol=1e-5)


def test_the_orientation_network_is_trusted_only_where_the_two_roots_agree():
    from meshvid.geometry.rotations import geodesic_angle
    from meshvid.pipeline.regressor import gated_root

    main = torch.from_numpy(_root6d(np.zeros(4)))
    orient = torch.from_numpy(_root6d(np.deg2rad([10.0, 30.0, 50.0, -10.0])))
    got = sixd_to_matrix(gated_root(main, orient))
    from_main = torch.rad2deg(geodesic_angle(got, sixd_to_matrix(main)))
    # <= 20 degrees: the orientation network; 30: half of it (15); >= 40: the main network
    assert torch.allclose(from_main, torch.tensor([10.0, 15.0, 0.0, 10.0]), atol=1e-3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The shipped weights plus a keypoints-only network (random heads) as orient.safetensors."""
    return keypoint_net_folder(tmp_path_factory.mktemp("weights"), ORIENT_FILE)


def test_regressor_takes_the_root_from_the_orientation_network(folder):
    with_net = MeshRegressor(folder)
    without = MeshRegressor(folder, orientation=False)
    assert with_net.orient is not None and without.orient is None
    crops, kp, conf = keypoint_batch()
    a, b = with_net.single_frame(crops, kp, conf), without.single_frame(crops, kp, conf)
    assert b.root is None and a.root.shape == (3, 6)
    assert np.allclose(a.theta, b.theta, atol=1e-5)  # the main network is untouched
    with torch.no_grad():
        ref = with_net.orient.forward_features(torch.zeros(3, 1), torch.from_numpy(kp),
                                               torch.from_numpy(conf)).theta.pose_6d[:, 0]
    assert np.allclose(a.root, ref.numpy(), atol=1e-5)
    flip = MeshRegressor(folder, flip_test=True).single_frame(crops, kp, conf)
    r = sixd_to_matrix(torch.from_numpy(flip.root))
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand_as(r), atol=1e-5)


def test_an_image_network_is_refused_as_orientation_network(folder, tmp_path):
    refuses_image_network_as(folder, tmp_path, ORIENT_FILE)
