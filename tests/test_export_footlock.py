"""Foot contacts and foot locking (meshvid/export/footlock.py) on toy-body motion with known
contacts: a person standing on the floor, one hovering with a jittering, drifting root (the
monocular depth error the lock must absorb), one standing on a ledge, and the two-bone IK."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from meshvid.export.floor import estimate_floor, rest_shape
from meshvid.export.footlock import (FootLockParams, contact_samples, foot_lock_person,
                                     foot_lock_result, two_bone_ik)
from meshvid.export.motion import MotionResult, PersonMotion
from test_export_toybody import ToyBody

FPS = 30.0


def standing(track_id: int, t: int, *, lift: float = 0.0, jitter: float = 0.0,
             drift: float = 0.0, x0: float = 0.0, seed: int = 0) -> PersonMotion:
    """A toy person standing upright facing the camera, 4 m away, feet on the ground level
    `lift` metres above the floor of person 1, plus root jitter (m, std) and drift (m/frame)."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((t, 24, 3))
    pose[:, 0] = [np.pi, 0.0, 0.0]  # body y up -> camera -y
    pose[:, 1, 0] = pose[:, 2, 0] = -0.1  # slightly bent legs (IK has a bend plane)
    pose[:, 4, 0] = pose[:, 5, 0] = 0.2
    pose[:, 7, 0] = pose[:, 8, 0] = -0.1
    pose[:, 16, 2], pose[:, 17, 2] = -1.1, 1.1
    transl = np.zeros((t, 3))
    transl[:, 0] = x0 + drift * np.arange(t)
    transl[:, 1] = 0.5 - lift  # camera y is down: the ledge is higher
    transl[:, 2] = 4.0
    transl += jitter * rng.standard_normal((t, 3))
    return PersonMotion(track_id=track_id, frame_ids=np.arange(t), timestamps=np.arange(t) / FPS,
                        pose=pose, betas=np.zeros(10), transl=transl)


def result_of(*persons: PersonMotion) -> MotionResult:
    return MotionResult(persons=list(persons), fps=FPS, body_model="toy", image_size=(640, 480),
                        focal_length=600.0)


def lock(person: PersonMotion, floor_person: PersonMotion, body: ToyBody,
         params: FootLockParams = FootLockParams()):
    floor = estimate_floor(result_of(floor_person), body)
    up, height = floor.plane(False)
    rest_v, rest_j = rest_shape(body, person.betas)
    weights = body.lbs_weights.numpy().astype(np.float64)
    return foot_lock_person(person, rest_v, rest_j, weights, up, height, params), up


def test_hovering_sliding_feet_are_pinned_to_the_floor():
    body = ToyBody()
    ground = standing(1, 60)
    noisy = standing(2, 60, lift=0.25, jitter=0.03, drift=0.01, x0=1.0, seed=3)
    res, up = lock(noisy, ground, body)
    contacts = res.contacts
    assert contacts.any(axis=2).all(axis=1).mean() > 0.9  # standing: both feet down
    slide_before, height_before = contact_samples(res.before, contacts, up)
    slide_after, height_after = contact_samples(res.after, contacts, up)
    assert 1000 * slide_before.mean() > 20  # jitter + drift: a few cm per frame
    assert 1000 * slide_after.mean() < 5.0  # target: < 5 mm/frame
    assert np.median(height_before) > 0.2  # hovering 25 cm
    assert abs(np.median(height_after)) < 0.03  # target: < 3 cm
    # Bones keep their lengths (FK), and the upper body moves rigidly with the pelvis.
    before, after = res.before.joints, res.after.joints
    spine = [0, 3, 6, 9, 12, 15]
    rel_b = before[:, spine] - before[:, :1]
    rel_a = after[:, spine] - after[:, :1]
    np.testing.assert_allclose(rel_a, rel_b, atol=1e-6)


def test_a_person_on_a_ledge_stays_on_it():
    body = ToyBody()
    ground = standing(1, 40)
    ledge = standing(2, 40, lift=1.2, jitter=0.02, x0=1.0, seed=5)
    res, up = lock(ledge, ground, body)
    assert np.all(res.ground > 1.0)  # a raised surface, not the floor
    _, height = contact_samples(res.after, res.contacts, up)
    assert np.median(height) == pytest.approx(np.median(res.ground), abs=0.03)


def test_motion_without_contacts_is_left_alone():
    body = ToyBody()
    ground = standing(1, 30)
    flying = standing(2, 30, lift=0.6, x0=1.0)
    flying.transl[:, 0] += 0.1 * np.arange(30)  # 3 m/s sideways: never a contact
    res, _ = lock(flying, ground, body)
    assert not res.contacts.any()
    np.testing.assert_allclose(res.person.pose, flying.pose, atol=1e-6)
    np.testing.assert_allclose(res.person.transl, flying.transl, atol=1e-6)


