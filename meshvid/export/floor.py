"""One floor per result: estimated once from every person's skinned mesh, stored in the NPZ.

The floor is where the lowest points of the bodies are: for each person and sampled frame the
lowest skinned vertex along "up", then a low percentile over all people and frames (robust to
jumps and to a few bad frames). It is estimated twice, once along the level camera's up
(0, -1, 0) and once along the people's mean up direction (what `--level` removes), and kept
as a `meshvid.export.motion.Floor`. Exporting a subset of the people (`--track-ids`) reuses the
floor of the whole result instead of re-estimating it from fewer people, so every file made
from one result stands on the same ground.
"""

from __future__ import annotations

import numpy as np

from meshvid.export.motion import Floor, MotionResult

LEVEL_UP = np.array([0.0, -1.0, 0.0])  # a level OpenCV camera's up direction


def rest_shape(body_model, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The body model's rest mesh (V, 3) and rest joints (24, 3), body frame, float64.

    Args:
        body_model: a meshvid/body/base.py BodyModel.
        betas: (10,) shape coefficients.
    """
    import torch

    with torch.no_grad():
        verts, joints = body_model.rest_shape(torch.as_tensor(np.asarray(betas)[None]).float())
    return (verts[0].cpu().numpy().astype(np.float64),
            joints[0].cpu().numpy().astype(np.float64))


def estimate_floor(result: MotionResult, body_model, *, ground_frames: int = 120,
                   percentile: float = 2.0) -> Floor:
    """The floor of `result` from all its people.

    Args:
        result: every person of the clip (select no subset before).
        body_model: the result's body model (rest mesh, skinning weights).
        ground_frames: frames sampled per person (evenly) for the lowest vertex.
        percentile: percentile of the per-frame lowest points taken as the floor.
    Returns:
        Floor with the people's mean up (camera space) and the camera height above the floor
        along the level camera's up and along that mean up, metres.
    """
    from meshvid.export.rig import estimate_camera_up, person_fk, skin

    if not result.persons:
        from meshvid.errors import InputError

        raise InputError("cannot estimate a floor: the result holds no tracked person")
    weights = body_model.lbs_weights.detach().cpu().numpy().astype(np.float64)
    fk, lowest_verts = [], []
    for person in result.persons:
        rest_v, rest_j = rest_shape(body_model, person.betas)
        world_rot, joints = person_fk(person, rest_j)
        fk.append(world_rot)
        sel = slice(None, None, max(1, len(person) // ground_frames))
        lowest_verts.append(skin(rest_v, rest_j, weights, world_rot[sel], joints[sel]))
    up = estimate_camera_up(fk)
    heights = []
    for axis in (LEVEL_UP, up):
        lows = np.concatenate([(v @ axis).min(axis=1) for v in lowest_verts])
        heights.append(-float(np.percentile(lows, percentile)))
    return Floor(up=up, height=heights[0], height_levelled=heights[1])


def with_floor(result: MotionResult, body_model) -> MotionResult:
    """`result` with its floor: the stored one, or one estimated now from all its people."""
    from dataclasses import replace

    if result.floor is not None:
        return result
    return replace(result, floor=estimate_floor(result, body_model))
