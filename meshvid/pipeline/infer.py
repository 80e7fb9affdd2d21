"""`meshvid infer`: video -> tracklets -> crops -> DSD -> SATN -> body model -> outputs.

Three streamed passes over the source, so memory does not grow with clip length (what grows is
per person-frame: a 512-float feature, Θ and a few boxes, ~3 kB):

1. perception: decode -> detect -> track (meshvid.perception.run.run_tracking);
2. regression: decode again -> square crops of every tracked box (bridged frames included) ->
   DSD batched across people and frames -> per-track features and single-frame Θ;
   then per track: SATN over the whole tracklet (its window spans a fixed time, see
   regressor.temporal_stride), Θ -> body model -> camera-space joints and translation;
3. rendering (optional): decode again -> meshes over the frames -> MP4 with the source audio.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from meshvid.errors import InputError
from meshvid.geometry.camera import (crop_cam_to_frame_translation, crop_ray_rotation,
                                     default_focal_length)
from meshvid.io.video import IMAGE_EXTS, FrameSource
from meshvid.perception.crops import make_crops
from meshvid.records import Frame, Track
from meshvid.scene.camera_motion import CameraMotion

Tick = Callable[[int], None]

# People whose box is lower than this (median over the track, frame pixels) are not meshed: the
# 224-px crop would upsample them more than 4x (1.2 x 40 px -> 224), the detector's keypoints on
# them are mostly below 0.5 confidence, and their mesh is a blur of guesses. `--min-height 0`
# meshes everyone.
MIN_PERSON_HEIGHT = 40.0


@dataclass
class StageSeconds:
    tracking: float = 0.0  # decode + detect + track (pass 1)
    decode: float = 0.0  # pass 2 decode
    crop: float = 0.0
    dsd: float = 0.0
    satn: float = 0.0
    body: float = 0.0
    refine: float = 0.0  # --refine: pose + translation fitted to the keypoints
    camera_motion: float = 0.0  # the background's feature tracks (inside pass 2's loop)
    render: float = 0.0  # pass 3, decode + draw + encode
    export: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


@dataclass
class TrackEstimate:
    """Per-frame single-frame outputs of one track, aligned with the track's frame ids."""

    track: Track
    features: np.ndarray  # (T, 512)
    theta: np.ndarray  # (T, 157) single-frame Θ vectors
    centres: np.ndarray  # (T, 2) square crop centres, frame pixels
    sides: np.ndarray  # (T,) square crop sides, frame pixels
    key: np.ndarray  # (T,) bool: rows the networks saw (keyframes.py); others are interpolated
    root: np.ndarray | None = None  # (T, 6) the orientation network's root rotation, if any
    body: np.ndarray | None = None  # (T, 144) the articulation network's pose (6D), if any
    # (T, D) the articulation network's feature, when its SATN runs (regressor.body_temporal)
    body_features: np.ndarray | None = None


@dataclass
class _Pending:
    slots: list[tuple[int, int]] = field(default_factory=list)  # (track index, row)
    crops: list[np.ndarray] = field(default_factory=list)
    keypoints: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.slots)


def frame_rows(tracks: list[Track], keys: list[np.ndarray] | None = None
               ) -> dict[int, list[tuple[int, int]]]:
    """frame index -> [(track index, row in that track)] for every tracked person-frame (only
    the rows marked in `keys`, when given)."""
    index: dict[int, list[tuple[int, int]]] = {}
    for ti, track in enumerate(tracks):
        for row, f in enumerate(track.frame_ids.tolist()):
            if keys is None or keys[ti][row]:
                index.setdefault(int(f), []).append((ti, row))
    return index


def estimate_frames(source: FrameSource, tracks: list[Track], regressor, *, batch_size: int = 16,
                    keys: list[np.ndarray] | None = None, times: StageSeconds | None = None,
                    on_frame: Tick | None = None,
                    on_image: Callable[[Frame], None] | None = None) -> list[TrackEstimate]:
    """Pass 2: crops of the tracked person-frames (every one, or the `keys` rows per track)
    through the DSD network, batched across people and frames. `on_image` sees every decoded
    frame (the camera motion estimate, meshvid/scene/camera_motion.py)."""
    from meshvid.perception.crops import square_boxes

    times = times or StageSeconds()
    size = regressor.crop_size
    keys = keys or [np.ones(len(t), bool) for t in tracks]
    estimates = []
    for t, key in zip(tracks, keys):
        # the crop geometry of every row (make_crops squares the same boxes for the key rows)
        centres, sides = square_boxes(np.asarray(t.boxes, np.float64))
        estimates.append(TrackEstimate(t, np.zeros((len(t), regressor.feature_width), np.float32),
                                       np.zeros((len(t), 157), np.float32),
                                       centres.astype(np.float32), sides.astype(np.float32),
                                       np.asarray(key, bool),
                                       np.zeros((len(t), 6), np.float32)
                                       if getattr(regressor, "orient", None) is not None else None,
                                       np.zeros((len(t), 144), np.float32)
                                       if getattr(regressor, "body_net", None) is not None
                                       else None,
                                       np.zeros((len(t), regressor.body_feature_width),
                                                np.float32)
                                       if getattr(regressor, "body_satn", None) is not None
                                       else None))
    rows = frame_rows(tracks, keys)
    pending = _Pending()

    def flush() -> None:
        if not pending:
            return
        t0 = time.perf_counter()
        out = regressor.single_frame(np.stack(pending.crops), np.stack(pending.keypoints),
                                     np.stack(pending.scores))
        times.dsd += time.perf_counter() - t0
        for k, (ti, row) in enumerate(pending.slots):
            estimates[ti].features[row] = out.features[k]
            estimates[ti].theta[row] = out.theta[k]
            if out.root is not None:
                estimates[ti].root[row] = out.root[k]
            if out.body is not None:
                estimates[ti].body[row] = out.body[k]
            if out.body_features is not None:
                estimates[ti].body_features[row] = out.body_features[k]
        pending.__init__()

    last = max(rows) if rows else -1
    t_dec = time.perf_counter()
    for n, frame in enumerate(source, start=1):
        times.decode += time.perf_counter() - t_dec
        if on_image is not None:
            on_image(frame)
        here = rows.get(frame.index, [])
        if here:
            t0 = time.perf_counter()
            boxes = np.stack([tracks[ti].boxes[row] for ti, row in here])
            kps = np.stack([tracks[ti].keypoints[row] for ti, row in here])
            scores = np.stack([tracks[ti].keypoint_scores[row] for ti, row in here])
            crops = make_crops(frame.image, boxes, kps, scores, size=size)
            times.crop += time.perf_counter() - t0
            for k, (ti, row) in enumerate(here):
                pending.slots.append((ti, row))
                pending.crops.append(crops.images[k])
                pending.keypoints.append(crops.keypoints_norm[k].astype(np.float32))
                pending.scores.append(crops.keypoint_scores[k].astype(np.float32))
            if len(pending) >= batch_size:
                flush()
        if on_frame is not None:
            on_frame(n)
        if frame.index >= last:
            break  # nobody is tracked after this frame: no need to decode the rest
        t_dec = time.perf_counter()
    flush()
    return estimates


