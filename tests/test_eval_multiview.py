"""`meshvid eval --dataset multiview`: a tiny two-camera folder made here (known calibration,
a known COCO-17 skeleton walking, TRC files written by the test), checked against hand-computed
errors. No pipeline run: the scorer is fed results built from the known skeleton."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from meshvid.errors import InputError
from meshvid.eval.multiview.calibration import (project_camera, read_calibration, rodrigues,
                                                world_to_camera)
from meshvid.eval.multiview.dataset import load_multiview
from meshvid.eval.multiview.matching import match_people
from meshvid.eval.multiview.metrics import (accel_error, constant_pose, joint_mask, mpjpe,
                                            pa_mpjpe, pixel_error, trunk_pitch)
from meshvid.eval.multiview.reference import TRC_MARKERS, read_reference, read_trc
from meshvid.eval.multiview.score import CONSTANT, MESH, score_camera
from meshvid.export.motion import MotionResult, PersonMotion
from conftest import assert_one_line_error

FPS = 10.0
W, H, F = 640, 480, 20
# a standing person, COCO-17 order, world metres (x lateral, y forward, z up)
STAND = np.array([
    [0.0, 0.08, 1.62], [0.03, 0.06, 1.66], [-0.03, 0.06, 1.66], [0.07, 0.0, 1.64],
    [-0.07, 0.0, 1.64], [0.18, 0.0, 1.42], [-0.18, 0.0, 1.42], [0.22, 0.0, 1.15],
    [-0.22, 0.0, 1.15], [0.24, 0.05, 0.90], [-0.24, 0.05, 0.90], [0.10, 0.0, 0.95],
    [-0.10, 0.0, 0.95], [0.10, 0.02, 0.50], [-0.10, 0.02, 0.50], [0.10, 0.0, 0.08],
    [-0.10, 0.0, 0.08]])
BODY = list(range(5, 17))


def walk(offset_x: float = 0.0) -> np.ndarray:
    """(F, 17, 3): walks along x at 0.5 m/s swinging the wrists (y)."""
    t = np.arange(F) / FPS
    out = np.repeat(STAND[None], F, axis=0).copy()
    out[:, :, 0] += offset_x + 0.5 * t[:, None] - 0.5
    out[:, 9, 1] += 0.15 * np.sin(2 * np.pi * t)
    out[:, 10, 1] -= 0.15 * np.sin(2 * np.pi * t)
    return out


def look(direction, centre) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera (R, t) for a level camera at `centre` looking along `direction`."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    x = np.cross(d, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(d, x)
    R = np.stack([x, y, d])
    return R, -R @ np.asarray(centre, float)


CAMS = {
    "cam_a": (*look([0, 1, 0], [0, -5, 1.2]), [0.0, 0.0, 0.0, 0.0]),
    "cam_b": (*look([-1, 1, 0], [4.5, -4, 1.2]), [-0.1, 0.02, 0.001, -0.001, 0.003]),
}
FOCAL = 600.0


def toml_text(cams=CAMS) -> str:
    parts = []
    for name, (R, t, dist) in cams.items():
        rvec = cv2.Rodrigues(R)[0].ravel()
        parts.append(
            f'[{name}]\nname = "{name}"\nsize = [ {W}.0, {H}.0,]\n'
            f"matrix = [ [ {FOCAL}, 0.0, {W / 2}], [ 0.0, {FOCAL}, {H / 2}], [ 0.0, 0.0, 1.0]]\n"
            f"distortions = {list(map(float, dist))}\nrotation = {list(map(float, rvec))}\n"
            f"translation = {list(map(float, t))}\nfisheye = false\n")
    return "\n".join(parts) + "\n[metadata]\nadjusted = false\n"


def trc_text(joints: np.ndarray, name: str, empty: tuple[int, int] | None = None,
             units: str = "m") -> str:
    scale = 1000.0 if units == "mm" else 1.0
    head = ["PathFileType\t4\t(X/Y/Z)\t" + name,
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
            "OrigDataStartFrame\tOrigNumFrames",
            f"{FPS:g}\t{FPS:g}\t{len(joints)}\t17\t{units}\t{FPS:g}\t0\t{len(joints)}",
            "Frame#\tTime\t" + "\t\t\t".join(TRC_MARKERS) + "\t\t",
            "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, 18)), ""]
    rows = []
    for f, frame in enumerate(joints):
        cells = [str(f + 1), f"{f / FPS:.5f}"]
        for j, p in enumerate(frame):
            blank = empty is not None and empty == (f, j)
            cells += ["", "", ""] if blank else [f"{v * scale:.6f}" for v in p]
        rows.append("\t".join(cells))
    return "\n".join(head + rows) + "\n"


@pytest.fixture
def folder(tmp_path) -> Path:
    """DIR with calibration.toml, two (placeholder) videos and two TRC references."""
    (tmp_path / "videos").mkdir()
    (tmp_path / "reference").mkdir()
    (tmp_path / "calibration.toml").write_text(toml_text())
    for name in CAMS:
        (tmp_path / "videos" / f"{name}.mp4").write_bytes(b"not read by these tests")
    (tmp_path / "reference" / "person_0.trc").write_text(trc_text(walk(), "person_0.trc",
                                                                  empty=(3, 9)))
    (tmp_path / "reference" / "person_1.trc").write_text(trc_text(walk(1.5), "person_1.trc",
                                                                  units="mm"))
    return tmp_path


def test_calibration_rodrigues_and_projection_match_opencv(folder):
    cams = read_calibration(folder / "calibration.toml")
    assert list(cams) == ["cam_a", "cam_b"]  # [metadata] is not a camera
    for name, (R, t, dist) in CAMS.items():
        cam = cams[name]
        assert cam.size == (W, H)
        np.testing.assert_allclose(cam.R, R, atol=1e-9)
        np.testing.assert_allclose(rodrigues(cv2.Rodrigues(R)[0]), R, atol=1e-9)
        np.testing.assert_allclose(cam.dist[:len(dist)], dist)
        pts = walk()[5]
        ours = project_camera(world_to_camera(pts, cam), cam)
        ref = cv2.projectPoints(pts.reshape(-1, 1, 3), cv2.Rodrigues(R)[0], t, cam.K,
                                cam.dist)[0].reshape(-1, 2)
        np.testing.assert_allclose(ours, ref, atol=1e-6)
    # X_cam = R X + t: camera a sits 5 m behind the walker, looking at them
    cam_a = cams["cam_a"]
    np.testing.assert_allclose(cam_a.centre_world, [0, -5, 1.2], atol=1e-9)
    assert world_to_camera(np.array([0.0, 0.0, 1.2]), cam_a)[2] == pytest.approx(5.0)


def test_trc_reader_units_gaps_and_frame_numbers(folder):
    p0 = read_trc(folder / "reference" / "person_0.trc")
    p1 = read_reference(folder / "reference" / "person_1.trc")  # written in mm
    assert p0.joints.shape == (F, 17, 3) and p0.fps == FPS
    np.testing.assert_allclose(p1.joints, walk(1.5), atol=1e-6)
    assert np.isnan(p0.joints[3, 9]).all() and np.isfinite(p0.joints[3, 10]).all()
    np.testing.assert_allclose(p0.joints[0], walk()[0], atol=1e-6)  # "Frame# 1" is frame 0


def test_reference_npz_and_malformed_inputs(folder, tmp_path):
    np.savez(tmp_path / "p.npz", joints=walk()[:5], frame=np.arange(2, 7))
    ref = read_reference(tmp_path / "p.npz")
    assert ref.joints.shape == (7, 17, 3) and np.isnan(ref.joints[:2]).all()
    np.testing.assert_allclose(ref.joints[2:], walk()[:5])
    bad = tmp_path / "bad.trc"
    bad.write_text(trc_text(walk(), "bad").replace("0.100000", "zero", 1))
    with pytest.raises(InputError, match="not a number"):
        read_trc(bad)
    bad.write_text(trc_text(walk(), "bad").replace("LKnee", "LeftKnee"))
    with pytest.raises(InputError, match="missing COCO-17 markers LKnee"):
        read_trc(bad)
    (tmp_path / "c.toml").write_text("[cam_01\nname = 1")
    with pytest.raises(InputError, match="not valid TOML"):
        read_calibration(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text('[cam_01]\nmatrix = [[1, 0], [0, 1]]\nsize = [1, 1]')
    with pytest.raises(InputError, match=r"\[cam_01\]: `matrix` should hold 3x3"):
        read_calibration(tmp_path / "c.toml")


def test_folder_errors_and_axes(folder):
    s = load_multiview(folder)
    assert s.axes == "world" and list(s.videos) == ["cam_a", "cam_b"]
    # a reference in Pose2Sim's Y-up axes (file X, Y, Z = world Y, Z, X) is recognised
    (folder / "reference" / "person_1.trc").write_text(
        trc_text(walk(1.5)[..., [1, 2, 0]], "person_1.trc"))
    (folder / "reference" / "person_0.trc").write_text(
        trc_text(walk()[..., [1, 2, 0]], "person_0.trc"))
    s = load_multiview(folder)
    assert s.axes == "pose2sim"
    np.testing.assert_allclose(s.references[1].joints, walk(1.5), atol=1e-6)
    (folder / "videos" / "cam_c.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="no calibration table for video cam_c.mp4"):
        load_multiview(folder)


def test_metrics_against_hand_computed_errors():
    ref = walk()
    # a wrist 30 mm off along x: MPJPE = 30 / 12 on the body joints; the similarity fit can
    # only lower the squared error (900 / 12 mm^2 per joint), so PA-MPJPE <= sqrt(900 / 12)
    pred = ref.copy()
    pred[:, 9, 0] += 0.03
    mask = joint_mask(ref, pred, tuple(BODY), np.ones(F, bool))
    np.testing.assert_allclose(mpjpe(pred, ref, mask), 30.0 / 12)
    assert (pa_mpjpe(pred, ref, mask) <= math.sqrt(900.0 / 12) + 1e-9).all()
    # a rigid rotation, scale and shift: PA-MPJPE 0; MPJPE = mean 2 r sin(a/2) about the root
    a = math.radians(10)
    Rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    root = ref[:, [11, 12]].mean(1, keepdims=True)
    moved = 1.1 * (ref - root) @ Rz.T + root + [0.3, 0.0, 0.1]
    np.testing.assert_allclose(pa_mpjpe(moved, ref, mask), 0.0, atol=1e-6)
    rel = (ref - root)[:, BODY]
    expect = np.linalg.norm(1.1 * rel @ Rz.T - rel, axis=-1).mean(1) * 1000
    np.testing.assert_allclose(mpjpe(moved, ref, mask), expect, rtol=1e-9)
    assert expect.min() > 20.0
    # acceleration: one joint +d, -d, +d, ... -> |d + 2d + d| = 4d for it, per frame / 12
    d = 0.01
    jitter = ref.copy()
    jitter[:, 9, 1] += d * (-1.0) ** np.arange(F)
    acc = accel_error(jitter, ref, mask)
    assert np.isnan(acc[[0, -1]]).all()
    np.testing.assert_allclose(acc[1:-1], 4 * d * 1000 / 12)
    # a missing joint is left out, a frame without hips is not scored
    mask2 = joint_mask(np.where(np.arange(17)[None, :, None] == 9, np.nan, ref), pred,
                       tuple(BODY), np.ones(F, bool))
    np.testing.assert_allclose(mpjpe(pred, ref, mask2), 0.0)
    nohip = ref.copy()
    nohip[4, 11] = np.nan
    assert not joint_mask(nohip, pred, tuple(BODY), np.ones(F, bool))[4].any()
    # 2D: a 3-4-5 offset on every joint is 5 px
    pts = np.random.default_rng(0).uniform(0, 100, (F, 17, 2))
    np.testing.assert_allclose(pixel_error(pts + [3.0, 4.0], pts, mask), 5.0)


def test_trunk_pitch_is_the_downward_tilt_for_a_standing_person():
    R, t = look([0.0, math.cos(math.radians(30)), -math.sin(math.radians(30))], [0, -4, 3])
    cam_joints = walk() @ R.T + t
    np.testing.assert_allclose(trunk_pitch(cam_joints), 30.0, atol=1e-9)
    level = walk() @ CAMS["cam_a"][0].T + CAMS["cam_a"][1]
    np.testing.assert_allclose(trunk_pitch(level), 0.0, atol=1e-9)


def test_constant_pose_is_the_mean_root_relative_pose():
    ref = walk()
    c = constant_pose(ref, np.ones(F, bool))
    root = ref[:, [11, 12]].mean(1, keepdims=True)
    np.testing.assert_allclose(c, (ref - root).mean(0))
    # only the wrists move relative to the root: the error is theirs, 2 of 12 joints
    const = c[None] + root
    mask = joint_mask(ref, const, tuple(BODY), np.ones(F, bool))
    swing = 0.15 * np.abs(np.sin(2 * np.pi * np.arange(F) / FPS) -
                          np.sin(2 * np.pi * np.arange(F) / FPS).mean())
    np.testing.assert_allclose(mpjpe(const, ref, mask), 2 * swing * 1000 / 12, atol=1e-9)


def _person(track_id, frames, cam_joints, kp2d) -> PersonMotion:
    n = len(frames)
    joints24 = np.zeros((n, 24, 3), np.float32)
    from meshvid.eval.multiview.metrics import SMPL_FOR_COCO

    for c, s in SMPL_FOR_COCO.items():
        joints24[:, s] = cam_joints[:, c]
    return PersonMotion(track_id=track_id, frame_ids=np.asarray(frames),
                        timestamps=np.asarray(frames) / FPS,
                        pose=np.zeros((n, 24, 3)), betas=np.zeros(10),
                        transl=cam_joints[:, [11, 12]].mean(1), keypoints3d=cam_joints,
                        joints3d=joints24, keypoints2d=kp2d, keypoint_scores=np.ones((n, 17)),
                        interpolated=np.zeros(n, bool))


def make_result(folder: Path, cam_name: str, split: bool = True) -> MotionResult:
    """A perfect result for every reference person in one camera: person 0 split into two
    tracks with a gap (frames 8-9 missing), the detector 2 px to the right of the truth, plus
    a bystander track far from both."""
    s = load_multiview(folder)
    cam = s.cameras[cam_name]
    persons = []
    for i, ref in enumerate(s.references):
        jc = world_to_camera(np.nan_to_num(ref.joints, nan=0.0), cam)
        jc[np.isnan(ref.joints)] = np.nan
        kp = project_camera(jc, cam) + [2.0, 0.0]
        kp = np.where(np.isfinite(kp), kp, 0.0)
        jc = np.where(np.isfinite(jc), jc, world_to_camera(walk(1.5 * i), cam))
        if i == 0 and split:
            persons.append(_person(1, range(0, 8), jc[:8], kp[:8]))
            persons.append(_person(2, range(10, F), jc[10:], kp[10:]))
        else:
            persons.append(_person(3 + i, range(F), jc, kp))
    far = world_to_camera(walk(-3.0), cam)
    persons.append(_person(9, range(F), far, project_camera(far, cam)))
    return MotionResult(persons=persons, fps=FPS, body_model="anny24", image_size=(W, H),
                        focal_length=FOCAL)


def test_matching_split_tracks_and_coverage(folder):
    s = load_multiview(folder)
    res = make_result(folder, "cam_a")
    pairs, matches = score_camera(res, s.cameras["cam_a"], s.references)
    m0, m1 = matches
    assert m0.track_ids == [2, 1] and m1.track_ids == [4]  # the bystander (9) matches nobody
    assert m0.in_image.all() and m0.coverage == pytest.approx(18 / 20)
    assert m0.main_track_coverage() == pytest.approx(10 / 20)
    p0, p1 = pairs
    assert p0.coverage == pytest.approx(0.9) and p1.coverage == 1.0
    # perfect 3D (float32 in PersonMotion: zero within 1 um); the detector is 2 px off; the
    # overlay (the result's pinhole camera = cam_a's intrinsics, no distortion) is exact
    for p in pairs:
        assert p.methods[MESH].mpjpe == pytest.approx(0.0, abs=1e-3)
        assert p.methods[MESH].pa_mpjpe == pytest.approx(0.0, abs=1e-3)
        assert p.methods[MESH].accel == pytest.approx(0.0, abs=1e-3)
        assert p.methods[MESH].overlay_px == pytest.approx(0.0, abs=1e-3)
        assert p.detector_px == pytest.approx(2.0, abs=1e-3)
    assert p0.frames_scored == 18  # frames 8-9 have no track; frame 3 lacks only a wrist
    main, _ = score_camera(res, s.cameras["cam_a"], s.references, main_track_only=True)
    assert main[0].frames_scored == 10 and main[0].coverage == pytest.approx(0.9)
    # the constant pose is scored on the same frames: the wrists' swing only
    assert p1.methods[CONSTANT].mpjpe > 5.0 and p1.methods[CONSTANT].pa_mpjpe > 1.0


def test_matching_rejects_far_tracks():
    ref2d = [np.zeros((3, 17, 2)) + [[100.0, 100.0]]]
    vis = [np.ones((3, 17), bool)]
    p = _person(1, [0, 1, 2], np.ones((3, 17, 3)), np.zeros((3, 17, 2)) + [[100.0, 160.0]])
    out = match_people([p], ref2d, vis, [np.ones(3, bool)], [np.full(3, 100.0)], 0.5)
    assert (out[0].track == -1).all() and out[0].coverage == 0.0  # 60 % of the height away
    out = match_people([p], ref2d, vis, [np.ones(3, bool)], [np.full(3, 100.0)], 0.7)
    assert out[0].coverage == 1.0


def test_run_writes_report_json_and_plots(folder, monkeypatch):
    """run_multiview end to end with the pipeline replaced by the perfect results above."""
    from meshvid.eval.multiview import run as mv_run
    from meshvid.export.npz import save_npz
    from meshvid.pipeline.infer import InferOptions

    out = folder / "out"
    focals = []

    def fake_infer(video, camera, cache_root, opts, progress=None, refresh=False, **kw):
        focals.append(opts.focal)
        path = cache_root / "fake" / f"{camera}.npz"
        if not path.exists():
            save_npz(make_result(folder, camera), path)
        return path, False

    monkeypatch.setattr(mv_run, "cached_infer", fake_infer)
    variants = mv_run.make_variants(["all"], InferOptions(), [("", None)])
    assert [v.label for v in variants] == ["DSD", "DSD+SATN", "DSD+SATN+refine"]
    assert variants[0].command == "--no-temporal --no-refine"
    summary = mv_run.run_multiview(folder, out, variants)
    row = summary["variants"]["DSD+SATN+refine"][MESH]
    assert row["pairs"] == 4 and row["mpjpe"] == pytest.approx(0.0, abs=1e-3)
    assert row["detector_px"] == pytest.approx(2.0, abs=1e-3)
    assert summary[CONSTANT]["mpjpe"] > 0
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["pairs"]["DSD"]) == 4
    for name in ("report.md", "error_over_time.png", "per_joint.png"):
        assert (out / name).stat().st_size > 0
    assert not list(out.glob(".*partial*"))
    assert set(focals) == {None}  # infer's own default focal
    focals.clear()
    summary = mv_run.run_multiview(folder, out, variants[:1],
                                   mv_run.MultiviewOptions(calibrated_focal=True))
    assert focals == [FOCAL, FOCAL] and list(summary["variants"]) == ["DSD (calibrated focal)"]
    # the cache key recorded is the folder the run used (the scripts that re-read a run's NPZs
    # go by it), and a run fed the reference's 2D has no detector error to compare with
    assert summary["variants"]["DSD (calibrated focal)"]["cache_key"] == "fake"
    summary = mv_run.run_multiview(folder, out, variants[:1],
                                   mv_run.MultiviewOptions(keypoints="reference"))
    row = summary["variants"]["DSD (reference 2D)"][MESH]
    assert "overlay_vs_detector" not in row and row["overlay_pct"] is not None


def test_cli_error_paths(meshvid_cli, folder, tmp_path):
    assert_one_line_error(meshvid_cli("eval", "--dataset", "multiview", tmp_path / "nope"),
                          "is not a folder")
    (folder / "calibration.toml").write_text(toml_text({"cam_a": CAMS["cam_a"]}))
    assert_one_line_error(meshvid_cli("eval", "--dataset", "multiview", folder, "--out",
                                      tmp_path / "o"), "no calibration table for video cam_b.mp4")
    (folder / "calibration.toml").unlink()
    assert_one_line_error(meshvid_cli("eval", "--dataset", "multiview", folder),
                          "no calibration file")


def _tracks_of(result: MotionResult) -> list:
    from meshvid.records import Track

    return [Track(track_id=p.track_id, frame_ids=np.asarray(p.frame_ids),
                  timestamps=np.asarray(p.timestamps), boxes=np.zeros((len(p.frame_ids), 4)),
                  scores=np.ones(len(p.frame_ids)), keypoints=np.asarray(p.keypoints2d, float),
                  keypoint_scores=np.full((len(p.frame_ids), 17), 0.7),
                  interpolated=np.zeros(len(p.frame_ids), bool)) for p in result.persons]


def test_reference_keypoints_replace_matched_rows_only(folder):
    """`--keypoints reference`: each matched row gets the exact projection (confidence 1, or 0
    where the reference has no joint); the bystander keeps the detector's keypoints."""
    from meshvid.eval.multiview.reference_keypoints import with_reference_keypoints

    s = load_multiview(folder)
    cam = s.cameras["cam_b"]
    tracks = _tracks_of(make_result(folder, "cam_b"))
    before = [t.keypoints.copy() for t in tracks]
    out = with_reference_keypoints(tracks, cam, s.references)
    assert all(np.array_equal(t.keypoints, b) for t, b in zip(tracks, before))  # not changed
    for t_in, t_out in zip(tracks, out):
        ref = s.references[0 if t_in.track_id in (1, 2) else 1].joints
        exact = project_camera(world_to_camera(ref, cam), cam)
        if t_in.track_id == 9:  # the bystander matches nobody
            assert np.array_equal(t_out.keypoints, t_in.keypoints)
            assert np.allclose(t_out.keypoint_scores, 0.7)
            continue
        for row, f in enumerate(t_in.frame_ids):
            ok = np.isfinite(exact[f]).all(-1)
            assert np.allclose(t_out.keypoints[row][ok], exact[f][ok])  # the 2 px shift is gone
            assert np.array_equal(t_out.keypoint_scores[row], ok.astype(float))
    # person 0 has no left wrist reference at frame 3: confidence 0 there, detector value kept
    t1 = next(t for t in out if t.track_id == 1)
    assert t1.keypoint_scores[3, 9] == 0.0 and t1.keypoint_scores[3, 10] == 1.0


