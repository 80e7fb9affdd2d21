"""Which tracks are which reference person, frame by frame, in one camera.

A tracker may split a person into several tracks (occlusions, people crossing) and may hand a
track from one person to another; so the match is made per frame: at every frame the
reference people in the image and the tracks present there are paired greedily by their
distance, the median over joints of |detector keypoint - projected reference joint| divided
by the person's height in the image, and a pair farther than `max_distance` stays unmatched.

Coverage is the share of the frames where the reference person is in the image (their mid-hip
projects inside it) that have a matched track; the main track's coverage is the share covered
by the one track matched most often.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meshvid.export.motion import PersonMotion

# A track row is the reference person when its keypoints sit, in the median, within this share
# of the person's height of the projected reference joints.
MAX_MATCH_DISTANCE = 0.3


@dataclass
class PersonMatch:
    """One reference person's tracks in one camera.

    Attributes:
        track: (F,) the matched track's index in the result's person list per frame (-1: none).
        row: (F,) the row of that track at the frame (-1: none).
        distance: (F,) the match distance (share of the height; NaN where unmatched).
        in_image: (F,) bool, the reference's mid-hip projects inside the image.
        track_ids: the matched tracks' ids, most frames first.
    """

    track: np.ndarray
    row: np.ndarray
    distance: np.ndarray
    in_image: np.ndarray
    track_ids: list[int]

    @property
    def matched(self) -> np.ndarray:
        return self.track >= 0

    @property
    def coverage(self) -> float:
        n = int(self.in_image.sum())
        return float((self.matched & self.in_image).sum() / n) if n else 0.0

    def main_track_only(self) -> "PersonMatch":
        """The same match with every frame of the other tracks unmatched."""
        keep = self.matched & (self.track == self.main_track())
        return PersonMatch(np.where(keep, self.track, -1), np.where(keep, self.row, -1),
                           np.where(keep, self.distance, np.nan), self.in_image.copy(),
                           self.track_ids[:1])

    def main_track(self) -> int:
        """Index (in the result's person list) of the most-matched track; -1 when none."""
        ids = self.track[self.matched & self.in_image]
        return int(np.bincount(ids).argmax()) if ids.size else -1

    def main_track_coverage(self) -> float:
        n = int(self.in_image.sum())
        if not n or not self.matched.any():
            return 0.0
        counts = np.bincount(self.track[self.matched & self.in_image])
        return float(counts.max() / n) if counts.size else 0.0


def keypoint_distance(keypoints: np.ndarray, ref2d: np.ndarray, visible: np.ndarray,
                      height: float) -> float:
    """Median over visible joints of |keypoint - reference| / height.

    Args:
        keypoints: (17, 2) detector keypoints, pixels; ref2d: (17, 2) projected reference;
        visible: (17,) reference joints present and in the image; height: pixels.
    Returns:
        The distance (inf with fewer than 3 visible joints or no height).
    """
    if visible.sum() < 3 or not np.isfinite(height) or height <= 0:
        return float("inf")
    d = np.linalg.norm(keypoints[visible] - ref2d[visible], axis=-1)
    return float(np.median(d) / height)


def match_people(persons: list[PersonMotion], ref2d: list[np.ndarray], visible: list[np.ndarray],
                 in_image: list[np.ndarray], heights: list[np.ndarray],
                 max_distance: float = MAX_MATCH_DISTANCE) -> list[PersonMatch]:
    """Match every reference person to the tracks of one camera, per frame.

    Args:
        persons: the tracks of `meshvid infer` on this camera (keypoints2d required).
        ref2d: per reference person, (F, 17, 2) projected reference joints (pixels).
        visible: per person, (F, 17) bool, the joint is present and inside the image.
        in_image: per person, (F,) bool, the person counts as in the image.
        heights: per person, (F,) the person's height in the image (pixels).
        max_distance: the largest match distance accepted (share of the height).
    Returns:
        One PersonMatch per reference person.
    """
    num_frames = len(ref2d[0]) if ref2d else 0
    rows_at: dict[int, list[tuple[int, int]]] = {}
    for ti, p in enumerate(persons):
        for row, f in enumerate(p.frame_ids.tolist()):
            if 0 <= f < num_frames:
                rows_at.setdefault(int(f), []).append((ti, row))
    out = [PersonMatch(np.full(num_frames, -1), np.full(num_frames, -1),
                       np.full(num_frames, np.nan), np.asarray(m, bool), [])
           for m in in_image]
    for f, cands in rows_at.items():
        pairs = []
        for pi in range(len(ref2d)):
            if not in_image[pi][f]:
                continue
            for ti, row in cands:
                d = keypoint_distance(persons[ti].keypoints2d[row], ref2d[pi][f], visible[pi][f],
                                      heights[pi][f])
                if d <= max_distance:
                    pairs.append((d, pi, ti, row))
        used_p: set[int] = set()
        used_t: set[int] = set()
        for d, pi, ti, row in sorted(pairs):
            if pi in used_p or ti in used_t:
                continue
            used_p.add(pi)
            used_t.add(ti)
            out[pi].track[f], out[pi].row[f], out[pi].distance[f] = ti, row, d
    for m in out:
        ids = m.track[m.track >= 0]
        if ids.size:
            counts = np.bincount(ids)
            m.track_ids = [persons[int(t)].track_id for t in np.argsort(-counts) if counts[t] > 0]
    return out
