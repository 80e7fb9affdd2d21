"""Score one camera's `meshvid infer` result against the reference people.

For each reference person: match tracks (matching.py), move the reference into the camera
(X_cam = R X_world + t), and score three "methods" on the frames where the person is in the
image and matched (the scored frames):

* `mesh keypoints`: the mesh's COCO-17 keypoints (`keypoints3d` in the NPZ);
* `joint centres`: the body model's joint centres (`joints3d`) in the COCO body slots (no face
  points);
* `constant pose`: the person's own mean root-relative pose in this camera (over every frame
  they are in the image), placed at the reference root: the score of knowing nothing about
  motion.

2D errors are against the reference projected through the calibrated, distorting camera (the
pixels of the video): the mesh's keypoints as the overlay draws them (the result's pinhole
camera: its focal length, principal point at the image centre), the detector's own keypoints,
and the constant pose through the calibrated camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from meshvid.eval.multiview.calibration import (CameraCalibration, inside_image, project_camera,
                                                world_to_camera)
from meshvid.eval.multiview.matching import MAX_MATCH_DISTANCE, PersonMatch, match_people
from meshvid.eval.multiview.metrics import (BODY_12, HIP_L, HIP_R, JOINT_SETS, accel_error,
                                            constant_pose, joint_errors, joint_mask, mpjpe,
                                            pa_mpjpe, person_height_px, pixel_error, smpl_as_coco,
                                            trunk_pitch)
from meshvid.eval.multiview.reference import ReferencePerson
from meshvid.export.motion import MotionResult
from meshvid.geometry.camera import project_perspective

MESH, CENTRES, CONSTANT = "mesh keypoints", "joint centres", "constant pose"
METHODS = (MESH, CENTRES, CONSTANT)


@dataclass
class MethodScore:
    """One method's errors on one camera-person pair (means over the scored frames).

    Attributes:
        mpjpe, pa_mpjpe: mm. accel: mm/frame^2. overlay_px / overlay_pct: 2D error in pixels /
        percent of the person's height (None where the method has no 2D points).
        pitch: mean trunk pitch error, degrees (metrics.trunk_pitch; negative = too upright).
        per_joint: (17,) mean root-aligned error per COCO-17 joint, mm (NaN outside the set).
        series: per-frame `mpjpe`, `pa_mpjpe` (F,), NaN on unscored frames.
    """

    mpjpe: float
    pa_mpjpe: float
    accel: float
    overlay_px: float | None
    overlay_pct: float | None
    pitch: float
    per_joint: np.ndarray
    series: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class PairResult:
    """One reference person seen by one camera."""

    camera: str
    person: str
    frames_in_image: int
    frames_scored: int
    coverage: float
    main_track_coverage: float
    track_ids: list[int]
    detector_px: float
    detector_pct: float
    methods: dict[str, MethodScore]


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def _per_joint(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    err = joint_errors(pred, ref)
    n = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(mask, np.nan_to_num(err), 0).sum(axis=0) / np.maximum(n, 1),
                        np.nan)


def _method(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray, pred2d: np.ndarray | None,
            ref2d: np.ndarray, mask2d: np.ndarray, height: np.ndarray) -> MethodScore:
    e = mpjpe(pred, ref, mask)
    pa = pa_mpjpe(pred, ref, mask)
    acc = accel_error(pred, ref, mask)
    px = pct = None
    if pred2d is not None:
        d = pixel_error(pred2d, ref2d, mask2d)
        px, pct = _nanmean(d), _nanmean(100.0 * d / height)
    scored = mask.any(axis=1)
    pitch = (trunk_pitch(pred) - trunk_pitch(ref))[scored]
    return MethodScore(_nanmean(e), _nanmean(pa), _nanmean(acc), px, pct, _nanmean(pitch),
                       _per_joint(pred, ref, mask), {"mpjpe": e, "pa_mpjpe": pa})


def gather(result: MotionResult, match: PersonMatch, num_frames: int
           ) -> dict[str, np.ndarray]:
    """The matched rows of the result laid out per frame (NaN where unmatched).

    Returns:
        keypoints3d (F, 17, 3), joints3d (F, 24, 3), keypoints2d (F, 17, 2).
    """
    out = {"keypoints3d": np.full((num_frames, 17, 3), np.nan),
           "joints3d": np.full((num_frames, 24, 3), np.nan),
           "keypoints2d": np.full((num_frames, 17, 2), np.nan)}
    for f in np.flatnonzero(match.matched):
        p = result.persons[int(match.track[f])]
        r = int(match.row[f])
        for key in out:
            value = getattr(p, key)
            if value is not None:
                out[key][f] = value[r]
    return out


def overlay_points(keypoints3d: np.ndarray, result: MotionResult) -> np.ndarray:
    """(F, 17, 3) camera-space keypoints -> (F, 17, 2) pixels as the overlay draws them."""
    w, h = result.image_size
    pts = torch.as_tensor(np.nan_to_num(keypoints3d, nan=1.0), dtype=torch.float64)
    px = project_perspective(pts, float(result.focal_length),
                             torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64)).numpy()
    px[~np.isfinite(keypoints3d).all(-1)] = np.nan
    return px


@dataclass
class ReferenceView:
    """The reference people as one camera sees them, per person (F frames).

    Attributes:
        joints: (F, 17, 3) camera-space joints, metres (NaN = no reference).
        pixels: (F, 17, 2) projected through the calibrated, distorting camera.
        visible: (F, 17) present and inside the image.
        in_image: (F,) the person counts as in the image (mid-hip inside it).
        heights: (F,) the person's height in the image, pixels.
    """

    joints: list[np.ndarray]
    pixels: list[np.ndarray]
    visible: list[np.ndarray]
    in_image: list[np.ndarray]
    heights: list[np.ndarray]
    num_frames: int


def reference_view(references: list[ReferencePerson], cam: CameraCalibration) -> ReferenceView:
    """Every reference person moved into `cam` and projected (frames padded to the longest)."""
    num_frames = max(len(r.joints) for r in references)
    view = ReferenceView([], [], [], [], [], num_frames)
    for r in references:
        j = np.full((num_frames, 17, 3), np.nan)
        j[:len(r.joints)] = r.joints
        jc = world_to_camera(j, cam)
        px = project_camera(jc, cam)
        vis = inside_image(px, cam.size) & np.isfinite(jc).all(-1)
        hip = project_camera(jc[:, [HIP_L, HIP_R]].mean(axis=1), cam)
        view.joints.append(jc)
        view.pixels.append(px)
        view.visible.append(vis)
        view.in_image.append(inside_image(hip, cam.size))
        view.heights.append(person_height_px(px, vis))
    return view


def score_camera(result: MotionResult, cam: CameraCalibration, references: list[ReferencePerson],
                 joints: str = "body12", max_distance: float = MAX_MATCH_DISTANCE,
                 main_track_only: bool = False) -> tuple[list[PairResult], list[PersonMatch]]:
    """Every reference person scored in one camera.

    Args:
        result: `meshvid infer`'s result on this camera's video.
        cam: the camera's calibration.
        references: the reference people (world frame).
        joints: the joint set (metrics.JOINT_SETS).
        max_distance: matching threshold (share of the person's height).
        main_track_only: score only each person's most-matched track (coverage is still
            reported for all of them).
    Returns:
        (one PairResult per person, their matches).
    """
    js = JOINT_SETS[joints]
    view = reference_view(references, cam)
    ref_cam, ref2d, visible, heights = view.joints, view.pixels, view.visible, view.heights
    num_frames = view.num_frames
    matches = match_people(result.persons, ref2d, visible, view.in_image, heights, max_distance)
    centre_set = tuple(j for j in js if j in BODY_12)
    pairs = []
    for pi, r in enumerate(references):
        full = matches[pi]
        m = full.main_track_only() if main_track_only else full
        got = gather(result, m, num_frames)
        scored = m.matched & m.in_image
        g, g2, h = ref_cam[pi], ref2d[pi], heights[pi]
        mask = joint_mask(g, got["keypoints3d"], js, scored)
        mask2d = mask & visible[pi]
        centres = smpl_as_coco(got["joints3d"])
        cmask = joint_mask(g, centres, centre_set, scored)
        const_rel = constant_pose(g, m.in_image)
        root = g[:, [HIP_L, HIP_R]].mean(axis=1, keepdims=True)
        const = const_rel[None] + root
        methods = {
            MESH: _method(got["keypoints3d"], g, mask, overlay_points(got["keypoints3d"], result),
                          g2, mask2d, h),
            CENTRES: _method(centres, g, cmask, None, g2, mask2d, h),
            CONSTANT: _method(const, g, joint_mask(g, const, js, scored),
                              project_camera(const, cam), g2, mask2d, h),
        }
        det = pixel_error(got["keypoints2d"], g2, mask2d)
        pairs.append(PairResult(
            camera=cam.name, person=r.name, frames_in_image=int(m.in_image.sum()),
            frames_scored=int((mask.any(axis=1)).sum()), coverage=full.coverage,
            main_track_coverage=full.main_track_coverage(), track_ids=full.track_ids,
            detector_px=_nanmean(det), detector_pct=_nanmean(100.0 * det / h), methods=methods))
    return pairs, matches