def test_two_bone_ik_reaches_reachable_targets_and_keeps_lengths():
    rng = np.random.default_rng(0)
    n = 50
    hip = np.zeros((n, 3))
    knee = np.tile([0.0, -0.45, 0.05], (n, 1))
    ankle = np.tile([0.0, -0.88, 0.0], (n, 1))
    target = ankle + rng.uniform(-0.08, 0.08, (n, 3)) + [0.0, 0.12, 0.0]  # within reach
    thigh, shin = two_bone_ik(hip, knee, ankle, target)
    new_knee = hip + (thigh @ (knee - hip)[..., None])[..., 0]
    new_ankle = new_knee + (shin @ (ankle - knee)[..., None])[..., 0]
    np.testing.assert_allclose(new_ankle, target, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=1),
                               np.linalg.norm(knee - hip, axis=1), atol=1e-9)
    # Out of reach: the leg straightens towards the target.
    far = hip + np.array([0.0, -3.0, 0.0])
    thigh, shin = two_bone_ik(hip[:1], knee[:1], ankle[:1], far[:1])
    new_knee = hip[:1] + (thigh @ (knee[:1] - hip[:1])[..., None])[..., 0]
    new_ankle = new_knee + (shin @ (ankle[:1] - knee[:1])[..., None])[..., 0]
    assert new_ankle[0, 1] < -0.88 and abs(new_ankle[0, 0]) < 1e-6
    assert Rotation.from_matrix(thigh).magnitude()[0] < np.pi


def test_result_level_lock_reports_metrics_and_marks_the_result():
    body = ToyBody()
    result = result_of(standing(1, 30), standing(2, 30, lift=0.2, jitter=0.02, x0=1.0, seed=1))
    locked, stats = foot_lock_result(result, body)
    assert locked.floor is not None and "foot_lock" in locked.extra
    assert stats["foot_slide_mm_after"] < 5.0 < stats["foot_slide_mm_before"]
    assert abs(stats["foot_height_cm_after"]) < 3.0
    assert stats["foot_contact_frames"] > 100


def test_export_command_locks_feet_by_default_and_reports_it(tmp_path):
    """`meshvid export`: foot lock on by default (metrics in --json), `--no-foot-lock` off,
    an unknown `--rig` is an InputError (one line, exit code 2 through meshvid's entry point)
    raised before the NPZ is read."""
    import json

    from typer.testing import CliRunner

    from meshvid.cli.main import app
    from meshvid.export.npz import save_npz

    result = MotionResult(persons=[standing(1, 20), standing(2, 20, lift=0.2, jitter=0.02,
                                                             x0=1.0, seed=4)],
                          fps=FPS, body_model="anny24", image_size=(640, 480), focal_length=600.0)
    src = save_npz(result, tmp_path / "clip.npz")
    runner = CliRunner()
    on = runner.invoke(app, ["export", str(src), "-f", "bvh", "--rig", "mixamo", "--root-bone",
                             "-o", str(tmp_path / "on"), "--json", "--quiet"])
    assert on.exit_code == 0, on.output
    report = json.loads(on.stdout)
    assert report["rig"] == "mixamo" and report["foot_slide_mm_after"] < 5.0
    assert "mixamorig:Hips" in (tmp_path / "on_person_1.bvh").read_text()
    off = runner.invoke(app, ["export", str(src), "-f", "bvh", "--no-foot-lock",
                              "-o", str(tmp_path / "off"), "--json", "--quiet"])
    assert off.exit_code == 0 and "foot_slide_mm_after" not in json.loads(off.stdout)
    from meshvid.errors import InputError

    bad = runner.invoke(app, ["export", str(tmp_path / "missing.npz"), "-f", "bvh", "--rig",
                              "nope"])
    assert isinstance(bad.exception, InputError) and "unknown rig 'nope'" in str(bad.exception)


def test_floor_from_chunked_skinning_equals_all_frames_at_once():
    """estimate_floor skins SKIN_CHUNK frames at a time (memory); its floor is the one from
    every sampled mesh at once, also when the lowest frames are in the last chunk."""
    from meshvid.export import floor as floor_mod
    from meshvid.export.rig import estimate_camera_up, person_fk, skin

    body = ToyBody()
    sinking = standing(2, 150, x0=1.0, jitter=0.01, seed=7)
    sinking.transl[:, 1] += np.linspace(0.0, 0.5, 150)  # camera y down: lowest at the end
    result = result_of(standing(1, 30), sinking)
    assert len(sinking) > 3 * floor_mod.SKIN_CHUNK
    weights = body.lbs_weights.numpy().astype(np.float64)
    meshes, rots = [], []
    for person in result.persons:
        rest_v, rest_j = rest_shape(body, person.betas)
        world_rot, joints = person_fk(person, rest_j)
        rots.append(world_rot)
        sel = slice(None, None, max(1, len(person) // 120))
        meshes.append(skin(rest_v, rest_j, weights, world_rot[sel], joints[sel]))
    up = estimate_camera_up(rots)
    expect = [-np.percentile(np.concatenate([(m @ axis).min(axis=1) for m in meshes]), 2.0)
              for axis in (floor_mod.LEVEL_UP, up)]
    got = estimate_floor(result, body)
    np.testing.assert_allclose(got.up, up, atol=1e-12)
    np.testing.assert_allclose([got.height, got.height_levelled], expect, atol=1e-9)
    # the sinking person's last frames set the floor: dropping a chunk would move it
    assert got.height > estimate_floor(result_of(standing(1, 30)), body).height + 0.3
