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
* identity: a tracklet is first cut wherever the tracker lost the person for at least one
  detection frame (the tracker re-finds "the same" track by box overlap alone, which happily
  hands a track to whoever appears where the last person was). Every such gap, and every gap
  between a tracklet that ends and another that starts, is then bridged only with evidence that
  it is the same person (`bridge_evidence`): the new piece starts at most `stitch_gap` frames
  later, within `stitch_dist` body heights of where the first was heading (constant velocity)
  or stood; the box height changes by at most `max_size_change` (relative); and the clothes'
  colours (meshvid/perception/appearance.py, mean over the last/first few detections) differ
  by at most `max_appearance`. Joining is greedy by cost, each piece has at most one successor,
  so two people are never merged while both are seen at once. A rejected bridge ends the old
  track; the new piece becomes a track of its own (and no frame between them is filled, so no
  mesh is drawn there). Every decision is kept in `TrackBuilder.bridges` (`meshvid track`
  writes them to tracks.json);
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
    max_size_change: float = 0.35  # ... and its box height differs by at most this fraction
    max_appearance: float = 0.35  # ... and its colours by at most this (appearance_distance;
    #                               same-person windows on vtest.avi: median 0.17, 99th pct 0.32)
    # A "clear" bridge: a short gap, a small step, and nobody else near either end. Colours and
    # box size mislead in exactly the cases that make a tracker lose someone (a flip against
    # the sun: exposure swings, the body tucks), and with nobody else near there is no one to
    # confuse the person with; only a clearly different person (other clothes) is refused.
    clear_gap: int = 15  # frames
    clear_dist: float = 0.5  # body heights from where the person was heading or stood
    clear_isolation: float = 1.0  # nobody else within this many body heights of either end,
    clear_ratio: float = 3.0  # ... nor within this many times the step itself
    max_size_change_clear: float = 0.4
    max_appearance_clear: float = 0.8  # drawn figures in other clothes: > 0.8 (test_identity)
    # A handover: a new piece starts while the old one's last detections still run (occlusion
    # by someone passing in front splits a person's box in two for a frame or two, and the
    # tracker gives the new box a new id). Up to this many detection frames of overlap are
    # judged as a bridge from the old piece without its overlapping tail (which is dropped).
    handover: int = 2


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
    app: np.ndarray | None = None  # appearance descriptor (perception/appearance.py)


@dataclass
class Bridge:
    """One decision to join (or not) two pieces across a gap, for reports and debugging."""

    end_frame: int  # last detection of the earlier piece
    start_frame: int  # first detection of the later piece
    distance: float  # body heights from the predicted / last position
    size_change: float  # relative box height change
    appearance: float | None  # appearance_distance, None when unknown
    accepted: bool
    reason: str  # "" when accepted, else what failed
    end_box: np.ndarray | None = None  # (4,) box of that last detection
    start_box: np.ndarray | None = None  # (4,) box of that first detection
    track_id: int | None = None  # final id of the earlier piece (None: dropped), set by build
    new_track_id: int | None = None  # final id of the later piece, set by build
    isolation: float | None = None  # body heights to the nearest other person beside either end
    clear: bool = False  # a short, small, isolated step: judged by the clear-bridge thresholds
    handover: int = 0  # detections of the earlier piece dropped where the two overlapped

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()
                if not k.endswith("_box")}


ISOLATION_WINDOW = 3  # detections at each end of a bridge searched for other people


def isolation(tracks: dict[int, list[_Obs]], a: int, b: int) -> float:
    """Body heights from the bridge a -> b to the nearest other person: any other piece seen in
    the same frame as one of A's last or B's first ISOLATION_WINDOW detections (seen at the same
    time, so someone else), measured from that detection. inf when nobody else is seen there.
    Pieces seen only inside the gap are not counted: they may be the person themselves."""
    ends = tracks[a][-ISOLATION_WINDOW:] + tracks[b][:ISOLATION_WINDOW]
    by_frame = {o.frame: o for o in ends}
    best = np.inf
    for c, obs in tracks.items():
        if c in (a, b):
            continue
        for o in obs:
            mine = by_frame.get(o.frame)
            if mine is None:
                continue
            ca, ha = _centre_height(mine.det)
            cb, hb = _centre_height(o.det)
            best = min(best, float(np.linalg.norm(ca - cb)) / max(ha, hb))
    return best


