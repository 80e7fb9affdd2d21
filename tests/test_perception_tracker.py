"""Tracklets from ultralytics' ByteTrack on synthetic detections: identities, bridging, stitching,
min length, max people, gaps, and the tracks.json round trip."""

from __future__ import annotations

import numpy as np
import pytest

from meshvid.errors import InputError
from meshvid.perception.tracker import (OnlineTracker, TrackBuilder, TrackerConfig, prominence,
                                        split_on_gaps)
from meshvid.perception.tracks_io import load_tracks, save_tracks, tracks_document
from meshvid.records import Detection, VideoInfo


def det(cx, cy, w=40, h=100, score=0.9):
    box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], float)
    kp = np.tile([[cx, cy]], (17, 1)).astype(float)
    return Detection(box=box, score=score, keypoints=kp, keypoint_scores=np.full(17, score))


def run(frames, cfg=None, stride=1):
    """frames: list (per frame) of lists of Detection."""
    tr = OnlineTracker("bytetrack", track_buffer_frames=60, stride=stride)
    b = TrackBuilder()
    for f, dets in enumerate(frames):
        b.add_frame(f, f / 30)
        if f % stride:
            continue
        for tid, i in tr.update(dets):
            b.add(f, tid, dets[i])
    return b.build(cfg or TrackerConfig(min_len=5))


def test_two_walkers_crossing_keep_their_ids():
    frames = [[det(100 + 4 * f, 200), det(400 - 4 * f, 210, h=120)] for f in range(60)]
    tracks = run(frames)
    assert len(tracks) == 2
    for t in tracks:
        assert len(t) == 60 and not t.interpolated.any()
        xs = 0.5 * (t.boxes[:, 0] + t.boxes[:, 2])
        steps = np.diff(xs)
        assert np.all(np.abs(steps - steps[0]) < 1e-3)  # each track stays on one walker


def test_short_gap_is_bridged_and_flagged():
    frames = [[det(100 + 3 * f, 200)] if not 20 <= f < 26 else [] for f in range(50)]
    (t,) = run(frames)
    assert len(t) == 50 and t.interpolated.sum() == 6
    assert np.all(t.interpolated[20:26]) and t.scores[22] == 0.0
    np.testing.assert_allclose(0.5 * (t.boxes[23, 0] + t.boxes[23, 2]), 100 + 3 * 23, atol=1e-6)
    np.testing.assert_allclose(t.timestamps, np.arange(50) / 30)


def test_long_gap_stays_a_gap_with_the_same_id():
    frames = [[det(100 + 2 * f, 200)] if not 20 <= f < 40 else [] for f in range(60)]
    (t,) = run(frames, TrackerConfig(min_len=5, max_gap=10))
    assert len(t) == 40 and not t.interpolated.any()
    pieces = split_on_gaps(t)
    assert [len(p) for p in pieces] == [20, 20] and pieces[1].frame_ids[0] == 40


def test_detection_stride_is_filled_by_interpolation():
    frames = [[det(100 + 3 * f, 200)] for f in range(40)]
    (t,) = run(frames, stride=3)
    assert t.frame_ids[0] == 0 and t.frame_ids[-1] == 39 - 39 % 3
    assert len(t) == t.frame_ids[-1] + 1
    assert t.interpolated.sum() == len(t) - len(range(0, 40, 3))


def test_fast_jump_is_stitched_into_one_track():
    # a 40x100 px person leaps 80 px beyond their walking path while not detected for 4 frames:
    # IoU with the prediction is zero, so the tracker starts a new id; stitching joins the two
    # because the new one starts within a body height of where the old one was heading
    frames = [[det(100 + 5 * f, 200)] for f in range(30)]
    frames += [[] for _ in range(4)]
    frames += [[det(100 + 5 * (34 + k) + 80, 210)] for k in range(30)]
    assert len(run(frames, TrackerConfig(min_len=5, stitch_gap=0))) == 2
    tracks = run(frames)
    assert len(tracks) == 1 and len(tracks[0]) == 64
    # much further than a body height away: a different person, not joined
    far = frames[:34] + [[det(100 + 5 * (34 + k) + 400, 210)] for k in range(30)]
    assert len(run(far)) == 2