def test_exact_tracks_file_round_trips_bit_for_bit(tmp_path):
    from meshvid.perception.tracks_io import load_tracks, save_tracks, tracks_document
    from meshvid.records import Track, VideoInfo

    rng = np.random.default_rng(0)
    t = Track(track_id=4, frame_ids=np.arange(5), timestamps=np.arange(5) / 29.97,
              boxes=rng.random((5, 4)) * 600, scores=rng.random(5),
              keypoints=(rng.random((5, 17, 2)) * 600).astype(np.float32),
              keypoint_scores=rng.random((5, 17)).astype(np.float32),
              interpolated=np.array([0, 0, 1, 0, 0], bool), gap=np.array([0, 0, 1, 0, 0], bool))
    info = VideoInfo(path="v.mp4", width=640, height=480, fps=29.97, num_frames=5)
    for exact in (True, False):
        save_tracks(tmp_path / "t.json", tracks_document(info, [t], num_frames=5,
                                                         timestamps=t.timestamps, exact=exact))
        got = load_tracks(tmp_path / "t.json")[1][0]
        same = all(np.array_equal(np.asarray(getattr(got, k), np.float64),
                                  np.asarray(getattr(t, k), np.float64))
                   for k in ("timestamps", "boxes", "scores", "keypoints", "keypoint_scores"))
        assert same == exact and np.array_equal(got.gap, t.gap)


