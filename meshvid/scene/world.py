"""The world frame, gravity, and people moved between camera and world.

World frame
-----------
* Origin: the first frame's camera centre. Axes: OpenCV-like (x right, y down, z forward, as
  meshvid/geometry/camera.py states for cameras), metres, but *levelled*: y is gravity (down),
  so the floor is a plane of constant y; x and z are the first frame's camera axes turned
  about the smallest rotation that makes its "down" the gravity direction (no yaw added).
* Gravity is the people's mean "up" (their pelvis' y axis, `estimate_up`) over all frames,
  each frame's taken back into the first camera's axes; a mean more than 45 degrees from the
  camera's own up, or no consensus, leaves the first camera level.
* A still camera (`CameraMotion.is_static`) gives the identity path: the world *is* the
  camera frame, exactly, as before camera motion existed (the exporters' `--level` still
  removes a tilt from it as before). Only a moving camera is levelled.

`CameraPath` (meshvid/scene/records.py) holds the world -> camera extrinsics per frame:
`X_cam = R[f] @ X_world + t[f]`. For a person the body model's translation `transl` is
defined by "root joint = rest_joints[0] + transl" and the root rotation turns the body about
that root joint, so a rigid change of frame X' = A X + b maps

    root orientation  R_root' = A R_root
    transl'           = A (J0 + transl) + b - J0       (J0 = rest_joints[0], body frame)
    joints, keypoints = A X + b

and the rest of the pose (each joint relative to its parent) is unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from meshvid.errors import InputError
from meshvid.scene.records import CameraPath

LEVEL_UP = np.array([0.0, -1.0, 0.0])  # a level OpenCV camera's (and the world's) up


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking unit vector a (3,) to unit vector b (3,)."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a)
    b = np.asarray(b, np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return Rotation.from_rotvec(np.pi * perp / np.linalg.norm(perp)).as_matrix()
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def estimate_up(ups: np.ndarray, max_tilt_deg: float = 45.0) -> np.ndarray:
    """Gravity's "up" (3,) from many body up vectors (N, 3), in the same axes.

    Standing and walking people keep their pelvis roughly upright, so the mean is a good
    gravity estimate. Returns the level camera's up (0, -1, 0) when there is no consensus (a
    mean shorter than 0.5) or the mean is more than `max_tilt_deg` from it (people lying down,
    acrobatics).
    """
    ups = np.asarray(ups, np.float64).reshape(-1, 3)
    if len(ups) == 0:
        return LEVEL_UP.copy()
    up = ups.mean(axis=0)
    norm = np.linalg.norm(up)
    if norm < 0.5:
        return LEVEL_UP.copy()
    up = up / norm
    if np.degrees(np.arccos(np.clip(up @ LEVEL_UP, -1.0, 1.0))) > max_tilt_deg:
        return LEVEL_UP.copy()
    return up


def body_ups(persons, rotations: list[np.ndarray] | None = None) -> np.ndarray:
    """(N, 3) every person-frame's body up (the root rotation's y column), in the axes of the
    rows' own camera, or turned by `rotations` (one (T, 3, 3) per person, applied per row)."""
    ups = []
    for k, p in enumerate(persons):
        root = Rotation.from_rotvec(np.asarray(p.pose[:, 0], np.float64)).as_matrix()  # (T,3,3)
        up = root[:, :, 1]
        if rotations is not None:
            up = np.einsum("tij,tj->ti", rotations[k], up)
        ups.append(up)
    return np.concatenate(ups) if ups else np.zeros((0, 3))


def people_up(motion, persons) -> np.ndarray:
    """Gravity's up (3,) in camera-0 axes from the people's pelvis ups, each row's turned back
    into the first camera by the camera motion (estimate_up; the level camera's up without a
    consensus)."""
    if motion.is_static:
        return estimate_up(body_ups(persons))
    n = motion.num_frames
    to_first = [np.swapaxes(motion.R[np.clip(p.frame_ids, 0, n - 1)], -1, -2) for p in persons]
    return estimate_up(body_ups(persons, to_first))


