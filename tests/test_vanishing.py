"""Gravity from the scene's plumb lines (meshvid/scene/vanishing.py): synthetic cameras with a
known up, distractor lines, per-frame consensus, the pipeline stage, the CLI's refusal."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from meshvid.errors import InputError
from meshvid.scene.vanishing import (GravityStage, VerticalEstimate, consensus, mask_boxes,
                                     vertical_direction)

FOCAL, SIZE = 800.0, (960, 540)
CENTER = (SIZE[0] / 2, SIZE[1] / 2)


def camera(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World (y down, gravity +y) -> camera rotation of a camera pitched down and rolled."""
    return Rotation.from_euler("xz", [-pitch_deg, roll_deg], degrees=True).as_matrix()


def project(R: np.ndarray, points: np.ndarray) -> np.ndarray:
    c = points @ R.T
    return np.stack([FOCAL * c[:, 0] / c[:, 2] + CENTER[0], FOCAL * c[:, 1] / c[:, 2] + CENTER[1]], -1)


def scene_segments(R: np.ndarray, rng: np.random.Generator, vertical: int = 30,
                   other: int = 30) -> np.ndarray:
    """Image segments of plumb 3D lines (posts, door frames) and of level ones in two other
    directions, in front of the camera; only those fully in view."""
    out = []
    for k in range(vertical + other):
        base = np.array([rng.uniform(-6, 6), rng.uniform(-1, 2), rng.uniform(6, 20)]) @ R
        d = (np.array([0.0, -1.0, 0.0]) if k < vertical else
             np.array([1.0, 0.0, rng.uniform(-0.3, 0.3)]) if k % 2 else np.array([0.0, 0.0, 1.0]))
        p = project(R, np.stack([base, base + rng.uniform(1.0, 2.5) * d / np.linalg.norm(d)]))
        if (p >= 0).all() and (p[:, 0] < SIZE[0]).all() and (p[:, 1] < SIZE[1]).all():
            out.append(p.reshape(4))
    return np.array(out)


def angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


@pytest.mark.parametrize("pitch,roll", [(0.0, 0.0), (25.0, 3.0), (35.0, -5.0)])
def test_plumb_lines_give_gravity_among_level_distractors(pitch, roll):
    R = camera(pitch, roll)
    true_up = R @ np.array([0.0, -1.0, 0.0])
    seg = scene_segments(R, np.random.default_rng(0))
    est = vertical_direction(seg + np.random.default_rng(1).normal(0, 0.3, seg.shape), FOCAL,
                             CENTER)
    assert est is not None and angle(est.up, true_up) < 0.5, est


def test_no_lines_no_estimate():
    assert vertical_direction(np.zeros((0, 4)), FOCAL, CENTER) is None
    horizontal = np.array([[10.0, y, 500.0, y + 3] for y in range(20, 400, 40)])
    assert vertical_direction(horizontal, FOCAL, CENTER) is None


def test_consensus_outvotes_a_frame_where_another_family_won():
    up = np.array([0.0, -0.9, -0.4358])
    wrong = Rotation.from_euler("x", 15, degrees=True).as_matrix() @ up
    frames = [VerticalEstimate(up / np.linalg.norm(up), 1000.0, 40) for _ in range(4)]
    frames += [VerticalEstimate(wrong / np.linalg.norm(wrong), 2500.0, 40), None]
    best = consensus(frames)
    assert angle(best.up, up / np.linalg.norm(up)) < 1e-6 and best.support == 4000.0
    assert consensus([None, None]) is None


