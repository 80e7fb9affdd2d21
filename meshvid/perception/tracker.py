"""Tracking: ultralytics' ByteTrack / BoT-SORT driven with our own detections, then tracklets.

`OnlineTracker` feeds each detection frame's `Detection`s to an ultralytics tracker object
(BYTETracker or BOTSORT, built from ultralytics' own YAML defaults) and reads back which
detection each track took. Driving the tracker directly (rather than `model.track`) lets the
detector run at a stride or in batches while the association stays ultralytics'.

`TrackBuilder` turns those per-frame assignments into `Track` records offline:
* frames between two observations of a track that are at most `max_gap` frames apart are filled
  by linear interpolation of box and keypoints and flagged `interpolated` (this also fills the
  frames skipped by a detection stride);
* longer gaps stay gaps (frame_ids jump; `split_on_gaps` gives contiguous pieces);
* tracks shorter than `min_len` frames are dropped (flicker, false positives);
* tracklets with fewer than `min_hits` detections (tentative tracks that never took hold) are
  dropped first;
* a track that ends and another that starts at most `stitch_gap` frames later, within
  `stitch_dist` body heights of where the first was heading (constant velocity), are joined into
  one (the tracker's IoU association breaks on fast motion, e.g. a jump; joining is greedy by
  distance, each track has at most one successor, so two people are never merged while both
  are seen at once);
* `max_people` keeps the most prominent tracks: largest sum over frames of box area (so a big
  person seen briefly and a small person seen long both count);
* ids are renumbered 1..K in order of first appearance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from meshvid.records import Detection, Track

TRACKERS = ("bytetrack", "botsort")


@dataclass
class TrackerConfig:
    kind: str = "bytetrack"
    track_buffer_frames: int = 60  # how long a lost track can be re-found (video frames)
    max_gap: int = 15  # longest gap (frames) bridged by interpolation
    min_len: int = 10  # shorter tracks are dropped (frames, after bridging)
    max_people: int | None = None
    min_hits: int = 3  # tracklets with fewer detections are tracker noise, dropped before joining
    stitch_gap: int = 45  # longest gap (frames) across which tracklets may be joined; 0: never
    stitch_dist: float = 1.0  # ... if the new one starts within this many body heights of where
    #                           the old one was heading


class _DetArray:
    """The minimal numpy-backed detections object ultralytics' trackers read (`conf`, `cls`,
    `xyxy`, `xywh`, boolean indexing)."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy = xyxy.reshape(-1, 4).astype(np.float32)
        self.conf = conf.reshape(-1).astype(np.float32)
        self.cls = np.zeros(len(self.conf), np.float32)

    @property
    def xywh(self) -> np.ndarray:
        xy = 0.5 * (self.xyxy[:, :2] + self.xyxy[:, 2:])
        return np.concatenate([xy, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, idx) -> "_DetArray":
        return _DetArray(self.xyxy[idx], self.conf[idx])


class OnlineTracker:
    """One ultralytics tracker over a clip. `update` is called on detection frames only; with a
    detection stride the lost-track buffer is counted in updates, so it is scaled down."""

    def __init__(self, kind: str = "bytetrack", *, track_buffer_frames: int = 60,
                 stride: int = 1) -> None:
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        if kind not in TRACKERS:
            raise ValueError(f"tracker must be one of {TRACKERS}, not {kind!r}")
        cfg = dict(YAML.load(check_yaml(f"{kind}.yaml")))
        cfg["track_buffer"] = max(1, int(round(track_buffer_frames / max(1, stride))))
        if kind == "botsort":
            cfg["gmc_method"] = "sparseOptFlow"
            cfg["with_reid"] = False  # ReID needs a second network from the hub: not offline
        args = IterableSimpleNamespace(**cfg)
        if kind == "bytetrack":
            from ultralytics.trackers.byte_tracker import BYTETracker

            self._tracker = BYTETracker(args)
        else:
            from ultralytics.trackers.bot_sort import BOTSORT

            self._tracker = BOTSORT(args)
        self.kind = kind

    def update(self, detections: list[Detection], image: np.ndarray | None = None
               ) -> list[tuple[int, int]]:
        """Detections of one frame -> [(track_id, detection_index)] for the tracks that took a
        detection in this frame (confirmed tracks and tentative new ones alike)."""
        if detections:
            dets = _DetArray(np.stack([d.box for d in detections]),
                             np.array([d.score for d in detections]))
        else:
            dets = _DetArray(np.zeros((0, 4)), np.zeros(0))
        bgr = None
        if self.kind == "botsort" and image is not None:
            bgr = np.ascontiguousarray(image[..., ::-1])  # GMC works on OpenCV's BGR
        self._tracker.update(dets, bgr)
        frame_id = self._tracker.frame_id
        # the tracker's own output lists only confirmed tracks; tentative ones matter too (the
        # first frames of each person), and their short-lived false starts fall to min_len
        return [(int(t.track_id), int(t.idx)) for t in self._tracker.tracked_stracks
                if t.frame_id == frame_id and t.idx is not None]


@dataclass
class _Obs:
    frame: int
    det: Detection


class TrackBuilder:
    """Collects (frame, track_id, detection) observations; `build` makes the `Track`s."""

    def __init__(self) -> None:
        self._obs: dict[int, list[_Obs]] = defaultdict(list)
        self._timestamps: list[float] = []

    def add_frame(self, frame_index: int, timestamp: float) -> None:
        """Every frame of the clip, detected or not (for the timestamps of filled frames)."""
        if frame_index != len(self._timestamps):
            raise ValueError("frames must be added in order, each once")
        self._timestamps.append(float(timestamp))

    def add(self, frame_index: int, track_id: int, det: Detection) -> None:
        self._obs[track_id].append(_Obs(frame_index, det))

    @property
    def num_frames(self) -> int:
        return len(self._timestamps)

    @property
    def timestamps(self) -> np.ndarray:
        return np.asarray(self._timestamps)

    def build(self, cfg: TrackerConfig) -> list[Track]:
        ts = self.timestamps
        # a clip shorter than min_hits frames (a single image) keeps every detection
        min_hits = min(cfg.min_hits, self.num_frames)
        chains = stitch({tid: sorted(obs, key=lambda o: o.frame)
                         for tid, obs in self._obs.items() if len(obs) >= min_hits},
                        cfg.stitch_gap, cfg.stitch_dist)
        tracks = [_assemble(tid, obs, ts, cfg.max_gap) for tid, obs in chains.items()]
        # a clip shorter than min_len (a single image, say) keeps whoever was seen throughout
        min_len = min(cfg.min_len, self.num_frames)
        tracks = [t for t in tracks if len(t) >= min_len]
        if cfg.max_people is not None and len(tracks) > cfg.max_people:
            tracks.sort(key=prominence, reverse=True)
            tracks = tracks[: cfg.max_people]
        tracks.sort(key=lambda t: (int(t.frame_ids[0]), -prominence(t)))
        for new_id, t in enumerate(tracks, start=1):
            t.track_id = new_id
        return tracks


def _centre_height(box: np.ndarray) -> tuple[np.ndarray, float]:
    return 0.5 * (box[:2] + box[2:]), float(max(box[3] - box[1], 1.0))


def stitch(tracks: dict[int, list[_Obs]], max_gap: int, max_dist: float) -> dict[int, list[_Obs]]:
    """Join tracklets across short gaps (see the module docstring). Input lists are sorted by
    frame; returns {first id of each chain: merged observations}."""
    if max_gap <= 0 or len(tracks) < 2:
        return tracks
    ids = sorted(tracks, key=lambda t: tracks[t][0].frame)
    candidates = []
    for a in ids:
        obs_a = tracks[a]
        end = obs_a[-1]
        c_end, h_a = _centre_height(end.det.box)
        back = obs_a[max(0, len(obs_a) - 6)]
        span = end.frame - back.frame
        vel = (c_end - _centre_height(back.det.box)[0]) / span if span > 0 else np.zeros(2)
        for b in ids:
            start = tracks[b][0]
            gap = start.frame - end.frame
            if gap <= 0 or gap > max_gap:
                continue
            c_start, h_b = _centre_height(start.det.box)
            h = max(h_a, h_b)
            predicted = np.linalg.norm(c_start - (c_end + vel * gap)) / h
            static = np.linalg.norm(c_start - c_end) / h
            cost = min(predicted, static)
            if cost <= max_dist:
                candidates.append((cost, gap, a, b))
    successor: dict[int, int] = {}
    predecessor: dict[int, int] = {}
    for _, _, a, b in sorted(candidates):
        if a in successor or b in predecessor:
            continue
        successor[a], predecessor[b] = b, a
    out: dict[int, list[_Obs]] = {}
    for head in ids:
        if head in predecessor:
            continue
        chain, cur = list(tracks[head]), head
        while cur in successor:
            cur = successor[cur]
            chain.extend(tracks[cur])
        out[head] = chain
    return out


def prominence(track: Track) -> float:
    """Sum of box areas over the track's frames (area x duration)."""
    wh = np.clip(track.boxes[:, 2:] - track.boxes[:, :2], 0, None)
    return float((wh[:, 0] * wh[:, 1]).sum())


def _assemble(track_id: int, obs: list[_Obs], timestamps: np.ndarray, max_gap: int) -> Track:
    obs = sorted(obs, key=lambda o: o.frame)
    # one observation per frame (a tracker never gives two, but be safe)
    uniq: dict[int, _Obs] = {}
    for o in obs:
        uniq.setdefault(o.frame, o)
    obs = list(uniq.values())
    frames, boxes, scores, kps, kss, interp = [], [], [], [], [], []

    def push(f, box, score, kp, ks, filled):
        frames.append(f); boxes.append(box); scores.append(score)  # noqa: E702
        kps.append(kp); kss.append(ks); interp.append(filled)  # noqa: E702

    for i, o in enumerate(obs):
        if i > 0:
            prev = obs[i - 1]
            gap = o.frame - prev.frame - 1
            if 0 < gap <= max_gap:
                for f in range(prev.frame + 1, o.frame):
                    a = (f - prev.frame) / (o.frame - prev.frame)
                    lerp = lambda x, y: (1 - a) * x + a * y  # noqa: E731
                    push(f, lerp(prev.det.box, o.det.box), 0.0,
                         lerp(prev.det.keypoints, o.det.keypoints),
                         np.minimum(prev.det.keypoint_scores, o.det.keypoint_scores), True)
        d = o.det
        push(o.frame, d.box, d.score, d.keypoints, d.keypoint_scores, False)
    fids = np.asarray(frames, dtype=np.int64)
    return Track(track_id=track_id, frame_ids=fids, timestamps=timestamps[fids],
                 boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                 scores=np.asarray(scores, dtype=np.float64),
                 keypoints=np.asarray(kps, dtype=np.float64).reshape(-1, 17, 2),
                 keypoint_scores=np.asarray(kss, dtype=np.float64).reshape(-1, 17),
                 interpolated=np.asarray(interp, dtype=bool))


def split_on_gaps(track: Track) -> list[Track]:
    """Contiguous pieces of a track (same id), for stages that need consecutive frames."""
    if len(track) == 0:
        return []
    cuts = np.flatnonzero(np.diff(track.frame_ids) > 1) + 1
    pieces = []
    for idx in np.split(np.arange(len(track)), cuts):
        pieces.append(Track(track_id=track.track_id, frame_ids=track.frame_ids[idx],
                            timestamps=track.timestamps[idx], boxes=track.boxes[idx],
                            scores=track.scores[idx], keypoints=track.keypoints[idx],
                            keypoint_scores=track.keypoint_scores[idx],
                            interpolated=track.interpolated[idx]))
    return pieces
