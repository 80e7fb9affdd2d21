"""NPZ schema: round trip, JSON summary, atomic writes, clear errors for foreign/old files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from meshvid.errors import InputError
from meshvid.export import npz as npz_mod
from meshvid.export.motion import MotionResult, PersonMotion
from meshvid.export.npz import SCHEMA_VERSION, load_npz, save_npz, summary_path, to_arrays
from test_export_toybody import two_person_result


def _assert_same(a: MotionResult, b: MotionResult) -> None:
    assert a.track_ids == b.track_ids
    assert (a.fps, a.body_model, a.image_size, a.focal_length, a.source) == (
        b.fps, b.body_model, b.image_size, b.focal_length, b.source)
    for pa, pb in zip(a.persons, b.persons):
        for name in ("frame_ids", "timestamps", "pose", "betas", "transl", "cam", "boxes",
                     "joints3d", "keypoints2d", "keypoint_scores", "betas_per_frame",
                     "rest_joints"):
            va, vb = getattr(pa, name), getattr(pb, name)
            assert (va is None) == (vb is None), name
            if va is not None:
                np.testing.assert_allclose(va, vb, rtol=0, atol=1e-6, err_msg=name)


def test_round_trip_with_gaps_and_summary(tmp_path: Path):
    result = two_person_result(frames=20)
    result.persons[1].interpolated = np.zeros(len(result.persons[1]), bool)
    result.persons[1].interpolated[2] = True
    result.persons[1].gap = result.persons[1].interpolated.copy()  # issue 27: no evidence there
    result.extra["note"] = "hello"
    path = save_npz(result, tmp_path / "clip.npz")
    back = load_npz(path)
    _assert_same(result, back)
    assert back.extra == {"note": "hello"}
    assert back.persons[1].interpolated.sum() == 1
    assert back.persons[0].interpolated is None or not back.persons[0].interpolated.any()
    np.testing.assert_array_equal(back.persons[1].gap, result.persons[1].gap)
    assert back.persons[0].gap is None  # no gap anywhere: absent, as in files before issue 27
    # Readable with plain numpy, no pickles, long table layout.
    with np.load(path, allow_pickle=False) as data:
        assert int(data["schema_version"]) == SCHEMA_VERSION
        assert data["pose"].shape == (len(result.persons[0]) + len(result.persons[1]), 24, 3)
        assert list(data["joint_names"][:2]) == ["pelvis", "left_hip"]
        rows3 = data["track_id"] == 3
        np.testing.assert_array_equal(data["frame_id"][rows3], result.persons[1].frame_ids)
    summary = json.loads(summary_path(path).read_text())
    assert summary["num_tracks"] == 2 and summary["fps"] == result.fps
    t3 = summary["tracks"][1]
    assert t3["track_id"] == 3 and t3["missing_frames"] == 3 and t3["interpolated_frames"] == 1
    assert t3["gap_frames"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_optional_fields_absent_stay_absent(tmp_path: Path):
    p = PersonMotion(track_id=0, frame_ids=[5], timestamps=[0.2], pose=np.zeros((1, 24, 3)),
                     betas=np.zeros(10), transl=[[0, 0, 3]])
    result = MotionResult(persons=[p], fps=25, body_model="anny24", image_size=(64, 48),
                          focal_length=60.0)
    back = load_npz(save_npz(result, tmp_path / "one.npz", summary=False))
    assert back.persons[0].cam is None and back.persons[0].joints3d is None
    assert back.persons[0].rest_joints is None
    assert not summary_path(tmp_path / "one.npz").exists()


def test_failed_write_keeps_old_file_and_leaves_no_partial(tmp_path: Path, monkeypatch):
    path = tmp_path / "clip.npz"
    path.write_bytes(b"previous")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(npz_mod, "_write_npz", boom)
    with pytest.raises(KeyboardInterrupt):
        save_npz(two_person_result(frames=6), path)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npz"]


def _write_raw(path: Path, arrays: dict) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def test_other_version_and_foreign_files_are_clear_input_errors(tmp_path: Path):
    arrays = to_arrays(two_person_result(frames=6))
    arrays["schema_version"] = np.array(SCHEMA_VERSION + 1)
    with pytest.raises(InputError, match=rf"schema v{SCHEMA_VERSION + 1} .*reads v1 and v{SCHEMA_VERSION}"):
        load_npz(_write_raw(tmp_path / "new.npz", arrays))
    with pytest.raises(InputError, match="not a meshvid motion file"):
        load_npz(_write_raw(tmp_path / "foreign.npz", {"poses": np.zeros((3, 72))}))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(InputError, match="not an NPZ file"):
        load_npz(tmp_path / "text.npz")
    with pytest.raises(InputError, match="no such file"):
        load_npz(tmp_path / "missing.npz")
    arrays = to_arrays(two_person_result(frames=6))
    del arrays["transl"]
    with pytest.raises(InputError, match="missing transl"):
        load_npz(_write_raw(tmp_path / "partial.npz", arrays))
    arrays = to_arrays(two_person_result(frames=6))
    arrays["track_lengths"] = arrays["track_lengths"] + 1
    with pytest.raises(InputError, match="do not add up"):
        load_npz(_write_raw(tmp_path / "corrupt.npz", arrays))


def test_record_validation_names_the_field():
    with pytest.raises(InputError, match="pose has shape"):
        PersonMotion(track_id=1, frame_ids=[0, 1], timestamps=[0, 0.1],
                     pose=np.zeros((2, 23, 3)), betas=np.zeros(10), transl=np.zeros((2, 3)))
    with pytest.raises(InputError, match="strictly increasing"):
        PersonMotion(track_id=1, frame_ids=[1, 1], timestamps=[0, 0.1],
                     pose=np.zeros((2, 24, 3)), betas=np.zeros(10), transl=np.zeros((2, 3)))
    result = two_person_result(frames=6)
    with pytest.raises(InputError, match=r"track id\(s\) \[9\] not in the result"):
        result.select_tracks([9])


def test_cli_reports_other_version_in_one_line(tmp_path: Path):
    arrays = to_arrays(two_person_result(frames=6))
    arrays["schema_version"] = np.array(0)
    path = _write_raw(tmp_path / "old.npz", arrays)
    env = dict(os.environ, COLUMNS="400")
    proc = subprocess.run([sys.executable, "-m", "meshvid.cli.main", "export", str(path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "schema v0" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "old.fbx").exists()