# The orientation network is single-frame; on the temporal path its root rotations are
# low-passed over SATN's span (9 samples at its 10 fps training rate), as SATN smooths the rest.
ROOT_SMOOTH_WINDOW = 9
ROOT_SMOOTH_ORDER = 2


def smooth_rotations(r6d: np.ndarray, frame_ids: np.ndarray, stride: int = 1) -> np.ndarray:
    """(K, J, 6) rotations of one track's key rows -> the same Savitzky-Golay-smoothed along
    the track (window ROOT_SMOOTH_WINDOW samples of the model rate, i.e. `stride` frames
    apart; order ROOT_SMOOTH_ORDER): the single-frame keypoint networks' outputs low-passed
    over SATN's span, as SATN smooths the rest."""
    from meshvid.geometry.rotations import (matrix_to_quaternion_wxyz, matrix_to_sixd,
                                            quaternion_wxyz_to_matrix, sixd_to_matrix)
    from meshvid.smoothing import savgol_rotations, sign_continuous

    rot = sixd_to_matrix(torch.from_numpy(np.asarray(r6d, np.float32)))
    q = sign_continuous(matrix_to_quaternion_wxyz(rot).double().numpy())
    steps = np.asarray(frame_ids, np.int64) // max(1, stride)
    q = savgol_rotations(q, steps.astype(np.float64), steps, ROOT_SMOOTH_WINDOW,
                         ROOT_SMOOTH_ORDER)
    return matrix_to_sixd(quaternion_wxyz_to_matrix(torch.from_numpy(q))).float().numpy()


def with_root(theta: np.ndarray, root6d: np.ndarray, frame_ids: np.ndarray, *, smooth: bool,
              stride: int = 1, trust: list | None = None) -> np.ndarray:
    """Θ vectors (K, 157) with joint 0's rotation taken from the orientation network's
    (K, 6) where the two networks roughly agree (regressor.gated_root), the orientation
    network's Savitzky-Golay-smoothed along the track first (window ROOT_SMOOTH_WINDOW samples
    of the model rate, i.e. `stride` frames apart) when `smooth`. `trust`, a list, receives
    the (K,) weight the orientation network got (the keypoint fit's root anchor)."""
    from meshvid.pipeline.regressor import gated_root

    root = np.asarray(root6d, np.float32)
    if smooth and len(root) > 2:
        root = smooth_rotations(root[:, None], frame_ids, stride)[:, 0]
    out = np.array(theta, np.float32)
    gated, weight = gated_root(torch.from_numpy(out[:, :6]), torch.from_numpy(root),
                               with_trust=True)
    out[:, :6] = gated.numpy()
    if trust is not None:
        trust.append(weight.numpy().astype(np.float32))
    return out


# With the articulation network's SATN (regressor.body_temporal), whether its output is still
# Savitzky-Golay-smoothed along the track before the blend (with_body's `smooth`).
BODY_SATN_SMOOTH = True


def with_body(theta: np.ndarray, body6d: np.ndarray, frame_ids: np.ndarray, *, smooth: bool,
              stride: int = 1) -> np.ndarray:
    """Θ vectors (K, 157) with joints 1..23 averaged with the articulation network's (K, 144)
    (regressor.blend_body), the latter Savitzky-Golay-smoothed along the track first, as the
    orientation network's root is (with_root), when `smooth`."""
    from meshvid.pipeline.regressor import blend_body

    body = np.asarray(body6d, np.float32).reshape(len(body6d), 24, 6)
    if smooth and len(body) > 2:
        body = smooth_rotations(body, frame_ids, stride)
    body = torch.from_numpy(np.ascontiguousarray(body))
    out = np.array(theta, np.float32)
    pose = torch.from_numpy(out[:, :144].reshape(len(out), 24, 6))
    out[:, :144] = blend_body(pose, body).reshape(len(out), 144).numpy()
    return out


