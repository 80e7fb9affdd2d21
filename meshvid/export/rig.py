"""From saved motion to an animation rig in a world for animators (numpy; torch only to ask the
body model for its rest mesh).

Worlds and frames
-----------------
* Camera space (meshvid/geometry/camera.py): OpenCV, x right, y down, z forward.
* Export world: Blender's, right-handed, Z up. A level camera maps x -> X, y (down) -> -Z and
  z (forward) -> +Y, so the video camera looks along +Y and people facing it face -Y (Blender's
  "front" view). The floor is put at Z = 0 (the result's one floor, meshvid/scene/floor.py,
  estimated from the lowest points of all its bodies) and the camera stands above the origin. With `level=True` the camera's pitch/roll is also
  estimated from the people's mean "up" direction and removed, so people stand upright even
  when the video camera looked down at them.
* Rest pose: the body model's T-pose, body frame (y up, z out of the chest) rotated to Z up
  facing -Y, feet on the floor at the origin.

For each person and frame the rig holds every joint's world rotation `joint_rot` (the rotation
part of the skinning transform: rest world -> posed world) and world position `joint_pos`.
Exporters turn these into their own local channels: Blender bones (meshvid/export/
blender_worker.py, which knows its bones' rest orientation) and BVH (meshvid/export/bvh.py).
Lengths are in the preset's scene units (metres, or centimetres for Unreal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS
from meshvid.export.motion import MotionResult
from meshvid.export.presets import ExportPreset
from meshvid.export.skeletons import RigSpec, person_bone_names, rig_spec
from meshvid.scene.kinematics import (axis_angle_to_matrix, forward_kinematics,  # noqa: F401
                                      person_fk, skin)
from meshvid.scene.world import estimate_up, rotation_between  # noqa: F401

# Level OpenCV camera -> export world (Z up): (x, y, z) -> (x, z, -y).
CAMERA_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# SMPL body frame (y up, z front) -> export world (Z up, front -Y): (x, y, z) -> (x, -z, y).
BODY_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
ROOT_BONE_LENGTH_M = 0.2  # the floor-level root bone, pointing where the rest pose faces
# Blender camera axes (x right, y up, looking down -z) in OpenCV camera axes.
BLENDER_CAMERA_TO_OPENCV = np.diag([1.0, -1.0, -1.0])



@dataclass
class RigPerson:
    """One person's bones (B = the rig's bone count: 24 for SMPL and Mixamo, more with a root
    bone or the UE5 Mannequin's inserted bones), in the rig's bone order."""

    track_id: int
    name: str  # armature / mesh / action name, "person_<track id>"
    color: tuple[float, float, float]
    frame_ids: np.ndarray  # (T,) int: keyframes land on these source frames
    rest_vertices: np.ndarray  # (V, 3) world rest mesh, scene units
    faces: np.ndarray  # (F, 3) int
    weights: np.ndarray  # (V, B) skinning weights
    rest_joints: np.ndarray  # (B, 3) world rest joints (bone heads)
    bone_tails: np.ndarray  # (B, 3) world rest bone tails
    joint_rot: np.ndarray  # (T, B, 3, 3) world rotation of each joint (rest -> posed)
    joint_pos: np.ndarray  # (T, B, 3) world posed joint positions, scene units
    bone_names: tuple[str, ...] = SMPL_24  # unique in a file: namespaced when several people


@dataclass
class RigCamera:
    position: np.ndarray  # (3,) world, scene units (the first frame's, for a moving camera)
    rotation: np.ndarray  # (3, 3) Blender camera axes in the world (likewise)
    focal_px: float
    image_size: tuple[int, int]
    # a moving camera (meshvid/scene/world.py): per frame of the scene range (frame_start ..
    # frame_end), (N, 3) positions and (N, 3, 3) Blender camera axes; None for a still camera
    positions: np.ndarray | None = None
    rotations: np.ndarray | None = None


@dataclass
class RigScene:
    persons: list[RigPerson]
    fps: float
    frame_start: int
    frame_end: int
    preset: ExportPreset
    camera: RigCamera | None
    camera_to_world: np.ndarray  # (3, 3) rotation applied to camera-space points
    world_offset: np.ndarray  # (3,) metres, added after the rotation (floor at Z = 0)
    parents: tuple[int, ...] = SMPL_24_PARENTS
    joint_names: tuple[str, ...] = SMPL_24  # the rig's plain bone names (RigPerson has its own)
    located: tuple[int, ...] = (0,)  # bones with a location channel (root motion)
    rig: str = "smpl"
    rest_pose: str = "T-pose"
    notes: dict[str, float] = field(default_factory=dict)

    def to_world(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera-space points (..., 3) in metres -> world points in scene units."""
        world = points_cam @ self.camera_to_world.T + self.world_offset
        return world * self.preset.length_scale








