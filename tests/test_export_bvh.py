"""BVH (numpy writer, no Blender): parse our files with a tiny independent parser and check the
hierarchy, frame count and that FK of the parsed channels gives our joint positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS
from meshvid.export.bvh import WORLD_TO_BVH, continuous_euler, write_bvh
from meshvid.export.presets import get_preset
from meshvid.export.rig import build_rig, sample_world_joints
from test_export_toybody import ToyBody, two_person_result


def parse_bvh(text: str) -> dict:
    """Minimal BVH reader: joint names, parents, offsets, channels, motion table."""
    tokens = text.split()
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i = 0
    pending_end = False
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            i += 2
        elif tok == "End":
            pending_end = True
            i += 2
        elif tok == "{":
            if pending_end:
                stack.append(-2)
            else:
                stack.append(len(names) - 1)
            i += 1
        elif tok == "}":
            if stack.pop() == -2:
                pending_end = False
            i += 1
        elif tok == "OFFSET":
            if not pending_end:
                offsets.append([float(v) for v in tokens[i + 1:i + 4]])
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels.append(tokens[i + 2:i + 2 + n])
            i += 2 + n
        else:
            i += 1
    frames = int(tokens[i + 2])
    frame_time = float(tokens[i + 5])
    values = np.array(tokens[i + 6:], dtype=np.float64)
    width = sum(len(c) for c in channels)
    assert values.size == frames * width
    return {"names": names, "parents": parents, "offsets": np.array(offsets),
            "channels": channels, "frames": frames, "frame_time": frame_time,
            "motion": values.reshape(frames, width)}


def bvh_fk(bvh: dict) -> np.ndarray:
    """World joint positions (frames, J, 3) from parsed BVH channels."""
    n = len(bvh["names"])
    out = np.zeros((bvh["frames"], n, 3))
    col = 0
    glob = [None] * n
    for j in range(n):
        chans = bvh["channels"][j]
        vals = bvh["motion"][:, col:col + len(chans)]
        col += len(chans)
        pos = np.zeros((bvh["frames"], 3))
        rot = Rotation.identity(bvh["frames"])
        for c, name in enumerate(chans):
            axis = name[0].lower()
            if name.endswith("position"):
                pos[:, "xyz".index(axis)] = vals[:, c]
            else:  # channels listed in application order: R = R1 @ R2 @ R3
                rot = rot * Rotation.from_euler(axis, np.radians(vals[:, c]))
        p = bvh["parents"][j]
        if p < 0:
            out[:, j] = pos if any(ch.endswith("position") for ch in chans) else bvh["offsets"][j]
            glob[j] = rot
        else:
            out[:, j] = out[:, p] + glob[p].apply(bvh["offsets"][j])
            glob[j] = glob[p] * rot
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("bvh")
    result = two_person_result(frames=24)
    scene = build_rig(result, ToyBody(), get_preset("blender"))
    paths = write_bvh(scene, out / "clip")
    return scene, paths


def test_one_file_per_person_with_24_joints_and_every_frame(exported):
    scene, paths = exported
    assert [p.name for p in paths] == ["clip_person_1.bvh", "clip_person_3.bvh"]
    n_frames = scene.frame_end + 1  # every BVH starts at source frame 0
    for path in paths:
        bvh = parse_bvh(path.read_text())
        assert sorted(bvh["names"]) == sorted(SMPL_24) and bvh["names"][0] == "pelvis"
        parents = [SMPL_24.index(bvh["names"][p]) if p >= 0 else -1 for p in bvh["parents"]]
        assert parents == [SMPL_24_PARENTS[SMPL_24.index(n)] for n in bvh["names"]]
        assert bvh["frames"] == n_frames
        assert bvh["frame_time"] == pytest.approx(1.0 / scene.fps)
        assert len(bvh["channels"][0]) == 6 and all(len(c) == 3 for c in bvh["channels"][1:])
    assert sorted(p.name for p in paths[0].parent.iterdir()) == [p.name for p in paths]


def test_parsed_motion_reproduces_our_joint_positions(exported):
    scene, paths = exported
    for person, path in zip(scene.persons, paths):
        bvh = parse_bvh(path.read_text())
        got = bvh_fk(bvh)[:, [bvh["names"].index(n) for n in SMPL_24]]  # back to SMPL order
        expected = sample_world_joints(person, scene.frame_start, scene.frame_end) @ WORLD_TO_BVH.T
        err = np.abs(got - expected).max()
        assert err < 1e-4, f"{path.name}: {err * 1000:.3f} mm"
        # BVH is Y up: people stand with their head above their feet.
        assert np.all(got[:, SMPL_24.index("head"), 1] > got[:, SMPL_24.index("left_ankle"), 1])


def test_unreal_preset_writes_centimetres(tmp_path: Path):
    result = two_person_result(frames=6)
    scene_m = build_rig(result, ToyBody(), get_preset("blender"))
    scene_cm = build_rig(result, ToyBody(), get_preset("unreal"))
    a = parse_bvh(write_bvh(scene_m, tmp_path / "m")[0].read_text())
    b = parse_bvh(write_bvh(scene_cm, tmp_path / "cm")[0].read_text())
    np.testing.assert_allclose(b["offsets"], 100 * a["offsets"], atol=1e-3)


def test_euler_angles_stay_continuous_through_a_full_turn():
    angles = np.linspace(0, 4 * np.pi, 200)
    rots = (Rotation.from_euler("y", angles) * Rotation.from_euler("x", 0.3)).as_matrix()
    eul = continuous_euler(rots)
    assert np.abs(np.diff(eul, axis=0)).max() < 0.2  # no 2*pi wraps, no flips
    np.testing.assert_allclose(Rotation.from_euler("ZXY", eul).as_matrix(), rots, atol=1e-9)