def people_motion(estimates: list[TrackEstimate], regressor, body, *, fps: float,
                  image_size: tuple[int, int], focal: float, temporal: bool = True,
                  camera_fit: bool = True, refine: bool = False, crop_ray: bool = True,
                  root_anchor: bool = False, shape_weight: float = 1.0,
                  times: StageSeconds | None = None):
    """SATN per track, then Θ -> camera-space translation, joints and COCO keypoints:
    PersonMotion records. With `camera_fit` the translation is fitted to the detector's
    keypoints and its depth smoothed along the track (`fit_track_camera`); without it, it is
    the network's weak-perspective camera converted to the frame. With `refine` the pose and
    translation of every track are then fitted to the keypoints over time
    (meshvid/fitting/refine.py), all tracks in one batch. With `crop_ray` the network's root
    orientation, which it can only know relative to the ray through the crop's centre, is turned
    from that ray to the camera (geometry/camera.py, "Crop orientation")."""
    from meshvid.export.motion import PersonMotion
    from meshvid.pipeline.keyframes import interpolate_theta
    from meshvid.pipeline.regressor import temporal_stride, theta_from_vector

    times = times or StageSeconds()
    staged = []  # per track: (theta, pose, betas, transl)
    anchors = []  # per track: the key rows' root anchor for the fit (None: free)
    for est in estimates:
        t0 = time.perf_counter()
        vec = est.theta[est.key]
        smooth = temporal and regressor.has_temporal
        # every frame: SATN over interleaved phases spanning its training time; keyframes
        # are already at (about) the training rate
        stride = temporal_stride(fps) if est.key.all() else 1
        if smooth and len(vec) > 1:
            vec = regressor.temporal(est.features[est.key], stride)
        trust: list = []
        if est.root is not None:
            vec = with_root(vec, est.root[est.key], est.track.frame_ids[est.key],
                            smooth=smooth, stride=stride, trust=trust)
        anchors.append(torch.from_numpy(trust[0]) if trust else None)
        if est.body is not None:
            body6d, body_smooth = _track_body(est, regressor, smooth, stride)
            vec = with_body(vec, body6d, est.track.frame_ids[est.key],
                            smooth=body_smooth, stride=stride)
        vec = interpolate_theta(est.track.frame_ids, est.key, vec)
        times.satn += time.perf_counter() - t0
        t0 = time.perf_counter()
        theta = theta_from_vector(torch.from_numpy(np.asarray(vec, np.float32)))
        pose = theta.axis_angle()
        if crop_ray:
            from meshvid.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

            ray = crop_ray_rotation(torch.from_numpy(np.asarray(est.centres, np.float32)), focal,
                                    image_size)
            pose = pose.clone()
            pose[:, 0] = matrix_to_axis_angle(ray @ axis_angle_to_matrix(pose[:, 0]))
        # one shape per person: the per-frame estimates of the same body, averaged, then
        # shrunk towards the body model's average adult by `shape_weight` (InferOptions)
        betas = shape_weight * theta.betas.mean(dim=0) + (1.0 - shape_weight) * body.adult_betas()
        transl = crop_cam_to_frame_translation(
            theta.cam, torch.from_numpy(est.centres), torch.from_numpy(est.sides), focal,
            image_size)
        if camera_fit:
            joints, coco = _posed_points(body, pose, betas)
            transl, _ = fit_track_camera(est.track, joints, coco, transl, fps=fps, focal=focal,
                                         image_size=image_size)
        staged.append((theta, pose, betas, transl))
        times.body += time.perf_counter() - t0
    if refine and staged:
        # the fit sees the rows the networks saw (the detector's frames at the model rate); the
        # frames between follow the fitted keys as they followed the network's (keyframes.py)
        t0 = time.perf_counter()
        fitted = refine_tracks([_track_rows(e.track, e.key) for e in estimates],
                               [s[1][torch.from_numpy(e.key)] for s, e in zip(staged, estimates)],
                               [s[2] for s in staged],
                               [s[3][torch.from_numpy(e.key)] for s, e in zip(staged, estimates)],
                               body, fps=fps, focal=focal, image_size=image_size,
                               root_anchors=anchors if root_anchor else None)
        for i, (e, (key_pose, key_transl)) in enumerate(zip(estimates, fitted)):
            theta, _, betas, transl = staged[i]
            pose, transl = _fill_between_keys(e.track.frame_ids, e.key, key_pose, key_transl, transl)
            staged[i] = (theta, pose, betas, transl)
        times.refine += time.perf_counter() - t0
    persons = []
    for est, (theta, pose, betas, transl) in zip(estimates, staged):
        t0 = time.perf_counter()
        joints, coco = _posed_points(body, pose, betas)
        if refine:
            # the fit may not move the root faster than a person moves (issue 14: no depth
            # step above 0.15 m): the camera fit's smoothing again, at the full rate, trusting
            # the detected rows the fit saw
            track = est.track
            reliable = (est.key & ~np.asarray(track.interpolated, bool)
                        & ((np.asarray(track.keypoint_scores) > 0.3).sum(1) >= 4))
            transl = smooth_track_depth(track, joints, transl, fps, reliable)
        with torch.inference_mode():
            rest_joints = body.rest_shape(betas[None])[1][0]
        track = est.track
        joints = joints + transl[:, None, :]
        coco = coco + transl[:, None, :]
        persons.append(PersonMotion(
            track_id=track.track_id, frame_ids=track.frame_ids, timestamps=track.timestamps,
            pose=pose.numpy(), betas=betas.numpy(), transl=transl.numpy(),
            cam=theta.cam.numpy(), boxes=track.boxes, joints3d=joints.numpy(),
            keypoints3d=coco.numpy(),
            keypoints2d=track.keypoints, keypoint_scores=track.keypoint_scores,
            betas_per_frame=theta.betas.numpy(), interpolated=track.interpolated,
            gap=track.gap,
            rest_joints=rest_joints.numpy()))
        times.body += time.perf_counter() - t0
    return persons


