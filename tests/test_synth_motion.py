"""Motion sources: DeepMimic parsing and retargeting, loops, augmentations, the split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS
from meshvid.body.lbs import forward_kinematics
from meshvid.synth import deepmimic as dm
from meshvid.synth.motion import (
    mirror,
    mirror_pose,
    resample,
    rotmat_to_rotvec,
    rotvec_to_rotmat,
    sample_times,
)

J = {n: i for i, n in enumerate(SMPL_24)}


@pytest.fixture(scope="module")
def body():
    from meshvid.body import load_body_model

    return load_body_model("anny24")


@pytest.fixture(scope="module")
def rest_joints(body):
    with torch.no_grad():
        _, j = body.rest_shape(torch.zeros(1, 10))
    return j[0].double().numpy()


def _fk(local: np.ndarray, rest: np.ndarray) -> np.ndarray:
    rest_t = torch.from_numpy(rest)[None].expand(len(local), -1, -1)
    _, pos = forward_kinematics(torch.from_numpy(local), rest_t, SMPL_24_PARENTS)
    return pos.numpy()


def test_deepmimic_files_parse_with_the_documented_layout() -> None:
    names = dm.clip_names()
    assert set(dm.HELD_OUT) <= set(names) and "humanoid3d_walk" in names
    clip = dm.read_clip("humanoid3d_walk")
    assert clip.local.shape[1:] == (15, 3, 3) and abs(clip.frame_time - 1 / 30) < 1e-3
    # Rest skeleton: y up (head above the root, ankles below), right hip at +z.
    _, pos = dm.forward_kinematics(np.tile(np.eye(3), (1, 15, 1, 1)), np.zeros((1, 3)))
    p = {n: pos[0, i] for i, n in enumerate(dm.DM_NAMES)}
    assert p["neck"][1] > 0.4 and p["left_ankle"][1] < -0.7 and p["right_hip"][2] > 0
    # Walking: knees flex with negative angles (revolute about the lateral z axis) and the
    # root travels along +x, the humanoid's forward axis.
    assert clip.local[:, dm.DM_NAMES.index("right_knee")].trace(axis1=1, axis2=2).min() < 2.9
    assert clip.root_pos[-1, 0] - clip.root_pos[0, 0] > 0.8


@pytest.mark.parametrize("name", dm.clip_names())
def test_retargeted_bones_follow_the_capture(name: str, rest_joints: np.ndarray) -> None:
    """Limb directions of the retargeted SMPL skeleton equal DeepMimic's, in SMPL axes."""
    clip = dm.read_clip(name)
    local, root = dm.retarget(clip, rest_joints, dm.FillIns.sample(np.random.default_rng(0)))
    assert np.isfinite(local).all() and np.isfinite(root).all()
    pos = _fk(local, rest_joints)
    _, dpos = dm.forward_kinematics(clip.local, clip.root_pos)
    dpos = dpos @ dm.DM_TO_SMPL.T
    for a, b in [("left_hip", "left_knee"), ("right_knee", "right_ankle"),
                 ("left_shoulder", "left_elbow"), ("right_elbow", "right_wrist")]:
        u = pos[:, J[b]] - pos[:, J[a]]
        v = dpos[:, dm.DM_NAMES.index(b)] - dpos[:, dm.DM_NAMES.index(a)]
        cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.5, (name, a, b)
    # Local rotations are proper rotations.
    assert np.allclose(np.linalg.det(local), 1.0, atol=1e-6)


def test_walk_moves_the_way_the_body_faces(rest_joints: np.ndarray) -> None:
    """The axis change is right: a walker's pelvis travels along its own forward (+z) axis."""
    clip = dm.load_clip("humanoid3d_walk", rest_joints)
    travel = clip.root_pos[-1] - clip.root_pos[0]
    facing = clip.rotmats[:, 0] @ np.array([0.0, 0.0, 1.0])
    assert travel @ facing.mean(0) / np.linalg.norm(travel) > 0.95
    # Upright: the pelvis' up axis stays near world up.
    up = clip.rotmats[:, 0] @ np.array([0.0, 1.0, 0.0])
    assert up[:, 1].min() > 0.9


