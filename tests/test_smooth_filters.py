"""Smoothing on the rotation manifold: less jitter, lower error than the noisy input, constants
unchanged, safe near half turns, gaps respected, joints recomputed, CLI."""

from __future__ import annotations

import json

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from meshvid.errors import InputError
from meshvid.export.motion import MotionResult, PersonMotion
from meshvid.export.npz import load_npz, save_npz
from meshvid.export.rig import person_fk
from meshvid.smoothing import (
    OneEuroParams,
    SavGolParams,
    axis_angle_to_quat,
    quat_conj,
    quat_exp,
    quat_log,
    quat_mul,
    segments,
    sign_continuous,
    smooth_person,
    smooth_result,
)
from test_export_toybody import two_person_result, walking_person

FPS = 30.0
METHODS = [("oneeuro", OneEuroParams()), ("savgol", SavGolParams())]


def geodesic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) between two stacks of axis-angle rotations."""
    return np.linalg.norm(quat_log(quat_mul(quat_conj(axis_angle_to_quat(a)),
                                            axis_angle_to_quat(b))), axis=-1)


def angular_jitter(pose: np.ndarray) -> float:
    """Mean angular acceleration per frame^2 (rad): change of the frame-to-frame rotation."""
    q = sign_continuous(axis_angle_to_quat(pose))
    vel = quat_log(quat_mul(quat_conj(q[:-1]), q[1:]))
    return float(np.linalg.norm(np.diff(vel, axis=0), axis=-1).mean())


def add_noise(person: PersonMotion, seed: int, rot_sigma=0.05, transl_sigma=(0.01, 0.01, 0.05)):
    rng = np.random.default_rng(seed)
    t = len(person)
    noise = Rotation.from_rotvec(rng.normal(0, rot_sigma, (t * 24, 3)))
    pose = (noise * Rotation.from_rotvec(person.pose.reshape(-1, 3))).as_rotvec()
    transl = person.transl + rng.normal(0, transl_sigma, (t, 3))
    return replace(person, pose=pose.reshape(t, 24, 3).astype(np.float32),
                   transl=transl.astype(np.float32))


def test_quaternion_helpers_round_trip_including_half_turns():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 3))
    v *= (rng.uniform(0, np.pi, 500) / np.linalg.norm(v, axis=1))[:, None]
    v[:3] = [[np.pi, 0, 0], [0, -np.pi, 0], [0, 0, 1e-9]]
    back = quat_log(quat_exp(v))
    assert geodesic(back, v).max() < 1e-9


@pytest.mark.parametrize("method,params", METHODS)
def test_noisy_walk_gets_smoother_and_closer_to_truth(method, params):
    truth = walking_person(1, np.arange(150), FPS, seed=1)
    noisy = add_noise(truth, seed=0)
    out = smooth_person(noisy, FPS, method, params)
    err_noisy = geodesic(noisy.pose, truth.pose).mean()
    err_out = geodesic(out.pose, truth.pose).mean()
    assert err_out < 0.75 * err_noisy, (err_out, err_noisy)
    assert angular_jitter(out.pose) < 0.3 * angular_jitter(noisy.pose)
    t_noisy = np.linalg.norm(noisy.transl - truth.transl, axis=-1).mean()
    t_out = np.linalg.norm(out.transl - truth.transl, axis=-1).mean()
    assert t_out < 0.9 * t_noisy, (t_out, t_noisy)
    accel = lambda x: np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean()  # noqa: E731
    assert accel(out.transl) < 0.5 * accel(noisy.transl)


@pytest.mark.parametrize("method,params", METHODS)
def test_constant_sequence_is_unchanged(method, params):
    t = 40
    rng = np.random.default_rng(3)
    one = rng.normal(size=(24, 3))
    one *= (rng.uniform(0, 3.1, 24) / np.linalg.norm(one, axis=1))[:, None]
    one[0] = [0.0, np.pi - 1e-4, 0.0]  # a half turn, the axis-angle trouble spot
    person = PersonMotion(track_id=0, frame_ids=np.arange(t), timestamps=np.arange(t) / FPS,
                          pose=np.repeat(one[None], t, 0), betas=np.zeros(10),
                          transl=np.repeat([[0.3, -0.2, 5.0]], t, 0))
    out = smooth_person(person, FPS, method, params)
    assert geodesic(out.pose, person.pose).max() < 1e-5
    np.testing.assert_allclose(out.transl, person.transl, atol=1e-5)


@pytest.mark.parametrize("method,params", METHODS)
def test_rotation_crossing_a_half_turn_is_not_broken(method, params):
    # The root turns about the vertical through pi: its axis-angle flips from ~+pi*y to
    # ~-pi*y between two frames; filtering the raw numbers would average the two.
    t = 90
    angles = np.linspace(np.pi - 0.6, np.pi + 0.6, t)
    truth = np.zeros((t, 24, 3))
    truth[:, 0] = Rotation.from_rotvec(angles[:, None] * [0, 1, 0]).as_rotvec()
    assert np.abs(np.diff(truth[:, 0, 1])).max() > 6.0  # the flip is really in the data
    person = PersonMotion(track_id=0, frame_ids=np.arange(t), timestamps=np.arange(t) / FPS,
                          pose=truth, betas=np.zeros(10), transl=np.zeros((t, 3)))
    noisy = add_noise(person, seed=5, rot_sigma=0.03, transl_sigma=(0, 0, 0))
    out = smooth_person(noisy, FPS, method, params)
    err = geodesic(out.pose[:, 0], truth[:, 0])
    assert err.mean() < geodesic(noisy.pose[:, 0], truth[:, 0]).mean()
    assert err.max() < 0.1
    step = geodesic(out.pose[1:, 0], out.pose[:-1, 0])
    assert step.max() < 0.06  # true step is 0.0135 rad: no jumps


def test_gaps_split_tracks_and_uneven_timestamps_are_used():
    assert segments(np.array([0, 1, 2, 3, 20, 21, 22]), max_gap=10) == [slice(0, 4), slice(4, 7)]
    assert segments(np.array([0, 1, 5, 6]), max_gap=10) == [slice(0, 4)]
    # Two constant poses separated by a long absence stay exactly themselves.
    ids = np.array([0, 1, 2, 3, 4, 5, 40, 41, 42, 43, 44, 45])
    pose = np.zeros((12, 24, 3))
    pose[6:, 5] = [0.0, 0.0, 1.2]
    transl = np.zeros((12, 3))
    transl[6:] = [2.0, 0.0, 0.0]
    person = PersonMotion(track_id=0, frame_ids=ids, timestamps=ids / FPS, pose=pose,
                          betas=np.zeros(10), transl=transl)
    for method, params in METHODS:
        out = smooth_person(person, FPS, method, params, max_gap=10)
        assert geodesic(out.pose, pose).max() < 1e-6
        np.testing.assert_allclose(out.transl, transl, atol=1e-6)
    # A linear motion sampled at uneven times (a dropped frame) is reproduced by Savitzky-Golay:
    # the fit uses the real times, not the sample index.
    ids = np.array([0, 1, 2, 4, 5, 6, 7, 8, 10, 11])
    transl = np.stack([0.5 * ids / FPS, np.zeros(10), np.full(10, 4.0)], -1)
    person = PersonMotion(track_id=0, frame_ids=ids, timestamps=ids / FPS,
                          pose=np.zeros((10, 24, 3)), betas=np.zeros(10), transl=transl)
    out = smooth_person(person, FPS, "savgol", SavGolParams(window=5, order=1))
    np.testing.assert_allclose(out.transl, transl, atol=1e-6)


def test_smooth_result_recomputes_joints_and_records_provenance():
    result = two_person_result(frames=30, fps=FPS)
    noisy = replace(result, persons=[add_noise(p, seed=i) for i, p in enumerate(result.persons)])
    out = smooth_result(noisy, "savgol")
    for before, after in zip(noisy.persons, out.persons):
        _, joints = person_fk(after, after.rest_joints.astype(np.float64))
        np.testing.assert_allclose(after.joints3d, joints, atol=1e-5)
        assert not np.allclose(after.pose, before.pose)
        np.testing.assert_array_equal(after.keypoints2d, before.keypoints2d)  # observations kept
    assert '"method": "savgol"' in out.extra["smoothing"]


def test_bad_parameters_are_input_errors():
    result = two_person_result(frames=6)
    with pytest.raises(InputError, match="odd"):
        smooth_result(result, "savgol", SavGolParams(window=4))
    with pytest.raises(InputError, match="order"):
        smooth_result(result, "savgol", SavGolParams(window=5, order=5))
    with pytest.raises(InputError, match="cutoff"):
        smooth_result(result, "oneeuro", OneEuroParams(min_cutoff=0.0))
    with pytest.raises(InputError, match="unknown smoothing method"):
        smooth_result(result, "kalman")


def test_smooth_command_writes_a_loadable_npz(tmp_path: Path):
    from meshvid.cli.smooth import smooth

    result = two_person_result(frames=20, fps=FPS)
    src = save_npz(result, tmp_path / "clip.npz")
    smooth(results=src, output=None, method="oneeuro", window=9, order=2, min_cutoff=1.0,
           beta=1.0, transl_min_cutoff=1.0, transl_beta=3.0, d_cutoff=1.0, max_gap=10,
           foot_lock=False, smpl_dir=None, json_out=False, quiet=True)
    out = load_npz(tmp_path / "clip_smooth.npz")
    assert isinstance(out, MotionResult) and out.track_ids == result.track_ids
    assert "oneeuro" in out.extra["smoothing"]
    assert (tmp_path / "clip_smooth.json").exists()


def test_smooth_command_locks_feet_and_stores_the_floor(tmp_path: Path):
    """`meshvid smooth --foot-lock`: smoothed, then feet pinned; the NPZ keeps the floor and
    records the lock, so exports do not lock again."""
    from typer.testing import CliRunner

    from meshvid.cli.main import app
    from test_export_footlock import standing

    persons = [standing(1, 30), standing(2, 30, lift=0.2, jitter=0.02, x0=1.0, seed=2)]
    result = MotionResult(persons=persons, fps=FPS, body_model="anny24", image_size=(640, 480),
                          focal_length=600.0)
    src = save_npz(result, tmp_path / "clip.npz")
    run = CliRunner().invoke(app, ["smooth", str(src), "--foot-lock", "--json", "--quiet"])
    assert run.exit_code == 0, run.output
    out = load_npz(tmp_path / "clip_smooth.npz")
    assert out.floor is not None and "foot_lock" in out.extra
    report = json.loads(run.stdout)
    assert report["foot_height_cm_after"] < 3.0 < report["foot_height_cm_before"]
