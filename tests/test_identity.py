"""Identity across gaps (meshvid/perception/tracker.py bridge_evidence + appearance.py), on
synthetic clips of drawn figures: one person leaves and another enters where they left after a
short gap; the same person comes back; two people cross."""

from __future__ import annotations

import numpy as np
import pytest

from meshvid.perception.appearance import appearance_descriptor, appearance_distance
from meshvid.perception.tracker import OnlineTracker, TrackBuilder, TrackerConfig
from meshvid.records import Detection

W, H = 480, 320
RED, BLUE, GREEN, YELLOW = (200, 30, 30), (30, 40, 160), (40, 170, 60), (220, 200, 40)


def figure(image, cx, cy, shirt, trousers, w=40, h=120):
    """Draw a blocky person (head, shirt, trousers) centred at (cx, cy); return its box."""
    x1, y1, x2, y2 = int(cx - w / 2), int(cy - h / 2), int(cx + w / 2), int(cy + h / 2)
    image[y1:y1 + h // 6, x1 + w // 4:x2 - w // 4] = (230, 190, 160)  # head
    image[y1 + h // 6:y1 + h // 2, x1:x2] = shirt
    image[y1 + h // 2:y2, x1 + 2:x2 - 2] = trousers
    return np.array([x1, y1, x2, y2], float)


def detection(box):
    c = 0.5 * (box[:2] + box[2:])
    return Detection(box=box, score=0.9, keypoints=np.tile(c, (17, 1)), keypoint_scores=np.full(17, 0.9))


def run(scene, n, cfg=None):
    """scene(f, image) draws frame f's people and returns their boxes."""
    tracker = OnlineTracker("bytetrack", track_buffer_frames=60)
    builder = TrackBuilder()
    for f in range(n):
        image = np.full((H, W, 3), 128, np.uint8)
        boxes = scene(f, image)
        dets = [detection(b) for b in boxes]
        builder.add_frame(f, f / 30)
        for tid, i in tracker.update(dets):
            builder.add(f, tid, dets[i], appearance_descriptor(image, dets[i].box))
    return builder.build(cfg or TrackerConfig(min_len=5)), builder.bridges


def test_appearance_tells_clothes_apart():
    a, b = np.full((H, W, 3), 128, np.uint8), np.full((H, W, 3), 128, np.uint8)
    da = appearance_descriptor(a, figure(a, 100, 160, RED, BLUE))
    db = appearance_descriptor(b, figure(b, 300, 150, RED, BLUE, h=100))
    dc = appearance_descriptor(b, figure(b, 100, 160, GREEN, YELLOW))
    assert appearance_distance(da, db) < 0.1 < 0.8 < appearance_distance(da, dc)


def test_another_person_entering_where_one_left_starts_a_new_track():
    # A walks right and vanishes at frame 30; B appears 8 frames later where A was heading
    def scene(f, image):
        if f < 30:
            return [figure(image, 100 + 5 * f, 160, RED, BLUE)]
        if f >= 38:
            return [figure(image, 100 + 5 * f, 160, GREEN, YELLOW)]
        return []

    tracks, bridges = run(scene, 70)
    assert len(tracks) == 2
    assert [int(t.frame_ids[0]) for t in tracks] == [0, 38]
    assert int(tracks[0].frame_ids[-1]) == 29  # the first track ends where A was last seen
    assert not any(t.interpolated.any() for t in tracks)  # no bridged frame, so no mesh drawn
    (br,) = bridges
    assert not br.accepted and "colours" in br.reason and br.track_id == 1 and br.new_track_id == 2


def test_the_same_person_coming_back_is_bridged():
    def scene(f, image):
        return [] if 30 <= f < 38 else [figure(image, 100 + 5 * f, 160, RED, BLUE)]

    tracks, bridges = run(scene, 70)
    assert len(tracks) == 1 and len(tracks[0]) == 70 and tracks[0].interpolated.sum() == 8
    (br,) = bridges
    assert br.accepted and br.appearance < 0.1


def test_someone_much_smaller_is_not_the_same_person():
    def scene(f, image):
        if f < 30:
            return [figure(image, 100 + 5 * f, 160, RED, BLUE)]
        return [figure(image, 100 + 5 * f, 160, RED, BLUE, h=70)] if f >= 36 else []

    tracks, bridges = run(scene, 60)
    assert len(tracks) == 2 and "size" in bridges[0].reason


def test_two_people_crossing_keep_their_clothes():
    def scene(f, image):
        # B is drawn last: it passes in front of A
        return [figure(image, 80 + 5 * f, 160, RED, BLUE),
                figure(image, 400 - 5 * f, 170, GREEN, YELLOW, h=130)]

    tracks, _ = run(scene, 64)
    assert len(tracks) == 2
    for t in tracks:
        xs = 0.5 * (t.boxes[:, 0] + t.boxes[:, 2])
        steps = np.diff(xs[~t.interpolated])
        assert np.all(np.sign(steps) == np.sign(steps[0]))  # never turns round onto the other


# --- clear bridges: the evidence that survives a flip against the sun (issue 26) ---------------

def _person(cx, cy, height, score=0.9):
    """A detection with a plausible standing skeleton of `height` px centred at (cx, cy)."""
    from meshvid.body.joints import COCO_17

    # fractions of the height from the top, x offsets in heights (a front-facing person)
    layout = {"nose": (0.06, 0), "left_eye": (0.05, 0.02), "right_eye": (0.05, -0.02),
              "left_ear": (0.06, 0.04), "right_ear": (0.06, -0.04),
              "left_shoulder": (0.18, 0.09), "right_shoulder": (0.18, -0.09),
              "left_elbow": (0.34, 0.11), "right_elbow": (0.34, -0.11),
              "left_wrist": (0.48, 0.12), "right_wrist": (0.48, -0.12),
              "left_hip": (0.48, 0.055), "right_hip": (0.48, -0.055),
              "left_knee": (0.71, 0.06), "right_knee": (0.71, -0.06),
              "left_ankle": (0.94, 0.06), "right_ankle": (0.94, -0.06)}
    top = cy - height / 2
    kp = np.array([[cx + layout[n][1] * height, top + layout[n][0] * height] for n in COCO_17])
    box = np.array([kp[:, 0].min() - 5, top, kp[:, 0].max() + 5, top + height])
    return Detection(box=box, score=score, keypoints=kp, keypoint_scores=np.full(17, score))


def _tucked(d: Detection, factor: float = 0.5) -> Detection:
    """The same person with the box squashed (a tuck, a crouch) and the bones unchanged."""
    box = d.box.copy()
    box[1] = box[3] - factor * (box[3] - box[1])
    return Detection(box=box, score=d.score, keypoints=d.keypoints, keypoint_scores=d.keypoint_scores)


def _app(shift: float) -> np.ndarray:
    """Two-half descriptors whose Hellinger distance grows with `shift` in [0, 1]."""
    from meshvid.perception.appearance import DESCRIPTOR_SIZE, HUE_BINS, SAT_BINS

    n = HUE_BINS * SAT_BINS
    out = np.zeros(DESCRIPTOR_SIZE, np.float32)
    for k in range(2):
        out[k * n] = 1.0 - shift
        out[k * n + 5] = shift
    return out


def test_body_height_ignores_a_tuck_and_needs_keypoints():
    from meshvid.perception.tracker import body_height

    d = _person(200, 200, 300)
    assert body_height(d) == pytest.approx(300, rel=0.1)
    assert body_height(_tucked(d)) == pytest.approx(body_height(d))  # the box halves, not them
    blind = Detection(box=d.box, score=0.9, keypoints=d.keypoints, keypoint_scores=np.zeros(17))
    assert body_height(blind) == pytest.approx(d.box[3] - d.box[1])  # no bones: the box


def _obs(frames, make, app):
    from meshvid.perception.tracker import _Obs

    return [_Obs(f, make(f), app) for f in frames]


def test_a_short_isolated_gap_is_bridged_through_a_tuck_and_an_exposure_change():
    from meshvid.perception.appearance import appearance_distance
    from meshvid.perception.tracker import bridge_evidence

    cfg = TrackerConfig()
    a = _obs(range(0, 20, 2), lambda f: _person(100 + 3 * f, 200, 300), _app(0.0))
    b = _obs(range(28, 40, 2), lambda f: _tucked(_person(100 + 3 * f, 200, 300), 0.55), _app(0.6))
    assert 0.35 < appearance_distance(_app(0.0), _app(0.6)) < 0.8
    lone = bridge_evidence(a, b, cfg, isolation=np.inf)
    assert lone.accepted and lone.clear and lone.size_change < 0.1
    # the same step with someone else beside the person: colours must agree as before
    crowded = bridge_evidence(a, b, cfg, isolation=0.4)
    assert not crowded.accepted and not crowded.clear and "colours" in crowded.reason
    # unknown surroundings (None) are not clear either
    assert not bridge_evidence(a, b, cfg).clear
    # a clearly different person (other clothes) is refused even alone
    other = _obs(range(28, 40, 2), lambda f: _person(100 + 3 * f, 200, 300), _app(1.0))
    assert not bridge_evidence(a, other, cfg, isolation=np.inf).accepted
    # ... and so is a long gap, or a big jump
    late = _obs(range(60, 70, 2), lambda f: _person(100 + 3 * f, 200, 300), _app(0.6))
    assert not bridge_evidence(a, late, cfg, isolation=np.inf).clear


def test_isolation_counts_only_people_seen_at_the_same_time():
    from meshvid.perception.tracker import body_height, isolation

    a = _obs(range(0, 10), lambda f: _person(100, 200, 300), None)
    b = _obs(range(16, 26), lambda f: _person(110, 200, 300), None)
    inside_gap = _obs(range(11, 15), lambda f: _person(105, 200, 300), None)  # maybe them
    beside = _obs(range(5, 20), lambda f: _person(400, 200, 300), None)  # someone else, 1 h away
    assert isolation({1: a, 2: b, 3: inside_gap}, 1, 2) == np.inf
    # nearest: B's start (x=110) to the one beside (x=400), in body heights
    expected = 290 / body_height(b[0].det)
    assert isolation({1: a, 2: b, 3: inside_gap, 4: beside}, 1, 2) == pytest.approx(expected)


def test_a_handover_joins_a_person_split_by_someone_passing_in_front():
    # lab4cam cam_03 frame 84: the person behind is briefly two boxes as someone passes in front;
    # the tracker ends the old id one detection after it starts a new one
    from meshvid.perception.tracker import stitch

    cfg = TrackerConfig()
    a = _obs(range(0, 21), lambda f: _person(100 + 2 * f, 200, 300), _app(0.0))
    b = _obs(range(20, 40), lambda f: _person(100 + 2 * f, 200, 300), _app(0.05))
    log = []
    (chain,) = stitch({1: a, 2: b}, cfg.stitch_gap, cfg.stitch_dist, cfg=cfg, log=log).values()
    assert [o.frame for o in chain] == list(range(40))  # one observation a frame
    (br,) = log
    assert br.accepted and br.handover == 1
    # two people seen side by side for longer than a handover are never joined
    c = _obs(range(10, 40), lambda f: _person(130 + 2 * f, 200, 300), _app(0.05))
    assert len(stitch({1: a, 2: c}, cfg.stitch_gap, cfg.stitch_dist, cfg=cfg)) == 2
