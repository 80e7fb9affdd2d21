"""`--refine`: the keypoint rig, the pose prior, the per-track fit, and the CLI on a real clip."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from meshvid.body import load_body_model
from meshvid.body.joints import SMPL_24
from meshvid.fitting.refine import RefineInput, RefineOptions, refine, rig_keypoints

F, CENTRE = 1000.0, (640.0, 360.0)


def test_anny24_keypoint_rig_is_exact_lbs():
    body = load_body_model("anny24")
    torch.manual_seed(0)
    pose, betas = torch.randn(4, 24, 3) * 0.5, torch.randn(4, 10)
    coco, joints = rig_keypoints(pose, body.coco17_rig(betas), body.rest_shape(betas)[1])
    out = body(pose, betas)
    torch.testing.assert_close(coco, out.coco17, atol=1e-5, rtol=0)
    torch.testing.assert_close(joints, out.joints, atol=1e-5, rtol=0)


def test_smpl_keypoint_rig_matches_its_keypoints(tmp_path):
    from tests.test_body_smpl import smpl_arrays

    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **smpl_arrays(0))  # no pose blendshapes: exact
    body = load_body_model("smpl", smpl_dir=tmp_path)
    torch.manual_seed(1)
    pose, betas = torch.randn(3, 24, 3) * 0.5, torch.randn(3, 10)
    coco, _ = rig_keypoints(pose, body.coco17_rig(betas), body.rest_shape(betas)[1])
    torch.testing.assert_close(coco, body(pose, betas).coco17, atol=1e-4, rtol=0)


def test_pose_prior_prefers_captured_poses_to_impossible_ones():
    from meshvid.fitting.pose_prior import load_prior

    prior = load_prior()
    rest = torch.zeros(1, 24, 3)
    walk = rest.clone()
    walk[0, SMPL_24.index("left_knee"), 0] = 0.6  # a knee bent forward, as in walking
    backwards = rest.clone()
    backwards[0, SMPL_24.index("left_knee"), 0] = -1.5  # the knee bent the wrong way
    twisted = rest.clone()
    twisted[0, SMPL_24.index("spine2"), 1] = 2.0  # the chest turned 115 degrees
    e = [float(prior.energy(p)[0]) for p in (walk, rest, backwards, twisted)]
    assert e[0] < e[2] / 5 and e[1] < e[2] / 5 and e[1] < e[3] / 5


def _observe(pose: torch.Tensor, noise_px: float = 0.0, seed: int = 0):
    """A person in `pose` (T, 24, 3) 5 m away, seen at 30 fps: the fit's input (its start is
    the true pose) with the exact keypoints plus pixel noise, and the true joints."""
    t = len(pose)
    body = load_body_model("anny24")
    gen = torch.Generator().manual_seed(seed)
    betas = torch.zeros(1, 10)
    rig = body.coco17_rig(betas).expand(t, -1, -1, -1)
    rest = body.rest_shape(betas)[1].expand(t, -1, -1)
    transl = torch.tensor([0.2, 0.1, 5.0]).expand(t, 3).clone()
    coco, joints = rig_keypoints(pose, rig, rest)
    pts = coco + transl[:, None]
    px = F * pts[..., :2] / pts[..., 2:3] + torch.tensor(CENTRE)
    px = px + noise_px * torch.randn(px.shape, generator=gen)
    heights = px[..., 1].max(1).values - px[..., 1].min(1).values
    prev = torch.arange(t) - 1
    inp = RefineInput(pose=pose.clone(), transl=transl.clone(), rig=rig[:1], rest_joints=rest[:1],
                      group=torch.zeros(t, dtype=torch.long), keypoints=px, scores=torch.full((t, 17), 0.9), box_height=heights * 1.1,
                      prev=prev, dt=torch.full((t,), 1 / 30), focal=F, center=CENTRE)
    return inp, joints


def _track(t: int, seed: int = 0, noise_px: float = 0.0):
    """A person walking in place 5 m away, facing the camera, seen for t frames at 30 fps: the
    true pose, translation and its exact keypoints (plus pixel noise)."""
    phase = torch.linspace(0, 2 * np.pi, t)
    pose = torch.zeros(t, 24, 3)
    for name, sign in (("left_hip", 1), ("right_hip", -1)):
        pose[:, SMPL_24.index(name), 0] = 0.4 * sign * torch.sin(phase)
    for name in ("left_knee", "right_knee"):
        pose[:, SMPL_24.index(name), 0] = 0.5 + 0.3 * torch.cos(phase)
    pose[:, SMPL_24.index("left_shoulder"), 2] = -1.1
    pose[:, SMPL_24.index("right_shoulder"), 2] = 1.1
    pose[:, 0, 0] = np.pi  # camera axes: y down, z away (the body faces the camera)
    inp, joints = _observe(pose, noise_px, seed)
    return inp, pose, joints


def _mpjpe(pose, truth_joints, inp):
    j = rig_keypoints(pose, inp.rig[inp.group], inp.rest_joints[inp.group])[1]
    return float(((j - j[:, :1]) - (truth_joints - truth_joints[:, :1])).norm(dim=-1).mean())


def test_refine_moves_a_wrong_arm_and_leg_onto_the_keypoints():
    inp, truth, truth_joints = _track(20)
    wrong = truth.clone()
    # what a bad regression gives: a forearm and a leg off in the image plane
    wrong[:, SMPL_24.index("left_elbow"), 2] += 0.8
    wrong[:, SMPL_24.index("right_hip"), 2] -= 0.4
    start = replace(inp, pose=wrong)
    # the data term's job (the walk here is faster than the smoothness weight is tuned for)
    res = refine(start, replace(RefineOptions(), w_init=0.01, w_smooth=0.0))
    assert res.error_before > 0.02
    assert res.error_after < res.error_before / 3
    assert _mpjpe(res.pose, truth_joints, inp) < _mpjpe(wrong, truth_joints, inp) / 2


def test_refine_ignores_one_confident_wrong_keypoint():
    inp, truth, truth_joints = _track(10)
    kp = inp.keypoints.clone()
    kp[:, 9] = kp[:, 10]  # the left wrist put on the right wrist (a swap), confidence kept
    res = refine(replace(inp, keypoints=kp), replace(RefineOptions(), w_smooth=0.0))
    # the left arm stays where the other keypoints and the prior put it
    assert _mpjpe(res.pose, truth_joints, inp) < 0.03


def test_depth_pull_keeps_the_networks_depth_and_leaves_the_image_to_the_keypoints():
    """Noisy keypoints, a network that is right: without the depth pull the fit moves the
    joints along the camera's axis chasing the noise; with it (the default) the joints keep the
    network's depth while the keypoint error stays as low."""
    inp, truth, truth_joints = _track(20, noise_px=3.0)

    def depth_error(pose):
        j = rig_keypoints(pose, inp.rig[inp.group], inp.rest_joints[inp.group])[1]
        rel, ref = j[..., 2] - j[:, :1, 2], truth_joints[..., 2] - truth_joints[:, :1, 2]
        return float((rel - ref).abs().mean())

    opts = replace(RefineOptions(), w_init=0.01, w_smooth=0.0)
    assert RefineOptions().w_init_depth > 0
    free = refine(inp, replace(opts, w_init_depth=0.0))
    pulled = refine(inp, opts)
    assert depth_error(pulled.pose) < 0.5 * depth_error(free.pose)
    # both sit below the 3 px noise (0.011 of the height); the free one by fitting the noise
    assert pulled.error_after < 1.35 * free.error_after


