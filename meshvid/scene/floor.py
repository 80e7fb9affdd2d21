"""One floor per result: estimated once from every person's skinned mesh, stored in the NPZ.

The floor is where the lowest points of the bodies are: for each person and sampled frame the
lowest skinned vertex along "up", then a low percentile over all people and frames (robust to
jumps and to a few bad frames). It is estimated twice, once along the level camera's up
(0, -1, 0) and once along the people's mean up direction (what `--level` removes), and kept
as a `meshvid.export.motion.Floor`.

Exporting a subset of the people (`--track-ids`) reuses the floor of the whole result instead
of re-estimating it from fewer people, so every file made from one result stands on the same
ground. The floor is in the frame of the people it is given: `meshvid infer` gives it the
world-frame people (meshvid/scene/world.py), which for a still camera are the camera-space
people.
"""

from __future__ import annotations

import numpy as np

from meshvid.export.motion import Floor, MotionResult
from meshvid.scene.kinematics import person_fk, skin
from meshvid.scene.world import LEVEL_UP, estimate_up

SKIN_CHUNK = 16  # frames skinned at once (a (16, V, 12) float64 buffer: ~11 MB for anny24)


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
                   percentile: float = 2.0, up: np.ndarray | None = None) -> Floor:
    """The floor of `result` from all its people.

    Args:
        result: every person of the clip (select no subset before).
        body_model: the result's body model (rest mesh, skinning weights).
        ground_frames: frames sampled per person (evenly) for the lowest vertex.
        percentile: percentile of the per-frame lowest points taken as the floor.
        up: gravity's up in the result's frame when known otherwise (the scene's plumb lines);
            None: the people's mean pelvis up.
    Returns:
        Floor with the people's mean up and the camera height above the floor along the
        level camera's up (0, -1, 0) and along that mean up, metres: in the frame the people
        are in (camera space, or the world frame for `meshvid.scene.world.result_in_world`).
    """
    if not result.persons:
        from meshvid.errors import InputError

        raise InputError("cannot estimate a floor: the result holds no tracked person")
    weights = body_model.lbs_weights.detach().cpu().numpy().astype(np.float64)
    posed = []
    for person in result.persons:
        rest_v, rest_j = rest_shape(body_model, person.betas)
        world_rot, joints = person_fk(person, rest_j)
        posed.append((rest_v, rest_j, world_rot, joints))
    if up is None:
        up = estimate_up(np.concatenate([p[2][:, 0, :, 1] for p in posed]))  # mean pelvis up
    else:
        up = np.asarray(up, np.float64) / np.linalg.norm(up)
    # Per sampled frame, the lowest vertex along both axes. Meshes are skinned a few frames
    # at a time and reduced at once: holding every person's sampled meshes took ~0.7 GB on
    # vtest.avi (21 people), the peak of the whole `meshvid infer` run.
    axes = np.stack([LEVEL_UP, up], axis=1)  # (3, 2)
    lows = []
    for rest_v, rest_j, world_rot, joints in posed:
        sel = slice(None, None, max(1, len(world_rot) // ground_frames))
        world_rot, joints = world_rot[sel], joints[sel]
        for i in range(0, len(world_rot), SKIN_CHUNK):
            verts = skin(rest_v, rest_j, weights, world_rot[i:i + SKIN_CHUNK],
                         joints[i:i + SKIN_CHUNK])  # (F, V, 3)
            lows.append((verts @ axes).min(axis=1))  # (F, 2)
    lows_all = np.concatenate(lows)
    heights = [-float(np.percentile(lows_all[:, k], percentile)) for k in range(2)]
    return Floor(up=up, height=heights[0], height_levelled=heights[1])


def with_floor(result: MotionResult, body_model, up: np.ndarray | None = None) -> MotionResult:
    """`result` with its floor: the stored one, or one estimated now from all its people in
    the world frame (meshvid/scene/world.py; the camera frame for a still camera), with
    gravity's `up` in that frame when known (else the people's mean up)."""
    from dataclasses import replace

    from meshvid.scene.world import result_in_world

    if result.floor is not None:
        return result
    return replace(result, floor=estimate_floor(result_in_world(result), body_model, up=up))