def test_cached_infer_shares_tracking_between_variants(tmp_path, monkeypatch):
    """A second variant (other network options) reads the first one's tracks instead of
    detecting again; an adjusted variant gets its own cache key; --rerun tracks again."""
    from meshvid.eval.multiview import infer_cache
    from meshvid.pipeline import infer as infer_mod
    from meshvid.pipeline.infer import InferOptions

    video = tmp_path / "cam_a.mp4"
    video.write_bytes(b"placeholder")
    calls = []

    def fake_run_infer(path, folder, opts, progress=None, *, tracks_file=None,
                       adjust_tracks=None):
        calls.append((opts.refine, Path(tracks_file).is_file(), adjust_tracks is not None))
        Path(tracks_file).parent.mkdir(parents=True, exist_ok=True)
        Path(tracks_file).write_text("{}")
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "cam_a.npz").write_bytes(b"npz")
        return infer_mod.InferResult(None, Path(folder) / "cam_a.npz", None, [], 1, None, 0.0)

    monkeypatch.setattr(infer_mod, "run_infer", fake_run_infer)
    cache = tmp_path / "infer"
    a, _ = infer_cache.cached_infer(video, "cam_a", cache, InferOptions(refine=True))
    b, _ = infer_cache.cached_infer(video, "cam_a", cache, InferOptions(refine=False))
    c, _ = infer_cache.cached_infer(video, "cam_a", cache, InferOptions(refine=False),
                                    adjust=("reference keypoints", lambda t: t))
    assert calls == [(True, False, False), (False, True, False), (False, True, True)]
    assert len({a.parent, b.parent, c.parent}) == 3
    assert infer_cache.cached_infer(video, "cam_a", cache, InferOptions(refine=False))[1]
    infer_cache.cached_infer(video, "cam_a", cache, InferOptions(refine=False), refresh=True)
    assert calls[-1] == (False, False, False)  # the tracking stage ran again
    other = infer_cache.tracking_key(InferOptions(imgsz=640), video)
    assert other != infer_cache.tracking_key(InferOptions(), video)
    assert (infer_cache.tracking_key(InferOptions(refine=False, weights=Path("x")), video)
            == infer_cache.tracking_key(InferOptions(), video))