def _track_body(est: TrackEstimate, regressor, smooth: bool, stride: int
                ) -> tuple[np.ndarray, bool]:
    """The articulation network's pose for a track's key rows (K, 144) — through its SATN
    when that runs and the temporal path is on — and whether with_body still smooths it."""
    if smooth and est.body_features is not None and \
            getattr(regressor, "body_satn", None) is not None and int(est.key.sum()) > 1:
        return regressor.body_temporal(est.body_features[est.key], stride), BODY_SATN_SMOOTH
    return est.body[est.key], smooth


def _track_rows(track: Track, rows: np.ndarray) -> Track:
    """The track restricted to the rows of a boolean mask."""
    from dataclasses import replace

    return replace(track, frame_ids=track.frame_ids[rows], timestamps=track.timestamps[rows],
                   boxes=np.asarray(track.boxes)[rows], scores=np.asarray(track.scores)[rows],
                   keypoints=np.asarray(track.keypoints)[rows],
                   keypoint_scores=np.asarray(track.keypoint_scores)[rows],
                   interpolated=(np.zeros(len(track), bool) if track.interpolated is None
                                 else np.asarray(track.interpolated, bool))[rows],
                   gap=None if track.gap is None else np.asarray(track.gap, bool)[rows])


def _fill_between_keys(frame_ids: np.ndarray, key: np.ndarray, key_pose: torch.Tensor,
                       key_transl: torch.Tensor, transl: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Fitted pose (K, 24, 3) and translation (K, 3) at the key rows -> (T, 24, 3), (T, 3):
    rotations along the geodesic between keys; the translation keeps its per-frame path
    (`transl`, (T, 3), which follows the box) plus the fit's correction, linear between keys."""
    from meshvid.geometry.rotations import (axis_angle_to_matrix, interpolate_linear,
                                            interpolate_rotmats, matrix_to_axis_angle)

    if key.all():
        return key_pose, key_transl
    times = torch.from_numpy(np.asarray(frame_ids, np.float64))
    key_t = torch.from_numpy(key)
    rot = interpolate_rotmats(times[key_t], axis_angle_to_matrix(key_pose.double()), times)
    correction = interpolate_linear(times[key_t], (key_transl - transl[key_t]).double(), times)
    return (matrix_to_axis_angle(rot).to(key_pose.dtype),
            (transl.double() + correction).to(transl.dtype))


def _posed_points(body, pose: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pose (T, 24, 3), betas (10,) -> joints (T, 24, 3) and COCO-17 (T, 17, 3), no translation."""
    with torch.inference_mode():
        outs = [body(pose[i:i + 256], betas.expand(len(pose[i:i + 256]), -1))
                for i in range(0, len(pose), 256)]
        return torch.cat([o.joints for o in outs]), torch.cat([o.coco17 for o in outs])


# Rows per refinement batch: the autograd graph of one step holds ~30 kB per row, so batches of
# this size keep the stage near 150 MB however long the clip; a longer track is fitted in
# consecutive pieces (the smoothness term does not cross a piece boundary).
REFINE_BATCH_ROWS = 4096


def refine_tracks(tracks: list[Track], poses: list[torch.Tensor], betas: list[torch.Tensor],
                  transls: list[torch.Tensor], body, *, fps: float, focal: float,
                  image_size: tuple[int, int], batch_rows: int = REFINE_BATCH_ROWS,
                  root_anchors: list[torch.Tensor | None] | None = None
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every track's pose (T, 24, 3) and translation (T, 3) fitted to its keypoints over time
    (meshvid.fitting.refine), many tracks per batch; bridged (interpolated) frames carry no
    keypoints, only the smoothness term. `root_anchors`: per track (T,) how much its root
    rotation is held (the orientation network's trust), or None (free)."""
    from meshvid.fitting.refine import RefineInput, refine

    rows = [len(p) for p in poses]
    first = np.cumsum([0] + rows[:-1])
    pose_all, transl_all = torch.cat(poses).float(), torch.cat(transls).float()
    kp_all = torch.cat([torch.as_tensor(np.asarray(t.keypoints, np.float32)) for t in tracks])
    score_all = torch.cat([torch.as_tensor(np.asarray(t.keypoint_scores, np.float32)) *
                           torch.as_tensor(~np.asarray(t.interpolated, bool))[:, None] for t in tracks])
    boxes = torch.cat([torch.as_tensor(np.asarray(t.boxes, np.float32)) for t in tracks])
    anchor_all = None
    if root_anchors is not None and any(a is not None for a in root_anchors):
        anchor_all = torch.cat([a.float() if a is not None else torch.zeros(n)
                                for a, n in zip(root_anchors, rows)])
    times = torch.cat([torch.as_tensor(np.asarray(t.frame_ids, np.float64) / fps) for t in tracks])
    # pieces (track, global start, length) packed into batches of at most batch_rows rows
    pieces = [(i, int(s) + o, min(batch_rows, n - o)) for i, (s, n) in enumerate(zip(first, rows))
              for o in range(0, n, batch_rows)]
    batches: list[list[tuple[int, int, int]]] = [[]]
    for piece in pieces:
        if sum(p[2] for p in batches[-1]) + piece[2] > batch_rows:
            batches.append([])
        batches[-1].append(piece)
    pose_out, transl_out = pose_all.clone(), transl_all.clone()
    with torch.no_grad():
        rigs = torch.cat([body.coco17_rig(b[None].float()) for b in betas])  # (P, 17, 24, 4)
        rests = torch.cat([body.rest_shape(b[None].float())[1] for b in betas])  # (P, 24, 3)
    for batch in batches:
        if not batch:
            continue
        idx = torch.cat([torch.arange(s, s + n) for _, s, n in batch])
        group = torch.cat([torch.full((n,), i, dtype=torch.long) for i, _, n in batch])
        local = np.cumsum([0] + [n for _, _, n in batch[:-1]])
        prev = torch.arange(len(idx)) - 1
        prev[torch.as_tensor(local)] = -1
        t = times[idx]
        dt = (t - t[prev.clamp(min=0)]).float()
        box = boxes[idx]
        res = refine(RefineInput(
            pose=pose_all[idx], transl=transl_all[idx], rig=rigs, rest_joints=rests, group=group,
            keypoints=kp_all[idx], scores=score_all[idx], box_height=box[:, 3] - box[:, 1],
            prev=prev, dt=dt, focal=focal, center=(image_size[0] / 2.0, image_size[1] / 2.0),
            root_anchor=anchor_all[idx] if anchor_all is not None else None))
        pose_out[idx], transl_out[idx] = res.pose, res.transl
    return [(pose_out[s:s + n].to(poses[i].dtype), transl_out[s:s + n].to(transls[i].dtype))
            for i, (s, n) in enumerate(zip(first, rows))]


def smooth_track_depth(track: Track, joints: torch.Tensor, transl: torch.Tensor, fps: float,
                       reliable: np.ndarray) -> torch.Tensor:
    """geometry.camfit.smooth_depth applied to a track's translation (T, 3) given its posed
    joints (T, 24, 3, no translation); `reliable` (T,) marks the frames whose depth the others
    follow (all frames count when none is)."""
    from meshvid.geometry.camfit import smooth_depth

    root = (joints[:, 0] + transl).double().numpy()
    smoothed = smooth_depth(root, np.asarray(track.frame_ids, np.float64) / fps, track.frame_ids,
                            reliable if reliable.any() else None)
    return transl + torch.from_numpy(smoothed - root).to(transl.dtype)


def fit_track_camera(track: Track, joints: torch.Tensor, coco: torch.Tensor, t0: torch.Tensor,
                     *, fps: float, focal: float, image_size: tuple[int, int]
                     ) -> tuple[torch.Tensor, np.ndarray]:
    """One track's perspective translation fitted to its detector keypoints, depth smoothed.

    Args:
        track: the track (boxes, keypoints (T, 17, 2), keypoint_scores (T, 17), frame ids).
        joints: (T, 24, 3) posed joints without translation (camera axes).
        coco: (T, 17, 3) the mesh's COCO-17 keypoints without translation.
        t0: (T, 3) the network's translation (start and fallback).
        fps, focal, image_size: the clip's frame rate and camera.

    Returns:
        (T, 3) translation and (T,) bool, the frames whose depth came from the fit.
    """
    from meshvid.geometry.camfit import fit_translation

    boxes = torch.as_tensor(np.asarray(track.boxes, np.float64))
    fit = fit_translation(coco, torch.as_tensor(track.keypoints),
                          torch.as_tensor(track.keypoint_scores), t0, focal, image_size,
                          box_height=(boxes[:, 3] - boxes[:, 1]).clamp(min=1.0))
    transl = fit.transl.to(t0.dtype)
    reliable = fit.fitted.numpy() & ~np.asarray(track.interpolated, bool)
    return smooth_track_depth(track, joints, transl, fps, reliable), reliable


def resolve_focal(focal: float | None, image_size: tuple[int, int]) -> float:
    return float(focal) if focal else default_focal_length(*image_size)


@dataclass
class InferOptions:
    weights: Path | None = None  # default: weights/dsd_satn_cpu
    body_model: str = "anny24"
    smpl_dir: Path | None = None
    detector: Path | None = None
    detector_backend: str = "auto"
    imgsz: int | None = None
    det_stride: int | None = None
    mesh_rate: str = "model"  # model | every (pipeline/keyframes.py)
    tracker: str = "bytetrack"
    max_people: int | None = None
    min_track_len: int = 10
    max_gap: int = 15
    min_height: float = MIN_PERSON_HEIGHT  # tracks whose median box is lower are not meshed
    focal: float | None = None
    device: str = "cpu"
    dsd_backend: str = "auto"  # auto | openvino | torch: where the DSD backbone runs on CPU
    batch_size: int = 16
    temporal: bool = True
    camera_fit: bool = True  # perspective translation fitted to the keypoints (geometry/camfit)
    crop_ray: bool = True  # root orientation turned from the crop's ray to the camera (issue 24)
    # pose + translation fitted to the keypoints over time (fitting/refine); on by default since
    # it improves both held-out 3D and real-clip alignment (docs/infer.md)
    refine: bool = True
    render: str = "overlay"  # overlay | side | none
    keypoints: bool = False
    exports: tuple[str, ...] = ()  # fbx, glb, bvh (the NPZ is always written)
    preset: str = "blender"
    max_frames: int | None = None
    image_fps: float = 30.0
    keep_partial: bool = False  # a truncated video: keep the frames before the damage (warned)
    camera_motion: str = "auto"  # auto | static | estimate (meshvid/scene/camera_motion.py)
    # where gravity's up comes from (meshvid/scene/vanishing.py): lines: the scene's plumb lines
    # when they support it, else the people's mean up; people: always the people; auto: lines
    # when the focal length is the user's (--focal), else the people
    gravity: str = "auto"
    # also run the networks on mirrored crops and average (issue 24: on lab4cam -3 mm PA-MPJPE
    # for DSD alone, -1 mm after the fit; +4 % of infer's time on the demo clip)
    flip_test: bool = True
    orientation_net: bool = True  # the weights' orientation network, when they have one (issue 24)
    body_net: bool = True  # the weights' articulation network, when they have one (issue 24)
    # the articulation network's SATN (body_satn.safetensors) over each track, when present
    body_temporal: bool = True
    # the fit holds the root where the orientation network was trusted (issue 24): lab4cam
    # MPJPE -5 mm, but sports2d / vtest alignment +0.07-0.13 % of the box height, so off
    root_anchor: bool = False
    # how much of the networks' body shape is kept. 0 (the body model's average adult,
    # BodyModel.adult_betas) since issue 24: on lab4cam's adults the networks' shapes were
    # 1.37-1.55 m tall, which cost 24 mm of lab4cam MPJPE, and anny24's mean shape (1.66 m, a
    # population from age 4) 3 mm more than its average adult (1.69 m) (docs/eval-multiview.md,
    # "Body shape"); 1 keeps the prediction
    shape_weight: float = 0.0
    # a second detector pass on each tracked person's crop at this size, keypoints fused
    # (perception/keypoint_pass.py); None: off
    keypoint_crop: int | None = None
    # that pass also sees each crop mirrored, the two views averaged (2D error on lab4cam 4.73
    # -> 4.63 % of the height for twice the pass's time; docs/perception.md)
    keypoint_flip: bool = False


@dataclass
class InferResult:
    motion: object  # MotionResult
    npz_path: Path
    video_path: Path | None
    export_paths: list[Path]
    num_frames: int
    seconds: StageSeconds
    wall_seconds: float
    camera_motion: CameraMotion | None = None  # the estimate (meshvid/scene/camera_motion.py)

    def summary(self) -> dict:
        m = self.motion
        return {
            "npz": str(self.npz_path),
            "video": str(self.video_path) if self.video_path else None,
            "exports": [str(p) for p in self.export_paths],
            "num_frames": self.num_frames,
            "fps_source": m.fps,
            "processing_fps": round(self.num_frames / self.wall_seconds, 2)
            if self.wall_seconds > 0 else None,
            "wall_seconds": round(self.wall_seconds, 2),
            "stage_seconds": self.seconds.as_dict(),
            "body_model": m.body_model,
            "focal_length": m.focal_length,
            "camera_motion": self.camera_motion.summary() if self.camera_motion else None,
            "tracks": [{"id": p.track_id, "first_frame": int(p.frame_ids[0]),
                        "last_frame": int(p.frame_ids[-1]), "num_frames": len(p)}
                       for p in m.persons],
        }


class Progress:
    """What the pipeline reports: a stage starts (name, total frames) and frames advance."""

    def start(self, name: str, total: int | None) -> None: ...

    def advance(self, done: int) -> None: ...


def output_stem(input_path: str | Path) -> str:
    """The name every output of `input_path` starts with (`<stem>.npz`, `<stem>_overlay.mp4`)."""
    return Path(input_path).stem if Path(input_path).is_file() else Path(input_path).name


# What `run_infer` may do to the tracks between tracking and the networks (evaluation only:
# meshvid/eval/multiview/reference_keypoints.py puts reference keypoints in the detector's place).
TracksHook = Callable[[list[Track]], list[Track]]


def run_infer(input_path: str | Path, outdir: str | Path, opts: InferOptions,
              progress: Progress | None = None, *, tracks_file: Path | None = None,
              adjust_tracks: TracksHook | None = None) -> InferResult:
    """The whole job; every output file appears atomically (complete) or not at all.

    The outputs of one stem are locked for the run (a concurrent run into the same place
    fails with BusyError) and listed in a manifest; the files of an earlier run of the same
    stem are removed when the work starts (meshvid.io.outputs.OutputClaim).

    `tracks_file` (evaluation): the detection + tracking stage's result is read from that file
    when it exists, and written there (exactly, atomically) when the stage runs. The caller
    owns the file's key: it must only be reused with the same video and the same detector and
    tracker options. `adjust_tracks` changes the tracks before the networks see them.
    """
    from meshvid.io.outputs import OutputClaim

    claim = OutputClaim(outdir, output_stem(input_path))
    try:
        return _run_infer(input_path, outdir, opts, progress, claim, tracks_file, adjust_tracks)
    finally:
        claim.release()


def _tracked(source, detector_factory, opts: InferOptions, det_stride: int | None,
             single_image: bool, progress: Progress, tracks_file: Path | None
             ) -> tuple[list[Track], int]:
    """Pass 1 (detection + tracking), or its earlier result from `tracks_file`."""
    from meshvid.perception.run import TrackOptions, run_tracking
    from meshvid.perception.tracker import TrackerConfig
    from meshvid.perception.tracks_io import load_tracks, save_tracks, tracks_document

    if tracks_file is not None and Path(tracks_file).is_file():
        _, tracks, doc = load_tracks(tracks_file)
        return tracks, int(doc["video"]["num_frames"])
    progress.start("tracking", source.info.num_frames)
    tracking = run_tracking(
        source, detector_factory(),
        TrackOptions(imgsz=opts.imgsz, det_stride=det_stride, keypoint_crop=opts.keypoint_crop,
                     keypoint_flip=opts.keypoint_flip,
                     tracker=TrackerConfig(kind=opts.tracker, max_gap=opts.max_gap,
                                           min_len=1 if single_image else opts.min_track_len,
                                           max_people=opts.max_people)),
        on_frame=progress.advance)
    if tracks_file is not None:
        save_tracks(tracks_file, tracks_document(source.info, tracking.tracks,
                                                 num_frames=tracking.num_frames,
                                                 timestamps=tracking.timestamps, exact=True))
    return tracking.tracks, tracking.num_frames


def _run_infer(input_path: str | Path, outdir: str | Path, opts: InferOptions,
               progress: Progress | None, claim, tracks_file: Path | None = None,
               adjust_tracks: TracksHook | None = None) -> InferResult:
    from meshvid import __version__
    from meshvid.devices import check_device
    from meshvid.body import load_body_model
    from meshvid.export.motion import MotionResult
    from meshvid.export.exporter import BLENDER_FORMATS, parse_formats
    from meshvid.export.npz import save_npz, summary_path
    from meshvid.io.video import open_source
    from meshvid.perception.detector import PoseDetector
    from meshvid.pipeline.keyframes import MESH_RATES, key_mask
    from meshvid.pipeline.regressor import MeshRegressor, temporal_stride
    from meshvid.scene.camera_motion import CAMERA_MOTION_MODES, CameraMotionStage
    from meshvid.scene.vanishing import GRAVITY_MODES, GravityStage, gravity_summary
    from meshvid.scene.world import people_up, world_camera

    if opts.mesh_rate not in MESH_RATES:
        raise InputError(f"unknown mesh rate {opts.mesh_rate!r}: use one of {', '.join(MESH_RATES)}")
    if opts.camera_motion not in CAMERA_MOTION_MODES:
        raise InputError(f"--camera-motion must be one of {', '.join(CAMERA_MOTION_MODES)}, "
                         f"not {opts.camera_motion!r}")
    if opts.gravity not in GRAVITY_MODES:
        raise InputError(f"--gravity must be one of {', '.join(GRAVITY_MODES)}, "
                         f"not {opts.gravity!r}")
    if opts.keypoint_flip and not opts.keypoint_crop:
        raise InputError("--keypoint-flip mirrors the --keypoint-crop pass: add --keypoint-crop "
                         "SIZE (e.g. 384)")
    from meshvid.export.presets import get_preset

    get_preset(opts.preset)  # an unknown preset fails now, exports requested or not
    progress = progress or Progress()
    outdir = Path(outdir)
    started = time.perf_counter()
    times = StageSeconds()
    device = check_device(opts.device)
    source = open_source(input_path, image_fps=opts.image_fps, stop=opts.max_frames,
                         keep_partial=opts.keep_partial)
    single_image = Path(input_path).is_file() and Path(input_path).suffix.lower() in IMAGE_EXTS
    # load everything that can fail on a missing file before the long work starts
    body = load_body_model(opts.body_model, smpl_dir=opts.smpl_dir, device="cpu")
    regressor = MeshRegressor(opts.weights, device=device, backend=opts.dsd_backend,
                              flip_test=opts.flip_test, orientation=opts.orientation_net,
                              articulation=opts.body_net, body_temporal=opts.body_temporal)
    if opts.exports:
        from meshvid.export.blender import check_bpy
        from meshvid.export.exporter import BLENDER_FORMATS, parse_formats

        if any(f in BLENDER_FORMATS for f in parse_formats(list(opts.exports))):
            check_bpy()
    reuse = tracks_file is not None and Path(tracks_file).is_file()
    detector = (None if reuse else
                PoseDetector(opts.detector, backend=opts.detector_backend, device=device))
    info = source.info
    # everything is loaded: lock the outputs, check the space, remove an earlier run's files
    frames_hint = min(info.num_frames or 300, opts.max_frames or 10**9)
    claim.begin(need_bytes=16 * 2**20 + (frames_hint * info.width * info.height // 50
                                         if opts.render != "none" else 0))

    # Mesh rate "model": the networks run on every k-th frame (SATN's training rate), and the
    # detector on exactly those frames, so the DSD sees real detections, not interpolated ones.
    k = temporal_stride(source.info.fps) if not single_image else 1
    model_rate = opts.mesh_rate == "model" and k > 1
    det_stride = opts.det_stride if opts.det_stride is not None else (k if model_rate else None)

    t0 = time.perf_counter()
    tracks, num_frames = _tracked(source, lambda: detector, opts, det_stride, single_image,
                                  progress, tracks_file)
    if adjust_tracks is not None:
        tracks = adjust_tracks(tracks)
    times.tracking = time.perf_counter() - t0
    image_size = (info.width, info.height)
    focal = resolve_focal(opts.focal, image_size)
    fps = info.fps if info.fps and info.fps > 0 else opts.image_fps

    all_tracks = list(tracks)
    if opts.min_height > 0:
        tracks = [t for t in tracks if len(t) and float(np.median(
            np.asarray(t.boxes)[:, 3] - np.asarray(t.boxes)[:, 1])) >= opts.min_height]
    progress.start("meshes", num_frames)
    keys = [key_mask(t.frame_ids, k if model_rate else 1) for t in tracks]
    # the camera's rotation from the background, on the frames pass 2 decodes anyway (every
    # tracked person's box masked, the small ones' too)
    camera_stage = CameraMotionStage("static" if single_image else opts.camera_motion,
                                     all_tracks, image_size, focal)
    gravity_stage = GravityStage(opts.gravity, all_tracks, num_frames, image_size, focal,
                                 focal_given=bool(opts.focal))

    def on_image(frame) -> None:
        camera_stage(frame)
        gravity_stage(frame)

    estimates = estimate_frames(source, tracks, regressor, batch_size=opts.batch_size,
                                keys=keys, times=times, on_frame=progress.advance,
                                on_image=on_image)
    cam_motion = camera_stage.finish(num_frames)
    times.camera_motion = camera_stage.seconds + gravity_stage.seconds  # lines: pass 2 too
    progress.advance(num_frames)  # the frames after the last tracked one need no work
    persons = people_motion(estimates, regressor, body, fps=fps, image_size=image_size,
                            focal=focal, temporal=opts.temporal,
                            camera_fit=opts.camera_fit, refine=opts.refine,
                            crop_ray=opts.crop_ray, root_anchor=opts.root_anchor,
                            shape_weight=opts.shape_weight, times=times)
    # gravity's up in camera-0 axes: the lines' (the people's up choosing between two
    # well-supported families of them), else the people's
    people = people_up(cam_motion, persons)
    lines_up = gravity_stage.finish(cam_motion, people if persons else None)
    motion = MotionResult(persons=persons, fps=fps, body_model=opts.body_model,
                          image_size=image_size, focal_length=focal, source=str(input_path),
                          meshvid_version=__version__,
                          camera=world_camera(cam_motion, persons,
                                              people if lines_up is None else lines_up.up),
                          extra={"camera_motion": json.dumps(cam_motion.summary(), sort_keys=True),
                                 "gravity": json.dumps(gravity_summary(lines_up, gravity_stage),
                                                       sort_keys=True),
                                 "weights": str(regressor.path),
                                 "temporal": str(bool(opts.temporal and regressor.has_temporal)),
                                 "camera": "keypoint-fit" if opts.camera_fit else "network"})
    if persons:  # one floor for the result, from every person (world frame), for every export
        from meshvid.scene.floor import with_floor

        # gravity in the floor's frame: camera 0's lines up for a still camera; the world's own
        # up when the world was levelled by the lines (a moving camera)
        floor_up = None if lines_up is None else (
            lines_up.up if cam_motion.is_static else np.array([0.0, -1.0, 0.0]))
        motion = with_floor(motion, body, floor_up)
    stem = claim.stem
    npz_path = save_npz(motion, outdir / f"{stem}.npz")
    claim.add(npz_path)
    claim.add(summary_path(npz_path))

    video_path = None
    if opts.render != "none" and single_image:
        from meshvid.pipeline.overlay_video import render_overlay_image

        t0 = time.perf_counter()
        video_path = render_overlay_image(source, persons, body, outdir / f"{stem}_overlay.png",
                                          focal=focal, side_view=opts.render == "side",
                                          keypoints=opts.keypoints)
        times.render = time.perf_counter() - t0
        claim.add(video_path)
    elif opts.render != "none":
        from meshvid.pipeline.overlay_video import render_overlay_video

        progress.start("rendering", num_frames)
        t0 = time.perf_counter()
        video_path = render_overlay_video(
            source, persons, body, outdir / f"{stem}_overlay.mp4", focal=focal,
            side_view=opts.render == "side", keypoints=opts.keypoints,
            audio=opts.max_frames is None, on_frame=progress.advance, camera=motion.camera)
        times.render = time.perf_counter() - t0
        claim.add(video_path)

    export_paths: list[Path] = []
    if opts.exports and persons:
        from meshvid.export.exporter import export_motion

        formats = parse_formats(list(opts.exports))
        n_blender = sum(f in BLENDER_FORMATS for f in formats)
        stages = [0]
        progress.start("exporting", 1 + ("bvh" in formats) + (2 + n_blender if n_blender else 0))

        def on_stage(name: str) -> None:
            stages[0] += 1
            progress.advance(stages[0])

        t0 = time.perf_counter()
        report = export_motion(motion, list(opts.exports), outdir / stem, preset=opts.preset,
                               body_model=body, on_stage=on_stage)
        export_paths = list(report.files)
        for path in export_paths:
            claim.add(path)
        times.export = time.perf_counter() - t0
    claim.finish()
    return InferResult(motion=motion, npz_path=npz_path, video_path=video_path,
                       export_paths=export_paths, num_frames=num_frames,
                       seconds=times, wall_seconds=time.perf_counter() - started,
                       camera_motion=cam_motion)