def test_bone_lengths_constant_through_a_retargeted_clip(body) -> None:
    clip = dm.load_clip("humanoid3d_spinkick", body.rest_shape(torch.zeros(1, 10))[1][0].double().numpy())
    betas = torch.randn(1, 10, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = body.forward_rotmat(torch.from_numpy(clip.rotmats).float(), betas.expand(clip.num_frames, -1))
    assert torch.isfinite(out.vertices).all()
    j = out.joints.double()
    parents = torch.tensor(SMPL_24_PARENTS[1:])
    lengths = (j[:, 1:] - j[:, parents]).norm(dim=-1)  # (T, 23)
    assert lengths.min() > 0.01
    assert (lengths.max(0).values - lengths.min(0).values).max() < 1e-5


def test_loops_are_seamless_and_keep_going(rest_joints: np.ndarray) -> None:
    clip = dm.load_clip("humanoid3d_run", rest_joints)
    assert clip.loop
    fps = clip.fps
    times = np.arange(0, 3 * clip.duration, 1 / fps)
    rot, pos = sample_times(clip, times)
    # Angular speed of every joint: the seam is no worse than the worst step inside the clip.
    rel = np.einsum("tjba,tjbc->tjac", rot[:-1], rot[1:])
    speed = np.linalg.norm(rotmat_to_rotvec(rel), axis=-1).max(1)
    n = clip.num_frames
    seams = speed[n - 1::n]
    inside = np.delete(speed, np.arange(n - 1, len(speed), n))
    assert seams.max() <= inside.max() * 1.5 + 1e-6
    # The runner keeps running: three cycles cover about three times one cycle's distance.
    one = np.linalg.norm((pos[n] - pos[0])[[0, 2]])
    three = np.linalg.norm((pos[3 * n - 1] - pos[0])[[0, 2]])
    assert one > 0.5 and three > 2.5 * one


def test_mirror_and_resample(rest_joints: np.ndarray) -> None:
    clip = dm.load_clip("humanoid3d_punch", rest_joints)
    back = mirror(mirror(clip))
    assert np.allclose(back.rotmats, clip.rotmats, atol=1e-9)
    m = mirror(clip)
    assert np.allclose(rotmat_to_rotvec(m.rotmats), mirror_pose(rotmat_to_rotvec(clip.rotmats)), atol=1e-6)
    # A punch with the right hand becomes one with the left: wrist travel swaps sides.
    pos, mpos = _fk(clip.rotmats, rest_joints), _fk(m.rotmats, rest_joints)
    assert np.allclose(pos[:, J["right_wrist"], 0], -mpos[:, J["left_wrist"], 0], atol=1e-4)
    fast = resample(clip, fps=clip.fps, speed=2.0)
    assert abs(fast.num_frames - (clip.num_frames + 1) / 2) <= 1
    assert np.allclose(fast.rotmats[1], clip.rotmats[2], atol=1e-6)
    assert np.isfinite(rotvec_to_rotmat(np.zeros((2, 3)))).all()


def test_held_out_clips_never_in_a_training_library(rest_joints: np.ndarray) -> None:
    from meshvid.synth.sources import MotionLibrary

    train = MotionLibrary.build("train", rest_joints)
    held = {f"deepmimic/{n}" for n in dm.HELD_OUT}
    assert not held & set(train.clip_names)
    assert len(train.clips) >= 12
    heldout = MotionLibrary.build("heldout", rest_joints)
    assert set(heldout.clip_names) == held
    # Every draw refers to a clip of its own library.
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = train.draw_frame(rng)
        assert train.clip_names[d.clip_id] not in held
        assert d.clip_id2 < 0 or train.clip_names[d.clip_id2] not in held
        assert np.isfinite(d.rotmats).all()


def test_anny_walk_cycle_walks(rest_joints: np.ndarray) -> None:
    """The anny walk retargets to a forward walk whose planted foot stays put (no skating)."""
    from meshvid.synth import annywalk

    clips = annywalk.load_clips(rest_joints)
    assert [c.name for c in clips] == annywalk.clip_names() and clips
    clip = clips[0]
    assert clip.loop and np.isfinite(clip.rotmats).all()
    pos = _fk(clip.rotmats, rest_joints) - rest_joints[0] + clip.root_pos[:, None]
    travel = clip.root_pos[-1] - clip.root_pos[0]
    facing = (clip.rotmats[:, 0] @ np.array([0.0, 0.0, 1.0])).mean(0)
    assert np.linalg.norm(travel) > 0.5 and travel @ facing / np.linalg.norm(travel) > 0.95
    for ankle in (J["left_ankle"], J["right_ankle"]):
        height = pos[:, ankle, 1]
        planted = height < height.min() + 0.02  # the stance phase: its longest run of frames
        runs = np.split(np.arange(len(height)), np.nonzero(np.diff(planted.astype(int)))[0] + 1)
        stance = max((r for r in runs if planted[r[0]]), key=len)
        assert len(stance) >= 5
        slide = np.ptp(pos[stance, ankle][:, [0, 2]], axis=0).max()
        assert slide < 0.08, slide
    # Arms swing in opposition: the wrists' forward offsets are anti-correlated.
    fwd = pos[:, [J["left_wrist"], J["right_wrist"]], 2] - pos[:, :1, 2]
    assert np.corrcoef(fwd[:, 0], fwd[:, 1])[0, 1] < -0.5
