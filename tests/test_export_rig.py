"""Rig building (no Blender): world frame, floor, camera, levelling, presets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from meshvid.body.joints import SMPL_24
from meshvid.export.presets import PRESETS, get_preset
from meshvid.export.rig import build_rig, sample_world_joints
from test_export_toybody import ToyBody, two_person_result


def test_people_stand_upright_on_the_floor_and_camera_looks_at_them():
    result = two_person_result(frames=12)
    scene = build_rig(result, ToyBody(), get_preset("blender"))
    head, ankle = SMPL_24.index("head"), SMPL_24.index("left_ankle")
    for p in scene.persons:
        assert np.all(p.joint_pos[:, head, 2] > p.joint_pos[:, ankle, 2] + 0.8)  # Z up
        assert np.all(p.joint_pos[:, 0, 1] > 3.0)  # in front of the camera (+Y)
        assert p.rest_vertices[:, 2].min() == 0.0  # bind pose stands on the floor
        assert p.rest_joints[SMPL_24.index("head"), 2] > 1.0
    # The floor estimate puts the lowest points at Z ~ 0 and the camera above it.
    lowest = min(p.joint_pos[..., 2].min() for p in scene.persons)
    assert -0.05 < lowest < 0.3
    cam = scene.camera
    assert cam.position[2] == scene.notes["camera_height_m"] > 0
    # Blender cameras look down their -Z axis: ours looks along +Y, with +Z up.
    np.testing.assert_allclose(cam.rotation @ [0, 0, -1], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(cam.rotation @ [0, 1, 0], [0, 0, 1], atol=1e-12)


def test_level_option_removes_camera_pitch():
    result = two_person_result(frames=12)
    pitch = Rotation.from_euler("x", 15, degrees=True)  # a camera looking down 15 degrees
    tilted_persons = []
    for p in result.persons:
        root = (pitch * Rotation.from_rotvec(p.pose[:, 0])).as_rotvec()
        pose = p.pose.copy()
        pose[:, 0] = root
        # Rotating the camera frame rotates the root joint position; transl follows it.
        root_pos = p.transl + p.rest_joints[0]
        transl = pitch.apply(root_pos) - p.rest_joints[0]
        tilted_persons.append(replace(p, pose=pose, transl=transl, joints3d=None))
    tilted = replace(result, persons=tilted_persons)
    body = ToyBody()
    level = build_rig(result, body, get_preset("blender"))
    fixed = build_rig(tilted, body, get_preset("blender"), level=True)
    unfixed = build_rig(tilted, body, get_preset("blender"), level=False)
    assert abs(fixed.notes["camera_tilt_removed_deg"] - 15.0) < 0.5
    for a, b, c in zip(level.persons, fixed.persons, unfixed.persons):
        np.testing.assert_allclose(b.joint_pos, a.joint_pos, atol=1e-6)
        # Without levelling the body leans by the camera's pitch (spine vs vertical).
        spine = lambda r: r.joint_pos[:, 12] - r.joint_pos[:, 0]  # noqa: E731
        lean = lambda r: np.degrees(np.arccos(spine(r)[:, 2] / np.linalg.norm(spine(r), axis=1)))  # noqa: E731,E501
        assert np.abs(lean(c) - lean(a)).max() > 10.0


def test_unreal_preset_scales_lengths_not_rotations():
    result = two_person_result(frames=6)
    m = build_rig(result, ToyBody(), PRESETS["blender"])
    cm = build_rig(result, ToyBody(), PRESETS["unreal"])
    for a, b in zip(m.persons, cm.persons):
        np.testing.assert_allclose(b.joint_pos, 100 * a.joint_pos, atol=1e-6)
        np.testing.assert_allclose(b.rest_vertices, 100 * a.rest_vertices, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(b.joint_rot, a.joint_rot, atol=1e-12)


def test_sampled_joints_hold_before_and_fill_gaps():
    result = two_person_result(frames=24)
    scene = build_rig(result, ToyBody(), get_preset("blender"))
    late = scene.persons[1]  # appears at frame 8, missing 12-14
    joints = sample_world_joints(late, scene.frame_start, scene.frame_end)
    assert joints.shape == (24, 24, 3)
    np.testing.assert_allclose(joints[:8], np.repeat(late.joint_pos[:1], 8, 0), atol=1e-9)
    k = list(late.frame_ids).index(11)
    np.testing.assert_allclose(joints[11], late.joint_pos[k], atol=1e-9)
    # Inside the gap the root moves between its neighbours.
    a, b = late.joint_pos[k, 0], late.joint_pos[k + 1, 0]
    np.testing.assert_allclose(joints[13, 0], a + (b - a) * 2 / 4, atol=1e-9)


def test_numpy_skinning_matches_the_body_model():
    import torch

    from meshvid.export.rig import person_fk, skin

    body = ToyBody()
    person = two_person_result(frames=5).persons[0]
    rest_v, rest_j = (x[0].numpy().astype(np.float64)
                      for x in body.rest_shape(torch.tensor(person.betas[None]).float()))
    world_rot, joints = person_fk(person, rest_j)
    verts = skin(rest_v, rest_j, body.lbs_weights.numpy(), world_rot, joints)
    with torch.no_grad():
        out = body(torch.tensor(person.pose).float(),
                   torch.tensor(np.repeat(person.betas[None], 5, 0)).float(),
                   torch.tensor(person.transl).float())
    np.testing.assert_allclose(verts, out.vertices.numpy(), atol=1e-5)
