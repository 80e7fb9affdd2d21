"""Reference keypoints in the detector's place: what the networks do with exact 2D.

`meshvid eval --dataset multiview --keypoints reference` splits the real-footage error into the
part the 2D keypoints cause and the part the lifting (pose and depth prior) causes: the same
tracks, crops and pipeline, but on every frame where a track is matched to a reference person
(matching.py, on the detector's keypoints, as in scoring) its keypoints become that person's
reference joints projected into the camera, with confidence 1 where the reference has the
joint inside the image and 0 elsewhere. Boxes, and so the crops, stay the detector's.

On a set whose reference is itself triangulated from a detector (lab4cam), "exact" means the
detector's joint definitions with the multi-view noise averaged out, not anatomical truth.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from meshvid.eval.multiview.calibration import CameraCalibration
from meshvid.eval.multiview.matching import MAX_MATCH_DISTANCE, match_people
from meshvid.eval.multiview.reference import ReferencePerson
from meshvid.eval.multiview.score import reference_view
from meshvid.records import Track

KEYPOINT_SOURCES = ("detector", "reference")


def with_reference_keypoints(tracks: list[Track], cam: CameraCalibration,
                             references: list[ReferencePerson],
                             max_distance: float = MAX_MATCH_DISTANCE) -> list[Track]:
    """Copies of `tracks` with the matched rows' keypoints replaced by the reference's.

    Args:
        tracks: one camera's tracks (detector keypoints, frame pixels).
        cam: that camera's calibration.
        references: the reference people (world frame).
        max_distance: matching threshold, share of the person's height.
    Returns:
        New Track records (the inputs are not changed); unmatched rows keep the detector's.
    """
    view = reference_view(references, cam)
    proxies = [SimpleNamespace(frame_ids=np.asarray(t.frame_ids), track_id=t.track_id,
                               keypoints2d=np.asarray(t.keypoints, np.float64)) for t in tracks]
    matches = match_people(proxies, view.pixels, view.visible, view.in_image, view.heights,
                           max_distance)
    out = [dataclasses.replace(t, keypoints=np.array(t.keypoints, np.float64),
                               keypoint_scores=np.array(t.keypoint_scores, np.float64))
           for t in tracks]
    for pi, m in enumerate(matches):
        for f in np.nonzero(m.track >= 0)[0]:
            t, row, vis = out[m.track[f]], m.row[f], view.visible[pi][f]
            t.keypoints[row, vis] = view.pixels[pi][f][vis]
            t.keypoint_scores[row] = vis.astype(np.float64)
    return out


def reference_keypoints_hook(cam: CameraCalibration, references: list[ReferencePerson],
                             max_distance: float = MAX_MATCH_DISTANCE):
    """The `run_infer(adjust_tracks=...)` hook for one camera."""
    return lambda tracks: with_reference_keypoints(tracks, cam, references, max_distance)
