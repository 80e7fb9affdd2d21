"""Bone names, hierarchies and rest poses of the rigs the exporters write (`--rig`).

Every rig is driven by the body's 24 SMPL joints; a rig only renames them, may insert bones
that carry no rotation of their own (the UE5 Mannequin has five spine bones where SMPL has
three), may add a floor-level `root` bone for game-engine root motion, and may bind the mesh
in another rest pose:

| rig | names | rest pose | extra bones |
|---|---|---|---|
| `smpl` (default) | SMPL_24 (`pelvis`, `left_knee`, ...) | the body model's T-pose | none |
| `mixamo` | Mixamo's `mixamorig:Hips`, `mixamorig:LeftUpLeg`, ... | T-pose (arms horizontal) | none |
| `ue5` | UE5 Mannequin's `pelvis`, `thigh_l`, `spine_01`...`spine_05`, ... | A-pose, upper arms 45 deg down | `root`, `spine_02`, `spine_04`, `neck_02` |

An inserted bone sits on the segment between two SMPL joints, has an identity local
rotation and no skinning weight, so it changes no joint position and no vertex.
`--root-bone` (always on for `ue5`, whose skeleton starts with `root`) adds `root` at the floor
under the pelvis; it carries the pelvis' horizontal motion (rotation identity), and the pelvis
moves relative to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS
from meshvid.errors import InputError

ROOT = "root"


@dataclass(frozen=True)
class Bone:
    name: str
    parent: int  # index of the parent bone in RigSpec.bones, -1 for the top bone
    joint: int | None = None  # SMPL_24 joint whose rotation/position the bone follows
    # Inserted bone: head at lerp(rest[a], rest[b], t) of SMPL_24 joints a, b; local rotation 0.
    between: tuple[int, int, float] | None = None
    root: bool = False  # the floor-level root bone


@dataclass(frozen=True)
class RigSpec:
    name: str
    bones: tuple[Bone, ...]  # parents before children
    # Rest pose: SMPL_24 joint -> local axis-angle (body frame: x left, y up, z front).
    rest_pose: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    rest_pose_name: str = "T-pose"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bones)

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(b.parent for b in self.bones)

    @property
    def located(self) -> tuple[int, ...]:
        """Bones with a location channel: the top bone, and the pelvis under a root bone."""
        pelvis = SMPL_24.index("pelvis")
        return tuple(i for i, b in enumerate(self.bones) if b.parent < 0 or b.joint == pelvis)

    def bone_of_joint(self, joint: int) -> int:
        return next(i for i, b in enumerate(self.bones) if b.joint == joint)


_MIXAMO = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "spine1": "Spine",
    "left_knee": "LeftLeg", "right_knee": "RightLeg", "spine2": "Spine1",
    "left_ankle": "LeftFoot", "right_ankle": "RightFoot", "spine3": "Spine2",
    "left_foot": "LeftToeBase", "right_foot": "RightToeBase", "neck": "Neck",
    "left_collar": "LeftShoulder", "right_collar": "RightShoulder", "head": "Head",
    "left_shoulder": "LeftArm", "right_shoulder": "RightArm", "left_elbow": "LeftForeArm",
    "right_elbow": "RightForeArm", "left_wrist": "LeftHand", "right_wrist": "RightHand",
    "left_hand": "LeftHandMiddle1", "right_hand": "RightHandMiddle1",
}
_UE5 = {
    "pelvis": "pelvis", "left_hip": "thigh_l", "right_hip": "thigh_r", "spine1": "spine_01",
    "left_knee": "calf_l", "right_knee": "calf_r", "spine2": "spine_03",
    "left_ankle": "foot_l", "right_ankle": "foot_r", "spine3": "spine_05",
    "left_foot": "ball_l", "right_foot": "ball_r", "neck": "neck_01",
    "left_collar": "clavicle_l", "right_collar": "clavicle_r", "head": "head",
    "left_shoulder": "upperarm_l", "right_shoulder": "upperarm_r", "left_elbow": "lowerarm_l",
    "right_elbow": "lowerarm_r", "left_wrist": "hand_l", "right_wrist": "hand_r",
    "left_hand": "middle_metacarpal_l", "right_hand": "middle_metacarpal_r",
}
# UE5 bones SMPL lacks, inserted halfway: name -> (parent SMPL joint, child SMPL joint).
_UE5_INSERTED = {"spine_02": ("spine1", "spine2"), "spine_04": ("spine2", "spine3"),
                 "neck_02": ("neck", "head")}
A_POSE_DEG = 45.0  # UE5 Mannequin: upper arms about 45 deg below horizontal

RIGS = ("smpl", "mixamo", "ue5")


def _renamed(names: dict[str, str], prefix: str = "") -> list[Bone]:
    return [Bone(prefix + names[n], p, joint=j) for j, (n, p) in
            enumerate(zip(SMPL_24, SMPL_24_PARENTS))]


def _insert(bones: list[Bone], name: str, a: int, b: int) -> list[Bone]:
    """Insert `name` between the bones of SMPL joints a (parent) and b (child)."""
    ia = next(i for i, x in enumerate(bones) if x.joint == a)
    ib = next(i for i, x in enumerate(bones) if x.joint == b)
    new = Bone(name, ia, between=(a, b, 0.5))
    out = bones[:ia + 1] + [new] + bones[ia + 1:]  # right after its parent: parents first

    def fix(i: int) -> int:  # indices after the insertion point move by one
        return i + 1 if i > ia else i

    out = [x if k == ia + 1 else Bone(x.name, fix(x.parent) if x.parent >= 0 else -1, x.joint,
                                      x.between, x.root) for k, x in enumerate(out)]
    ib = fix(ib)
    out[ib] = Bone(out[ib].name, ia + 1, out[ib].joint, out[ib].between, out[ib].root)
    return out


def _with_root(bones: list[Bone]) -> list[Bone]:
    shifted = [Bone(b.name, b.parent + 1 if b.parent >= 0 else 0, b.joint, b.between, b.root)
               for b in bones]
    return [Bone(ROOT, -1, root=True)] + shifted


def rig_spec(name: str = "smpl", *, root_bone: bool = False) -> RigSpec:
    """The rig `name` (smpl, mixamo, ue5), with a floor-level root bone when `root_bone`.

    Raises InputError for an unknown rig name.
    """
    key = name.lower()
    if key == "smpl":
        bones = _renamed({n: n for n in SMPL_24})
        rest: dict[int, tuple[float, float, float]] = {}
        pose_name = "T-pose (the body model's rest pose)"
    elif key == "mixamo":
        bones = _renamed(_MIXAMO, "mixamorig:")
        rest, pose_name = {}, "T-pose"
    elif key == "ue5":
        bones = _renamed(_UE5)
        for new, (a, b) in _UE5_INSERTED.items():
            bones = _insert(bones, new, SMPL_24.index(a), SMPL_24.index(b))
        import math

        a = math.radians(A_POSE_DEG)
        # Body frame: x to the body's left, z out of the chest. Rotating the left upper arm by
        # -a about z takes +x (pointing left) down; the right arm mirrors it.
        rest = {SMPL_24.index("left_shoulder"): (0.0, 0.0, -a),
                SMPL_24.index("right_shoulder"): (0.0, 0.0, a)}
        pose_name = f"A-pose (upper arms {A_POSE_DEG:g} deg below horizontal)"
        root_bone = True
    else:
        raise InputError(f"unknown rig {name!r}; choose one of: {', '.join(RIGS)}")
    if root_bone:
        bones = _with_root(bones)
    return RigSpec(name=key, bones=tuple(bones), rest_pose=rest, rest_pose_name=pose_name)


def person_bone_names(spec: RigSpec, track_id: int, several: bool) -> tuple[str, ...]:
    """Bone names for one person: the rig's plain names in a one-person file, and
    `person_<id>:<name>` when a file holds several people (every bone name unique in the file,
    a namespace that Maya, MotionBuilder and Unreal's importer show as such)."""
    if not several:
        return spec.names
    return tuple(f"person_{track_id}:{n}" for n in spec.names)