def _find_track(tracks: list[Track], frame: int, box: np.ndarray | None) -> int | None:
    for t in tracks:
        rows = np.flatnonzero((t.frame_ids == frame) & ~t.interpolated)
        if len(rows) and box is not None and np.allclose(t.boxes[rows[0]], box):
            return t.track_id
    return None


def _observed_stride(tracks: dict[int, list[_Obs]]) -> int:
    """The detection stride, as the smallest step between frames with a detection."""
    frames = np.unique([o.frame for obs in tracks.values() for o in obs])
    steps = np.diff(frames)
    return int(steps.min()) if len(steps) else 1


class TrackBuilder:
    """Collects (frame, track_id, detection) observations; `build` makes the `Track`s.

    `stride`: the detection stride (frames between detections); None: the smallest step
    between observed frames."""

    def __init__(self, stride: int | None = None) -> None:
        self._obs: dict[int, list[_Obs]] = defaultdict(list)
        self._timestamps: list[float] = []
        self.stride = stride
        self.bridges: list[Bridge] = []

    def add_frame(self, frame_index: int, timestamp: float) -> None:
        """Every frame of the clip, detected or not (for the timestamps of filled frames)."""
        if frame_index != len(self._timestamps):
            raise ValueError("frames must be added in order, each once")
        self._timestamps.append(float(timestamp))

    def add(self, frame_index: int, track_id: int, det: Detection,
            appearance: np.ndarray | None = None) -> None:
        """One detection the tracker gave to `track_id`; `appearance`: its descriptor."""
        self._obs[track_id].append(_Obs(frame_index, det, appearance))

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
        kept = {tid: sorted(obs, key=lambda o: o.frame)
                for tid, obs in self._obs.items() if len(obs) >= min_hits}
        stride = self.stride or _observed_stride(kept)
        pieces: dict[int, list[_Obs]] = {}
        for tid, obs in kept.items():
            cuts = [i for i in range(1, len(obs)) if obs[i].frame - obs[i - 1].frame > stride]
            for k, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(obs)])):
                pieces[tid * 100000 + k] = obs[a:b]
        self.bridges = []
        chains = stitch(pieces, cfg.stitch_gap, cfg.stitch_dist, cfg=cfg, log=self.bridges,
                        stride=stride)
        tracks = [_assemble(tid, obs, ts, cfg.max_gap, stride) for tid, obs in chains.items()]
        # a clip shorter than min_len (a single image, say) keeps whoever was seen throughout
        min_len = min(cfg.min_len, self.num_frames)
        tracks = [t for t in tracks if len(t) >= min_len]
        if cfg.max_people is not None and len(tracks) > cfg.max_people:
            tracks.sort(key=prominence, reverse=True)
            tracks = tracks[: cfg.max_people]
        tracks.sort(key=lambda t: (int(t.frame_ids[0]), -prominence(t)))
        for new_id, t in enumerate(tracks, start=1):
            t.track_id = new_id
        for br in self.bridges:  # name the final tracks on both sides of each decision
            br.track_id = _find_track(tracks, br.end_frame, br.end_box)
            br.new_track_id = _find_track(tracks, br.start_frame, br.start_box)
        return tracks


# Standing height as a multiple of COCO-17 bone lengths, measured on the anny24 body (mean
# shape, rest pose): torso (shoulder-hip) 0.30, thigh 0.23, shin 0.23, upper arm 0.156,
# forearm 0.143 of the height. Shoulder and hip widths are left out (they shrink side-on).
_BONE_FRACTIONS: tuple[tuple[int, int, float], ...] = (
    (5, 11, 0.30), (6, 12, 0.30), (11, 13, 0.23), (12, 14, 0.23), (13, 15, 0.23),
    (14, 16, 0.23), (5, 7, 0.156), (6, 8, 0.156), (7, 9, 0.143), (8, 10, 0.143))
_BONE_MIN_SCORE = 0.5