def test_a_prior_picks_between_two_well_supported_families():
    up = np.array([0.0, -0.9, -0.4358])
    up /= np.linalg.norm(up)
    other = Rotation.from_euler("x", 9, degrees=True).as_matrix() @ up
    frames = [VerticalEstimate(other, 1000.0, 40) for _ in range(3)]
    frames += [VerticalEstimate(up, 1000.0, 40) for _ in range(2)]
    assert angle(consensus(frames).up, other) < 1e-6  # the larger family, alone
    people = Rotation.from_euler("x", -3, degrees=True).as_matrix() @ up  # coarse, but nearer
    assert angle(consensus(frames, prior=people).up, up) < 1e-6
    # a family with too small a share of the support is not a candidate, however near
    lone = frames[:3] + [VerticalEstimate(up, 200.0, 5)]
    assert angle(consensus(lone, prior=people).up, other) < 1e-6


def test_people_are_masked():
    seg = np.array([[100.0, 100, 100, 200], [500.0, 100, 500, 200]])
    kept = mask_boxes(seg, np.array([[80.0, 80, 140, 220]]))
    np.testing.assert_array_equal(kept, seg[1:])


def frame_of(R: np.ndarray, index: int) -> SimpleNamespace:
    """A grey image with the scene's segments drawn, as records.Frame carries it."""
    img = np.full((SIZE[1], SIZE[0], 3), 40, np.uint8)
    for s in scene_segments(R, np.random.default_rng(index)):
        cv2.line(img, (int(s[0]), int(s[1])), (int(s[2]), int(s[3])), (230, 230, 230), 2)
    return SimpleNamespace(index=index, image=img)


def test_stage_samples_frames_and_turns_them_back_to_the_first_camera():
    pitch0 = camera(20.0, 2.0)
    true_up0 = pitch0 @ np.array([0.0, -1.0, 0.0])
    frames = 30
    # the camera pans: camera 0 -> camera k turns by k degrees about the camera's y
    pans = np.stack([Rotation.from_euler("y", k, degrees=True).as_matrix() for k in range(frames)])
    motion = SimpleNamespace(R=pans, num_frames=frames, is_static=False)
    stage = GravityStage("auto", [], frames, SIZE, FOCAL)
    for k in range(frames):
        stage(frame_of(pans[k] @ pitch0, k))
    est = stage.finish(motion)
    assert len(stage.found) == 7 and est is not None
    assert angle(est.up, true_up0) < 0.5, angle(est.up, true_up0)
    # without turning the samples back they disagree: the pan turns gravity in the camera
    unturned = stage.finish(None)
    assert unturned is None or angle(unturned.up, true_up0) > 1.0
    assert stage.seconds > 0


def test_stage_falls_back_to_the_people_and_says_why():
    blank = SimpleNamespace(index=0, image=np.full((SIZE[1], SIZE[0], 3), 90, np.uint8))
    stage = GravityStage("auto", [], 1, SIZE, FOCAL)
    stage(blank)
    assert stage.finish(None) is None and "plumb lines" in stage.reason
    people = GravityStage("people", [], 10, SIZE, FOCAL)
    people(blank)
    assert people.finish(None) is None and people.found == [] and people.reason == "--gravity people"
    with pytest.raises(InputError, match="--gravity must be one of auto, lines, people"):
        GravityStage("sky", [], 10, SIZE, FOCAL)


def test_cli_refuses_an_unknown_gravity_mode_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from meshvid.cli.main import app

    res = CliRunner().invoke(app, ["infer", "--demo", "-o", str(tmp_path / "o"),
                                   "--gravity", "sky"])
    assert isinstance(res.exception, InputError)
    assert "--gravity must be one of auto, lines, people" in str(res.exception)
    assert not (tmp_path / "o").exists()


def test_auto_looks_at_the_lines_only_with_the_users_focal():
    from meshvid.scene.vanishing import stage_mode

    assert stage_mode("auto", True) == ("lines", "")
    mode, why = stage_mode("auto", False)
    assert mode == "people" and "--focal" in why
    assert stage_mode("lines", False) == ("lines", "")
    assert stage_mode("people", True) == ("people", "--gravity people")
    stage = GravityStage("auto", [], 10, SIZE, FOCAL, focal_given=False)
    assert stage.mode == "people" and stage.wanted == set() and "--focal" in stage.reason