def local_rotations(joint_rot: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """World joint rotations (T, J, 3, 3) -> rotations relative to the parent joint."""
    local = joint_rot.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            local[:, j] = np.swapaxes(joint_rot[:, p], -1, -2) @ joint_rot[:, j]
    return local


def local_translations(joint_rot: np.ndarray, joint_pos: np.ndarray, parents: tuple[int, ...],
                       located: tuple[int, ...]) -> np.ndarray:
    """Translation of each `located` bone relative to its parent, in the parent's rotated frame
    (the world position for a top bone): (T, J, 3, 3), (T, J, 3) -> (T, len(located), 3)."""
    out = np.empty((joint_pos.shape[0], len(located), 3))
    for k, j in enumerate(located):
        p = parents[j]
        if p < 0:
            out[:, k] = joint_pos[:, j]
        else:
            rel = joint_pos[:, j] - joint_pos[:, p]
            out[:, k] = (np.swapaxes(joint_rot[:, p], -1, -2) @ rel[..., None])[..., 0]
    return out


def resample_to_range(
    frame_ids: np.ndarray, local_rot: np.ndarray, local_pos: np.ndarray, start: int, end: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (start..end) local joint rotations and located-bone translations, filling gaps
    and holding the first/last pose outside the track.

    Gaps are filled like an animation package fills them between keys: each joint's local
    rotation is slerped and translations are interpolated linearly.
    local_rot (T, J, 3, 3), local_pos (T, 3) or (T, K, 3) at `frame_ids` -> (N, J, 3, 3) and
    translations shaped like the input with N rows.
    """
    frames = np.arange(start, end + 1)
    clamped = np.clip(frames, frame_ids[0], frame_ids[-1]).astype(np.float64)
    t, j = local_rot.shape[:2]
    flat = local_pos.reshape(t, -1)
    if t == 1:
        return (np.repeat(local_rot, len(frames), 0),
                np.repeat(local_pos, len(frames), 0))
    out_rot = np.empty((len(frames), j, 3, 3))
    for k in range(j):
        slerp = Slerp(frame_ids.astype(np.float64), Rotation.from_matrix(local_rot[:, k]))
        out_rot[:, k] = slerp(clamped).as_matrix()
    out_pos = np.stack([np.interp(clamped, frame_ids, flat[:, c]) for c in range(flat.shape[1])],
                       -1)
    return out_rot, out_pos.reshape(len(frames), *local_pos.shape[1:])


def local_forward_kinematics(local_rot: np.ndarray, local_pos: np.ndarray,
                             rest_joints: np.ndarray, parents: tuple[int, ...],
                             located: tuple[int, ...]) -> np.ndarray:
    """World joint positions (N, J, 3) from local rotations (N, J, 3, 3), the located bones'
    translations (N, K, 3) and, for the other bones, their rest offsets (J, 3)."""
    n = local_rot.shape[0]
    world = np.empty_like(local_rot)
    joints = np.empty((n, len(parents), 3))
    slot = {j: k for k, j in enumerate(located)}
    for j, p in enumerate(parents):
        offset = local_pos[:, slot[j]] if j in slot else (
            np.broadcast_to(rest_joints[j] - (rest_joints[p] if p >= 0 else 0.0), (n, 3)))
        if p < 0:
            world[:, j] = local_rot[:, j]
            joints[:, j] = offset if j in slot else rest_joints[j]
        else:
            world[:, j] = world[:, p] @ local_rot[:, j]
            joints[:, j] = joints[:, p] + (world[:, p] @ offset[..., None])[..., 0]
    return joints


def sample_world_joints(person: RigPerson, start: int, end: int,
                        parents: tuple[int, ...] = SMPL_24_PARENTS,
                        located: tuple[int, ...] | None = None) -> np.ndarray:
    """World joint positions (N, J, 3) for every frame start..end, interpolated between keys
    the way the exported files are (local slerp, linear translations) and held outside the
    track. `located`: bones with a location channel (default: the top bone)."""
    if located is None:
        located = tuple(j for j, p in enumerate(parents) if p < 0)
    local, pos = resample_to_range(
        person.frame_ids, local_rotations(person.joint_rot, parents),
        local_translations(person.joint_rot, person.joint_pos, parents, located), start, end)
    return local_forward_kinematics(local, pos, person.rest_joints, parents, located)






def estimate_camera_up(world_rots: list[np.ndarray], max_tilt_deg: float = 45.0) -> np.ndarray:
    """Mean body 'up' (the root's body-frame y axis) over all frames of joint rotations
    [(T, 24, 3, 3)], or the level camera's up when implausible (meshvid.scene.world.estimate_up)."""
    ups = [r[:, 0, :, 1] for r in world_rots]
    return estimate_up(np.concatenate(ups) if ups else np.zeros((0, 3)), max_tilt_deg)


def _bone_tails(rest_joints: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """(B, 3) bone tails: each bone points at its child (the one nearest the body's centre line
    where there are several: pelvis -> spine, chest -> neck); leaves continue their parent's
    direction by the same length."""
    children: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    tails = np.empty_like(rest_joints)
    for j in range(len(parents)):
        kids = children[j]
        if kids:
            child = min(kids, key=lambda k: abs(rest_joints[k, 0]))
            tails[j] = rest_joints[child]
        else:  # leaf: continue the parent bone's direction by the same length
            tails[j] = rest_joints[j] + (rest_joints[j] - rest_joints[parents[j]])
        if np.linalg.norm(tails[j] - rest_joints[j]) < 1e-3 * max(1.0, np.abs(rest_joints).max()):
            tails[j] = rest_joints[j] + np.array([0.0, 0.0, 0.05])  # degenerate: short bone up
    return tails


def _track_color(track_id: int) -> tuple[float, float, float]:
    # The overlay's palette, so a person has the same colour in the video and in the file.
    from meshvid.render.overlay import track_color

    return tuple(float(c) for c in track_color(track_id))


def _rest_posed(spec: RigSpec, rest_v: np.ndarray, rest_j: np.ndarray, weights: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rig's rest pose applied to the body's rest mesh: mesh (V, 3), joints (24, 3) and the
    world rotation (24, 3, 3) taking the body's rest pose to the rig's (identity: T-pose)."""
    local = np.tile(np.eye(3), (len(SMPL_24_PARENTS), 1, 1))
    for j, rotvec in spec.rest_pose.items():
        local[j] = Rotation.from_rotvec(rotvec).as_matrix()
    world_rot, joints = forward_kinematics(local[None], rest_j)
    if not spec.rest_pose:
        return rest_v, rest_j, world_rot[0]
    verts = skin(rest_v, rest_j, weights, world_rot, joints)[0]
    return verts, joints[0], world_rot[0]


def _expand_bones(spec: RigSpec, rest_j: np.ndarray, joint_rot: np.ndarray,
                  joint_pos: np.ndarray, weights: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SMPL joints (24) -> the rig's bones (B): rest heads (B, 3), rotations (T, B, 3, 3),
    positions (T, B, 3), skinning weights (V, B). World frame, scene units."""
    n_b, t = len(spec.bones), joint_rot.shape[0]
    pelvis = SMPL_24.index("pelvis")
    rest = np.empty((n_b, 3))
    rot = np.empty((t, n_b, 3, 3))
    pos = np.empty((t, n_b, 3))
    w = np.zeros((weights.shape[0], n_b), dtype=weights.dtype)
    for i, bone in enumerate(spec.bones):
        if bone.joint is not None:
            rest[i], rot[:, i], pos[:, i] = rest_j[bone.joint], joint_rot[:, bone.joint], \
                joint_pos[:, bone.joint]
            w[:, i] = weights[:, bone.joint]
        elif bone.root:  # on the floor under the pelvis, horizontal motion only
            rest[i] = rest_j[pelvis] * np.array([1.0, 1.0, 0.0])
            rot[:, i] = np.eye(3)
            pos[:, i] = joint_pos[:, pelvis] * np.array([1.0, 1.0, 0.0])
        else:  # inserted: on the segment, no rotation of its own
            a, b, f = bone.between
            p = bone.parent
            rest[i] = (1 - f) * rest_j[a] + f * rest_j[b]
            rot[:, i] = rot[:, p]
            pos[:, i] = pos[:, p] + (rot[:, p] @ (rest[i] - rest[p]))
    return rest, rot, pos, w


def _camera_notes(floor: float, tilt: float) -> dict[str, float]:
    """The camera's height above the floor, where the floor is where the people stand (the
    world origin is at their feet). A floor *above* the camera is not a negative height: the
    people stand on something higher than the lens (the sports2d demo's person 1 on a utility
    box, a stage), or the camera looks up and --level was not asked for. Then the notes say
    `floor_above_camera_m` instead, and the exporter's caller can say so in words."""
    if floor > 0.0:
        return {"floor_above_camera_m": floor, "camera_tilt_removed_deg": tilt}
    return {"camera_height_m": -floor, "camera_tilt_removed_deg": tilt}


def build_rig(
    result: MotionResult,
    body_model,
    preset: ExportPreset,
    *,
    level: bool = False,
    with_camera: bool = True,
    rig: str | RigSpec = "smpl",
    root_bone: bool = False,
    camera_path=None,
) -> RigScene:
    """Everything the exporters need, for every person of `result` (select tracks before).

    The floor is `result.floor` (estimated once from all people of the result and stored in
    the NPZ); a result without one gets a floor estimated from the people it holds.
    Uses the body model's rest_shape, faces and lbs_weights only.

    Args:
        result: the people to export.
        body_model: the result's body model.
        preset: axes/units (meshvid/export/presets.py).
        level: remove the camera pitch/roll (the floor's `up` instead of the camera's).
        with_camera: add the video camera.
        rig: `smpl`, `mixamo`, `ue5` or a RigSpec (meshvid/export/skeletons.py).
        root_bone: add a floor-level root bone carrying the horizontal motion.
        camera_path: the video camera's world -> camera path (meshvid.scene.records.
            CameraPath) when `result` is in the world frame of a moving camera
            (meshvid.scene.world.result_in_world): the camera object follows it.
    Returns:
        RigScene in the preset's units, the floor at Z = 0.
    """
    from meshvid.scene.floor import estimate_floor, rest_shape

    if not result.persons:
        from meshvid.errors import InputError

        raise InputError("nothing to export: the result holds no tracked person")
    spec = rig if isinstance(rig, RigSpec) else rig_spec(rig, root_bone=root_bone)
    s = preset.length_scale
    faces = np.asarray(body_model.faces, dtype=np.int64)
    weights = body_model.lbs_weights.detach().cpu().numpy().astype(np.float32)
    floor = result.floor if result.floor is not None else estimate_floor(result, body_model)
    up, camera_height = floor.plane(level)
    camera_to_world = CAMERA_TO_WORLD @ rotation_between(up, np.array([0.0, -1.0, 0.0]))
    world_offset = np.array([0.0, 0.0, camera_height])  # a point's Z = its height above floor

    several = len(result.persons) > 1
    persons: list[RigPerson] = []
    for person in result.persons:
        rest_v, rest_j = rest_shape(body_model, person.betas)
        world_rot, joints_cam = person_fk(person, rest_j)
        rest_v, rest_j, rest_rot = _rest_posed(spec, rest_v, rest_j, weights)
        world_rot = world_rot @ np.swapaxes(rest_rot, -1, -2)  # from the rig's rest pose
        rest_v_w = rest_v @ BODY_TO_WORLD.T
        lift = np.array([0.0, 0.0, -rest_v_w[:, 2].min()])  # rest pose stands on the floor
        rest_v_w = (rest_v_w + lift) * s
        rest_j_w = (rest_j @ BODY_TO_WORLD.T + lift) * s
        joint_rot = camera_to_world @ world_rot @ BODY_TO_WORLD.T
        joint_pos = (joints_cam @ camera_to_world.T + world_offset) * s
        bone_rest, bone_rot, bone_pos, bone_w = _expand_bones(spec, rest_j_w, joint_rot,
                                                              joint_pos, weights)
        tails = _bone_tails(bone_rest, spec.parents)
        for i, bone in enumerate(spec.bones):
            if bone.root:  # points forward along the floor: a tail on the pelvis would make
                # importers connect the pelvis to it and drop the pelvis' location keys
                tails[i] = bone_rest[i] + np.array([0.0, -ROOT_BONE_LENGTH_M * s, 0.0])
        persons.append(RigPerson(
            track_id=person.track_id,
            name=f"person_{person.track_id}",
            color=_track_color(person.track_id),
            frame_ids=person.frame_ids.copy(),
            rest_vertices=rest_v_w.astype(np.float32),
            faces=faces,
            weights=bone_w,
            rest_joints=bone_rest,
            bone_tails=tails,
            joint_rot=bone_rot,
            joint_pos=bone_pos,
            bone_names=person_bone_names(spec, person.track_id, several),
        ))

    start, end = result.frame_range()
    camera = None
    if with_camera:
        camera = RigCamera(
            position=world_offset * s,
            rotation=camera_to_world @ BLENDER_CAMERA_TO_OPENCV,
            focal_px=result.focal_length,
            image_size=result.image_size,
        )
        if camera_path is not None and not camera_path.is_static:
            R, t = camera_path.at(np.arange(start, end + 1))
            centres = -np.einsum("fji,fj->fi", R, t)  # camera centre in the world: -R^T t
            camera.positions = (centres @ camera_to_world.T + world_offset) * s
            camera.rotations = camera_to_world @ np.swapaxes(R, -1, -2) @ BLENDER_CAMERA_TO_OPENCV
            camera.position, camera.rotation = camera.positions[0], camera.rotations[0]
    tilt = float(np.degrees(np.arccos(np.clip(up @ np.array([0.0, -1.0, 0.0]), -1, 1))))
    return RigScene(
        persons=persons, fps=result.fps, frame_start=start, frame_end=end, preset=preset,
        camera=camera, camera_to_world=camera_to_world, world_offset=world_offset,
        parents=spec.parents, joint_names=spec.names, located=spec.located, rig=spec.name,
        rest_pose=spec.rest_pose_name,
        notes=_camera_notes(-camera_height, tilt),
    )