def body_height(det: Detection) -> float:
    """A person's size in pixels that a change of pose does not change: the standing height
    implied by their confident 2D bones (the second largest estimate: foreshortening only
    shortens a bone, and one bad keypoint may lengthen one). A box halves when someone tucks
    into a flip or crouches on landing; their thighs do not. Falls back to the box height when
    fewer than 3 bones are confident (a detect-only model, a person mostly hidden), and never
    goes below the box height (a standing person's box is their height).

    Args:
        det: a detection with (17, 2) COCO-17 keypoints and (17,) scores.

    Returns:
        the height in pixels (>= 1).
    """
    kp, ks = np.asarray(det.keypoints, float), np.asarray(det.keypoint_scores, float)
    box_h = float(max(det.box[3] - det.box[1], 1.0))
    if kp.shape != (17, 2) or ks.shape != (17,):
        return box_h
    est = sorted(float(np.linalg.norm(kp[i] - kp[j])) / f for i, j, f in _BONE_FRACTIONS
                 if ks[i] >= _BONE_MIN_SCORE and ks[j] >= _BONE_MIN_SCORE)
    return max(est[-2], box_h) if len(est) >= 3 else box_h


def _centre_height(det: Detection) -> tuple[np.ndarray, float]:
    box = np.asarray(det.box, float)
    return 0.5 * (box[:2] + box[2:]), body_height(det)


def _mean_app(obs: list[_Obs]) -> np.ndarray | None:
    apps = [o.app for o in obs if o.app is not None]
    return np.mean(apps, axis=0) if apps else None


def _median_height(obs: list[_Obs]) -> float:
    return float(np.median([body_height(o.det) for o in obs]))


def bridge_evidence(obs_a: list[_Obs], obs_b: list[_Obs], cfg: TrackerConfig,
                    max_dist: float | None = None, isolation: float | None = None) -> Bridge:
    """Is the piece `obs_b` (starting after `obs_a` ends) the same person? Motion (distance from
    where A was heading or stood, in body heights), size (body height change over the last /
    first 3 detections) and appearance (colours over the last / first 5) must all agree.

    `isolation`: how far (body heights) the nearest other person seen beside either end is
    (None: unknown). A short gap with a small step and nobody else within
    `cfg.clear_isolation` body heights or `cfg.clear_ratio` times the step is a clear bridge: size and colours then only refuse a clearly
    different person (`max_size_change_clear`, `max_appearance_clear`)."""
    end, start = obs_a[-1], obs_b[0]
    gap = start.frame - end.frame
    c_end, h_a = _centre_height(end.det)
    back = obs_a[max(0, len(obs_a) - 6)]
    span = end.frame - back.frame
    vel = (c_end - _centre_height(back.det)[0]) / span if span > 0 else np.zeros(2)
    c_start, h_b = _centre_height(start.det)
    h = max(h_a, h_b)
    predicted = np.linalg.norm(c_start - (c_end + vel * gap)) / h
    static = np.linalg.norm(c_start - c_end) / h
    dist = float(min(predicted, static))
    ha, hb = _median_height(obs_a[-3:]), _median_height(obs_b[:3])
    size = float(abs(hb - ha) / max(ha, hb))
    app_a, app_b = _mean_app(obs_a[-5:]), _mean_app(obs_b[:5])
    from meshvid.perception.appearance import appearance_distance

    app = appearance_distance(app_a, app_b) if app_a is not None and app_b is not None else None
    clear = (gap <= cfg.clear_gap and dist <= cfg.clear_dist and isolation is not None
             and isolation >= max(cfg.clear_isolation, cfg.clear_ratio * dist))
    max_size = cfg.max_size_change_clear if clear else cfg.max_size_change
    max_app = cfg.max_appearance_clear if clear else cfg.max_appearance
    reasons = []
    if dist > (cfg.stitch_dist if max_dist is None else max_dist):
        reasons.append(f"moved {dist:.2f} body heights")
    if size > max_size:
        reasons.append(f"size changed {100 * size:.0f} %")
    if app is not None and app > max_app:
        reasons.append(f"colours differ ({app:.2f})")
    return Bridge(end.frame, start.frame, dist, size, app, not reasons, "; ".join(reasons),
                  end_box=np.asarray(end.det.box, float), start_box=np.asarray(start.det.box, float),
                  isolation=isolation, clear=clear)


