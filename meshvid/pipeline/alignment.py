"""How well the mesh sits on the person in the image, measurable on any real clip.

For every detected person-frame of a result (frames the tracker bridged are skipped: their 2D
keypoints are interpolations, not observations), the mesh's COCO-17 keypoints (`keypoints3d`,
camera space) are projected with the result's own camera (focal length, principal point at the
image centre) and compared with the detector's keypoints whose confidence is above
`min_score`. The error of a keypoint is its pixel distance divided by the height of the
person's box, so people near and far count alike.

`meshvid bench align RESULT.npz` prints the mean and the fraction within 5 % (docs/infer.md).
Results without `keypoints3d` (older NPZs) get them from the body model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meshvid.body.joints import COCO_17
from meshvid.export.motion import MotionResult, PersonMotion


@dataclass
class Alignment:
    errors: np.ndarray  # (M,) per-keypoint error, fraction of the box height
    joint: np.ndarray  # (M,) COCO-17 index of each error
    track: np.ndarray  # (M,) track id of each error
    person_frames: int  # detected person-frames measured

    def summary(self, within: float = 0.05) -> dict:
        e = self.errors
        out = {"keypoints": int(len(e)), "person_frames": self.person_frames,
               "mean_pct": round(100 * float(e.mean()), 2) if len(e) else None,
               "median_pct": round(100 * float(np.median(e)), 2) if len(e) else None,
               f"within_{round(100 * within)}pct": round(float((e <= within).mean()), 3)
               if len(e) else None}
        out["per_keypoint_mean_pct"] = {
            COCO_17[j]: round(100 * float(e[self.joint == j].mean()), 2)
            for j in range(len(COCO_17)) if (self.joint == j).any()}
        return out


def person_keypoints3d(result: MotionResult, person: PersonMotion, body_model=None) -> np.ndarray:
    """(T, 17, 3) camera-space COCO-17 keypoints of the mesh (stored, or from the body model)."""
    if person.keypoints3d is not None:
        return person.keypoints3d
    import torch

    if body_model is None:
        from meshvid.body import load_body_model

        body_model = load_body_model(result.body_model)
    with torch.inference_mode():
        out = body_model(torch.as_tensor(person.pose).float(),
                         torch.as_tensor(person.betas[None]).float(),
                         torch.as_tensor(person.transl).float())
    return out.coco17.numpy()


def measure_alignment(result: MotionResult, *, min_score: float = 0.5, body_model=None
                      ) -> Alignment:
    """Projected mesh keypoints vs detector keypoints (see module doc).

    Args:
        result: a MotionResult with keypoints2d, keypoint_scores and boxes per person.
        min_score: detector confidence above which a keypoint is compared.
        body_model: used only when the result has no keypoints3d.

    Returns:
        Alignment: the per-keypoint errors (fraction of box height) and their labels.
    """
    f = result.focal_length
    c = np.array(result.image_size, np.float64) / 2.0
    errs, joints, tracks, frames = [], [], [], 0
    for p in result.persons:
        if p.keypoints2d is None or p.keypoint_scores is None or p.boxes is None:
            continue
        kp3 = person_keypoints3d(result, p, body_model).astype(np.float64)
        seen = ~p.interpolated if p.interpolated is not None else np.ones(len(p), bool)
        z = np.clip(kp3[..., 2:3], 1e-3, None)
        proj = f * kp3[..., :2] / z + c  # (T, 17, 2)
        height = np.clip(p.boxes[:, 3] - p.boxes[:, 1], 1.0, None)  # (T,)
        err = np.linalg.norm(proj - p.keypoints2d, axis=-1) / height[:, None]  # (T, 17)
        use = (p.keypoint_scores > min_score) & seen[:, None] & np.isfinite(err)
        frames += int((use.any(1)).sum())
        rows, cols = np.nonzero(use)
        errs.append(err[rows, cols])
        joints.append(cols)
        tracks.append(np.full(len(cols), p.track_id))
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return Alignment(cat(errs, np.float64), cat(joints, np.int64), cat(tracks, np.int64), frames)


def root_depth_jumps(result: MotionResult, max_gap: int = 1) -> dict:
    """Largest frame-to-frame change of the root joint (metres) over consecutive frames of
    each track: {"max_m": ..., "per_track": {id: ...}} (needs joints3d)."""
    per = {}
    for p in result.persons:
        if p.joints3d is None or len(p) < 2:
            continue
        root = p.joints3d[:, 0].astype(np.float64)
        consecutive = np.diff(p.frame_ids) <= max_gap
        if not consecutive.any():
            continue
        step = np.linalg.norm(np.diff(root, axis=0), axis=-1)[consecutive]
        dz = np.abs(np.diff(root[:, 2]))[consecutive]
        per[p.track_id] = {"max_step_m": round(float(step.max()), 3),
                           "max_depth_step_m": round(float(dz.max()), 3)}
    return {"max_step_m": max((v["max_step_m"] for v in per.values()), default=None),
            "max_depth_step_m": max((v["max_depth_step_m"] for v in per.values()), default=None),
            "per_track": per}
