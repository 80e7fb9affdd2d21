"""Identity across gaps (meshvid/perception/tracker.py bridge_evidence + appearance.py), on
synthetic clips of drawn figures: one person leaves and another enters where they left after a
short gap; the same person comes back; two people cross."""

from __future__ import annotations

import numpy as np

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