def stitch(tracks: dict[int, list[_Obs]], max_gap: int, max_dist: float,
           cfg: TrackerConfig | None = None, log: list[Bridge] | None = None, stride: int = 1
           ) -> dict[int, list[_Obs]]:
    """Join pieces across short gaps when the evidence says it is the same person (see the
    module docstring and `bridge_evidence`), and handovers: a piece that starts while another
    ends, overlapping it by at most `cfg.handover` detections (those of the earlier piece are
    left out of the evidence and of the joined track). Input lists are sorted by frame;
    returns {first id of each chain: merged observations}. Every evaluated bridge is appended
    to `log`."""
    cfg = cfg or TrackerConfig(stitch_gap=max_gap, stitch_dist=max_dist)
    if max_gap <= 0 or len(tracks) < 2:
        return tracks
    ids = sorted(tracks, key=lambda t: tracks[t][0].frame)
    candidates = []
    for a in ids:
        for b in ids:
            if a == b:
                continue
            start = tracks[b][0].frame
            head = tracks[a]
            if start <= head[-1].frame:  # overlap: a handover, or two people seen at once
                head = [o for o in head if o.frame < start]
                dropped = len(tracks[a]) - len(head)
                if not head or start <= tracks[a][0].frame or dropped > cfg.handover \
                        or tracks[b][-1].frame <= tracks[a][-1].frame:
                    continue
            else:
                dropped = 0
            gap = start - head[-1].frame
            if gap > max_gap:
                continue
            ev = bridge_evidence(head, tracks[b], cfg, max_dist,
                                 isolation({**tracks, a: head}, a, b))
            ev.handover = dropped
            if ev.accepted:
                candidates.append((ev.distance + (ev.appearance or 0.0), gap, a, b, ev))
            elif ev.distance <= max_dist and log is not None:
                log.append(ev)  # near enough to have been a candidate: say why it was not
    successor: dict[int, int] = {}
    predecessor: dict[int, int] = {}
    for _, _, a, b, ev in sorted(candidates, key=lambda c: c[:2]):
        if a in successor or b in predecessor:
            continue
        successor[a], predecessor[b] = b, a
        if log is not None:
            log.append(ev)
    out: dict[int, list[_Obs]] = {}
    for head in ids:
        if head in predecessor:
            continue
        chain, cur = list(tracks[head]), head
        while cur in successor:
            cur = successor[cur]
            start = tracks[cur][0].frame
            chain = [o for o in chain if o.frame < start] + tracks[cur]  # a handover's overlap
        out[head] = chain
    return out


def prominence(track: Track) -> float:
    """Sum of box areas over the track's frames (area x duration)."""
    wh = np.clip(track.boxes[:, 2:] - track.boxes[:, :2], 0, None)
    return float((wh[:, 0] * wh[:, 1]).sum())


def _assemble(track_id: int, obs: list[_Obs], timestamps: np.ndarray, max_gap: int,
              stride: int = 1) -> Track:
    """Observations -> a Track: short gaps filled linearly (`interpolated`); frames filled
    across more than one detection stride are also flagged `gap` (the detector ran there and
    did not find the person)."""
    obs = sorted(obs, key=lambda o: o.frame)
    # one observation per frame (a tracker never gives two, but be safe)
    uniq: dict[int, _Obs] = {}
    for o in obs:
        uniq.setdefault(o.frame, o)
    obs = list(uniq.values())
    frames, boxes, scores, kps, kss, interp, gaps = [], [], [], [], [], [], []

    def push(f, box, score, kp, ks, filled, gap=False):
        frames.append(f); boxes.append(box); scores.append(score)  # noqa: E702
        kps.append(kp); kss.append(ks); interp.append(filled); gaps.append(gap)  # noqa: E702

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
                         np.minimum(prev.det.keypoint_scores, o.det.keypoint_scores), True,
                         o.frame - prev.frame > stride)
        d = o.det
        push(o.frame, d.box, d.score, d.keypoints, d.keypoint_scores, False)
    fids = np.asarray(frames, dtype=np.int64)
    return Track(track_id=track_id, frame_ids=fids, timestamps=timestamps[fids],
                 boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                 scores=np.asarray(scores, dtype=np.float64),
                 keypoints=np.asarray(kps, dtype=np.float64).reshape(-1, 17, 2),
                 keypoint_scores=np.asarray(kss, dtype=np.float64).reshape(-1, 17),
                 interpolated=np.asarray(interp, dtype=bool), gap=np.asarray(gaps, dtype=bool))


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
                            interpolated=track.interpolated[idx],
                            gap=None if track.gap is None else track.gap[idx]))
    return pieces