def test_no_stitch_between_people_seen_together():
    # B appears while A is still there: never merged
    frames = [[det(100, 200)] if f < 30 else [] for f in range(60)]
    for f in range(25, 60):
        frames[f] = frames[f] + [det(110, 205)] if f < 30 else [det(110, 205)]
    tracks = run(frames)
    assert len(tracks) == 2
    for t in tracks:
        assert len(set(t.frame_ids.tolist())) == len(t)  # one box per frame per track
    a, b = sorted(tracks, key=lambda t: int(t.frame_ids[0]))
    assert (int(a.frame_ids[0]), int(a.frame_ids[-1])) == (0, 29)
    assert (int(b.frame_ids[0]), int(b.frame_ids[-1])) == (25, 59)
    np.testing.assert_allclose(0.5 * (a.boxes[:, 0] + a.boxes[:, 2]), 100)  # A stays A
    np.testing.assert_allclose(0.5 * (b.boxes[:, 0] + b.boxes[:, 2]), 110)


def test_min_len_and_max_people_and_renumbering():
    frames = []
    for f in range(80):
        fr = [det(100, 200, h=200), det(500, 200, h=80)]  # big and small, whole clip
        if 10 <= f < 16:
            fr.append(det(800, 200))  # a 6-frame flicker
        if 40 <= f < 70:
            fr.append(det(300, 300, h=150))  # someone for 30 frames
        frames.append(fr)
    tracks = run(frames, TrackerConfig(min_len=10))
    assert len(tracks) == 3 and [t.track_id for t in tracks] == [1, 2, 3]
    assert [int(t.frame_ids[0]) for t in tracks] == [0, 0, 40]
    top2 = run(frames, TrackerConfig(min_len=10, max_people=2))
    assert len(top2) == 2
    heights = sorted(float(np.median(t.boxes[:, 3] - t.boxes[:, 1])) for t in top2)
    assert heights == [80.0, 200.0]  # 80 px x 80 frames beats 150 px x 30 frames
    assert prominence(top2[0]) > 0


def test_single_frame_input_keeps_everyone():
    tracks = run([[det(100, 200), det(300, 200), det(500, 200)]], TrackerConfig())
    assert len(tracks) == 3 and all(len(t) == 1 for t in tracks)


def test_tracks_json_round_trip(tmp_path):
    frames = [[det(100 + 3 * f, 200)] if not 10 <= f < 13 else [] for f in range(30)]
    tracks = run(frames)
    info = VideoInfo(path="x.mp4", width=640, height=480, fps=30.0, num_frames=30)
    doc = tracks_document(info, tracks, num_frames=30, timestamps=np.arange(30) / 30,
                          meta={"imgsz": 640})
    path = save_tracks(tmp_path / "tracks.json", doc)
    info2, tracks2, doc2 = load_tracks(path)
    assert info2 == info and doc2["meta"]["imgsz"] == 640 and len(doc2["frame_timestamps"]) == 30
    (a,), (b,) = tracks, tracks2
    np.testing.assert_array_equal(a.frame_ids, b.frame_ids)
    np.testing.assert_array_equal(a.interpolated, b.interpolated)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=0.01)
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.01)
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(InputError):
        load_tracks(tmp_path / "bad.json")


def test_gap_flags_mark_frames_where_the_detector_saw_nobody(tmp_path):
    # stride 2: odd frames are filled between detections (interpolated, not a gap); frames
    # 20-27 are a real gap (the detector ran on 20, 22, 24, 26 and missed the person)
    frames = [[] if 20 <= f < 28 else [det(100 + 2 * f, 200)] for f in range(50)]
    (t,) = run(frames, stride=2)
    assert len(t) == 49  # frames 0..48: the tail after the last detection is not extrapolated
    gap = dict(zip(t.frame_ids.tolist(), t.gap.tolist()))
    interp = dict(zip(t.frame_ids.tolist(), t.interpolated.tolist()))
    assert [f for f, g in gap.items() if g] == list(range(19, 28))
    assert interp[1] and not gap[1]
    # tracks.json keeps them
    info = VideoInfo(path="x.mp4", width=640, height=480, fps=30.0, num_frames=50)
    doc = tracks_document(info, [t], num_frames=50, timestamps=np.arange(50) / 30)
    path = tmp_path / "tracks.json"
    save_tracks(path, doc)
    _, (back,), _ = load_tracks(path)
    np.testing.assert_array_equal(back.gap, t.gap)