def test_refine_smoothness_removes_keypoint_jitter():
    inp, truth, truth_joints = _track(30, noise_px=4.0)

    def jitter(pose):
        j = rig_keypoints(pose, inp.rig[inp.group], inp.rest_joints[inp.group])[1]
        return float((j[2:] - 2 * j[1:-1] + j[:-2]).norm(dim=-1).mean())

    opts = replace(RefineOptions(), w_init=0.01)
    loose = refine(inp, replace(opts, w_smooth=0.0)).pose
    smooth = refine(inp, opts).pose
    assert jitter(smooth) < 0.5 * jitter(loose)


def test_infer_refine_puts_the_mesh_on_the_people_of_the_demo_clip(tmp_path):
    """The shipped weights on 45 frames of the sports2d demo: --refine must bring the mesh's
    keypoints much closer to the detector's (docs/infer.md has the whole clip's numbers)."""
    from meshvid.export.npz import load_npz
    from meshvid.pipeline.alignment import measure_alignment

    means = {}
    for flag in ("--no-refine", "--refine"):
        out = tmp_path / flag.strip("-")
        res = subprocess.run([sys.executable, "-m", "meshvid.cli.main", "infer", "--demo", "-o", out,
                              "--max-frames", "45", "--render", "none", flag, "--json", "--quiet"],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        summary = json.loads(res.stdout)
        means[flag] = measure_alignment(load_npz(out / "demo.npz")).summary()["mean_pct"]
        if flag == "--refine":
            assert summary["stage_seconds"]["refine"] > 0
    assert means["--refine"] < 0.75 * means["--no-refine"], means


def test_refine_tracks_in_pieces_equals_whole_batches_closely():
    """Long clips are fitted in batches of at most REFINE_BATCH_ROWS rows: splitting must not
    change what a track gets beyond its piece boundaries."""
    from meshvid.pipeline.infer import refine_tracks
    from meshvid.records import Track

    body = load_body_model("anny24")
    tracks, poses, betas, transls = [], [], [], []
    for k in range(3):
        inp, truth, _ = _track(12, seed=k, noise_px=2.0)
        boxes = torch.stack([inp.keypoints[..., 0].min(1).values, inp.keypoints[..., 1].min(1).values,
                             inp.keypoints[..., 0].max(1).values, inp.keypoints[..., 1].max(1).values], 1)
        tracks.append(Track(track_id=k + 1, frame_ids=np.arange(12), boxes=boxes.numpy(), scores=np.ones(12),
                            keypoints=inp.keypoints.numpy(), keypoint_scores=inp.scores.numpy(),
                            timestamps=np.arange(12) / 30.0, interpolated=np.zeros(12, bool)))
        poses.append(truth + 0.05)
        betas.append(torch.zeros(10))
        transls.append(inp.transl)
    kw = dict(fps=30.0, focal=F, image_size=(1280, 720))
    whole = refine_tracks(tracks, poses, betas, transls, body, **kw)
    split = refine_tracks(tracks, poses, betas, transls, body, batch_rows=12, **kw)
    for (pa, ta), (pb, tb) in zip(whole, split):
        assert pa.shape == (12, 24, 3) and ta.shape == (12, 3)
        torch.testing.assert_close(pa, pb, atol=2e-3, rtol=0)
        torch.testing.assert_close(ta, tb, atol=2e-3, rtol=0)


def test_root_anchor_holds_a_trusted_root_and_frees_an_untrusted_one():
    """Issue 24: where the orientation network was trusted (anchor 1) the fit keeps the root
    rotation near its start; with anchor 0 (or none) it turns the root onto the keypoints."""
    from meshvid.geometry.rotations import axis_angle_to_matrix, geodesic_angle

    inp, truth, _ = _track(10)
    tilted = truth.clone()
    tilted[:, 0, 0] += 0.25  # the start leans 14 degrees away from what the keypoints show
    # the depth pull (w_init_depth) also holds a lean, which tilts every joint's depth: off
    # here, so that the anchor alone is measured
    opts = replace(RefineOptions(), w_smooth=0.0, w_init_depth=0.0)

    def turned(anchor):
        res = refine(replace(inp, pose=tilted, root_anchor=anchor), opts)
        return float(torch.rad2deg(geodesic_angle(axis_angle_to_matrix(res.pose[:, 0]),
                                                  axis_angle_to_matrix(tilted[:, 0]))).mean())

    free, none, held = turned(torch.zeros(10)), turned(None), turned(torch.ones(10))
    assert free == pytest.approx(none, abs=1e-6)
    assert free > 5.0 and held < 0.5 * free


KNEES = [SMPL_24.index("left_knee"), SMPL_24.index("right_knee")]
HIPS = [SMPL_24.index("left_hip"), SMPL_24.index("right_hip")]


def test_knee_depth_term_straightens_a_bend_the_keypoints_cannot_see():
    """Issue 24: a person standing straight, facing the camera; the network bent both knees
    towards the camera with the ankles still under the hips (in the image: legs 4 % shorter).
    The pull towards the network's pose and depth keeps that bend; the knee-depth term (the
    default) lets the fit straighten it."""
    pose = torch.zeros(8, 24, 3)
    pose[:, 0, 0] = np.pi
    pose[:, SMPL_24.index("left_shoulder"), 2] = -1.1
    pose[:, SMPL_24.index("right_shoulder"), 2] = 1.1
    inp, _ = _observe(pose)
    bent = pose.clone()
    bent[:, HIPS, 0], bent[:, KNEES, 0] = -0.3, 0.6  # thigh and shank at -0.3 and +0.3 rad

    def knee_angle(opts):
        return float(refine(replace(inp, pose=bent), opts).pose[:, KNEES].norm(dim=-1).mean())

    assert RefineOptions().w_knee_depth > 0
    kept = knee_angle(replace(RefineOptions(), w_knee_depth=0.0))
    assert kept > 0.5  # without the term the bend stays
    assert knee_angle(RefineOptions()) < 0.8 * kept


def test_knee_depth_term_leaves_a_bend_across_the_image_alone():
    """The same walk seen from the side: its knees bend across the image, where the keypoints
    see them; the term changes them by no more than the fit does without it."""
    from scipy.spatial.transform import Rotation

    _, walk, _ = _track(20)
    side = walk.clone()
    turn = Rotation.from_rotvec([np.pi, 0, 0]) * Rotation.from_rotvec([0, np.pi / 2, 0])
    side[:, 0] = torch.tensor(turn.as_rotvec(), dtype=torch.float32)
    inp, _ = _observe(side)

    def knee_change(opts):
        return float((refine(inp, opts).pose[:, KNEES] - side[:, KNEES]).norm(dim=-1).mean())

    assert knee_change(RefineOptions()) < 0.03
    assert knee_change(RefineOptions()) < knee_change(replace(RefineOptions(), w_knee_depth=0.0)) + 0.01