def world_camera(motion, persons, up0: np.ndarray | None = None) -> CameraPath:
    """The world -> camera path of a clip from its camera motion and its people.

    Args:
        motion: meshvid.scene.camera_motion.CameraMotion (camera-0 -> camera-f, R (F, 3, 3),
            t (F, 3)).
        persons: the clip's PersonMotion records in camera space (for gravity).
        up0: gravity's up in camera-0 axes when already known (the scene's plumb lines,
            meshvid.scene.vanishing, or `people_up`); None: `people_up` here.
    Returns:
        CameraPath with F frames: identity when the camera is still; otherwise
        R[f] = motion.R[f] @ L, t[f] = motion.t[f], with L the world -> camera-0 levelling
        rotation (gravity's up0).
    """
    if motion.is_static:
        return CameraPath.still(motion.num_frames)
    if up0 is None:
        up0 = people_up(motion, persons)  # gravity's up in camera-0 axes
    level = rotation_between(LEVEL_UP, up0)  # world -> camera 0: world up goes to up0
    return CameraPath(R=motion.R @ level, t=np.asarray(motion.t, np.float64))


def root_offset(person) -> np.ndarray:
    """(3,) J0: the root joint's rest position, body frame (the `transl` convention)."""
    if person.rest_joints is not None and np.isfinite(person.rest_joints[0]).all():
        return np.asarray(person.rest_joints[0], np.float64)
    if person.joints3d is not None:
        return np.mean(person.joints3d[:, 0].astype(np.float64) - person.transl, axis=0)
    raise InputError(f"track {person.track_id}: moving it to the world frame needs its rest "
                     "joints or joints3d (re-run `meshvid infer`)")


def transform_person(person, A: np.ndarray, b: np.ndarray):
    """The person moved rigidly per frame by X' = A[t] X + b[t].

    Args:
        person: PersonMotion (T frames).
        A: (T, 3, 3) rotations; b: (T, 3) translations, metres.
    Returns:
        PersonMotion with root orientation, `transl`, `joints3d` and `keypoints3d` moved (the
        other joints' rotations, the image observations and the shape unchanged).
    """
    A = np.asarray(A, np.float64)
    b = np.asarray(b, np.float64)
    j0 = root_offset(person)
    pose = np.array(person.pose, np.float64)
    root = Rotation.from_rotvec(pose[:, 0]).as_matrix()
    pose[:, 0] = Rotation.from_matrix(A @ root).as_rotvec()
    root_pos = np.einsum("tij,tj->ti", A, j0 + person.transl.astype(np.float64)) + b
    moved = {}
    for name in ("joints3d", "keypoints3d"):
        value = getattr(person, name)
        if value is not None:
            moved[name] = (np.einsum("tij,tkj->tki", A, value.astype(np.float64))
                           + b[:, None, :]).astype(np.float32)
    return replace(person, pose=pose.astype(np.float32),
                   transl=(root_pos - j0).astype(np.float32), **moved)


def person_to_world(person, path: CameraPath):
    """A camera-space PersonMotion in the world frame of `path` (X_w = R^T (X_c - t))."""
    R, t = path.at(person.frame_ids)
    Rt = np.swapaxes(R, -1, -2)
    return transform_person(person, Rt, -np.einsum("tij,tj->ti", Rt, t))


def person_to_camera(person, path: CameraPath):
    """Inverse of `person_to_world`: a world-frame PersonMotion back in its cameras."""
    R, t = path.at(person.frame_ids)
    return transform_person(person, R, t)


def is_moving(result) -> bool:
    """Whether `result` (MotionResult) has a camera path that is not the identity."""
    return result.camera is not None and not result.camera.is_static


def result_in_world(result):
    """`result` with every person in the world frame (camera = None: nothing left to undo).

    A result without a camera path, or with a still one, is returned as it is (the world is
    the camera frame): still clips are exported exactly as before camera motion existed.
    """
    if not is_moving(result):
        return result
    return replace(result, persons=[person_to_world(p, result.camera) for p in result.persons],
                   camera=None)


def result_in_camera(world_result, path: CameraPath | None):
    """Inverse of `result_in_world`: a world-frame result back in the cameras of `path`."""
    if path is None or path.is_static:
        return replace(world_result, camera=path)
    return replace(world_result, persons=[person_to_camera(p, path)
                                          for p in world_result.persons], camera=path)


def world_rows(person, path: CameraPath | None) -> dict[str, np.ndarray]:
    """The NPZ's per-row world keys of one person: `joints3d_world` (T, 24, 3) (NaN when the
    person has no joints3d), `transl_world` (T, 3), `global_orient_world` (T, 3) axis-angle."""
    w = person if path is None or path.is_static else person_to_world(person, path)
    joints = (w.joints3d if w.joints3d is not None
              else np.full((len(person), 24, 3), np.nan, np.float32))
    return {"joints3d_world": joints.astype(np.float32),
            "transl_world": w.transl.astype(np.float32),
            "global_orient_world": w.pose[:, 0].astype(np.float32)}
