"""DeepMimic motion clips (shipped in the pybullet wheel) retargeted onto the SMPL_24 skeleton.

File format (verified against pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py,
`Slerp` and `GetPose`): JSON {"Loop": "wrap"|"none", "Frames": [[...44 numbers...], ...]}; a
row is

    0      duration of this key frame (seconds; 0 on the last row)
    1:4    root position (x, y, z)            4:8    root rotation, quaternion w, x, y, z
    8:12   chest quat (wxyz)                   12:16  neck quat
    16:20  right hip quat   20 right knee angle   21:25 right ankle quat
    25:29  right shoulder quat                 29     right elbow angle
    30:34  left hip quat    34 left knee angle    35:39 left ankle quat
    39:43  left shoulder quat                  43     left elbow angle

The skeleton is pybullet_data/humanoid/humanoid.urdf loaded with globalScaling=0.25
(humanoid_stable_pd.py). Every link frame has rpy = 0, so each spherical joint's quaternion is
the child's rotation relative to its parent in the rest pose's world axes (SMPL's convention
too); knees and elbows are revolute about the link's z axis. The world is y up (the deep-mimic
env sets gravity (0, -9.8, 0)); the rest pose stands with the arms hanging down, facing +x,
with the right hip at +z (so +z is the body's right).

Retargeting: (1) change axes, DeepMimic (x fwd, y up, z right) -> SMPL body frame (x left, y up,
z fwd), a rotation of -90 deg about y; (2) per SMPL joint, world orientation = the matching
DeepMimic link's world orientation times a fixed rest offset, the shortest rotation taking the
SMPL rest bone direction onto DeepMimic's rest bone direction (arms: T-pose -> hanging; legs: a
few degrees); (3) local rotations from the world ones. Joints DeepMimic lacks get plausible
values: the chest rotation is split over spine1/2/3 and the neck's over neck/head (powers of
one rotation, so their product is exactly the captured rotation); collars, wrists, hands and
toes get small random rotations fixed per clip variant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS
from meshvid.errors import InputError, MissingDependencyError
from meshvid.synth.motion import (
    MotionClip,
    close_loop,
    quat_wxyz_to_rotmat,
    rotmat_power,
    rotvec_to_rotmat,
    shortest_arc,
    slerp_rotmats,
)

SCALE = 0.25  # globalScaling used by pybullet's deep-mimic environment

# name, parent, joint origin in the parent link (URDF units, before SCALE)
DM_JOINTS: tuple[tuple[str, str | None, tuple[float, float, float]], ...] = (
    ("root", None, (0.0, 0.0, 0.0)),
    ("chest", "root", (0.0, 0.944604, 0.0)),
    ("neck", "chest", (0.0, 0.895576, 0.0)),
    ("right_hip", "root", (0.0, 0.0, 0.339548)),
    ("right_knee", "right_hip", (0.0, -1.686184, 0.0)),
    ("right_ankle", "right_knee", (0.0, -1.639480, 0.0)),
    ("right_shoulder", "chest", (-0.0962, 0.974, 0.73244)),
    ("right_elbow", "right_shoulder", (0.0, -1.099152, 0.0)),
    ("right_wrist", "right_elbow", (0.0, -1.035788, 0.0)),  # fixed joint
    ("left_hip", "root", (0.0, 0.0, -0.339548)),
    ("left_knee", "left_hip", (0.0, -1.686184, 0.0)),
    ("left_ankle", "left_knee", (0.0, -1.639480, 0.0)),
    ("left_shoulder", "chest", (-0.0962, 0.974, -0.73244)),
    ("left_elbow", "left_shoulder", (0.0, -1.099152, 0.0)),
    ("left_wrist", "left_elbow", (0.0, -1.035788, 0.0)),  # fixed joint
)
DM_NAMES = tuple(j[0] for j in DM_JOINTS)
DM_PARENTS = tuple(-1 if p is None else DM_NAMES.index(p) for _, p, _ in DM_JOINTS)
DM_OFFSETS = np.array([o for _, _, o in DM_JOINTS]) * SCALE

# Column of each joint's data in a frame row: 4 for a quaternion, 1 for a revolute angle.
_QUAT = {"chest": 8, "neck": 12, "right_hip": 16, "right_ankle": 21, "right_shoulder": 25,
         "left_hip": 30, "left_ankle": 35, "left_shoulder": 39}
_ANGLE = {"right_knee": 20, "right_elbow": 29, "left_knee": 34, "left_elbow": 43}
ROW_LENGTH = 44

# DeepMimic (x forward, y up, z right) -> SMPL body axes (x left, y up, z forward).
DM_TO_SMPL = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])

# The clips reserved for evaluation (DESIGN.md's hold-out rule).
HELD_OUT = ("humanoid3d_dance_b", "humanoid3d_cartwheel", "humanoid3d_getup_faceup")

LICENCE = "zlib (pybullet 3.2.7 wheel, pybullet_data/data/motions; DeepMimic, Peng et al. 2018)"


def motions_dir() -> Path:
    try:
        import pybullet_data  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError(
            "pybullet is not installed, so the DeepMimic clips are unavailable; "
            "install it with `pip install -r requirements.lock`"
        ) from None
    return Path(pybullet_data.getDataPath()) / "data" / "motions"


def clip_names() -> list[str]:
    """All humanoid clips in the wheel, sorted (names without .txt)."""
    return sorted(p.stem for p in motions_dir().glob("humanoid3d_*.txt"))


@dataclass
class DeepMimicClip:
    name: str
    frame_time: float  # seconds between frames
    loop: bool
    root_pos: np.ndarray  # (T, 3) DeepMimic world, metres
    local: np.ndarray  # (T, 15, 3, 3) local rotations in DM_JOINTS order (root: world)


def read_clip(name_or_path: str | Path) -> DeepMimicClip:
    path = Path(name_or_path)
    if not path.suffix:
        path = motions_dir() / f"{path.name}.txt"
    try:
        data = json.loads(path.read_text())
        frames = np.asarray(data["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"cannot read DeepMimic clip {path}: {err}") from None
    if frames.ndim != 2 or frames.shape[1] != ROW_LENGTH or len(frames) < 2:
        raise InputError(f"{path}: expected rows of {ROW_LENGTH} numbers, got {frames.shape}")
    t = len(frames)
    local = np.tile(np.eye(3), (t, len(DM_JOINTS), 1, 1))
    local[:, 0] = quat_wxyz_to_rotmat(frames[:, 4:8])
    for name, col in _QUAT.items():
        local[:, DM_NAMES.index(name)] = quat_wxyz_to_rotmat(frames[:, col:col + 4])
    for name, col in _ANGLE.items():
        angle = frames[:, col]
        local[:, DM_NAMES.index(name)] = rotvec_to_rotmat(
            np.stack([np.zeros(t), np.zeros(t), angle], -1))  # revolute about z
    durations = frames[:-1, 0]
    frame_time = float(np.median(durations))
    root_pos = frames[:, 1:4].copy()
    key_times = np.concatenate([[0.0], np.cumsum(durations)])
    if np.abs(key_times - frame_time * np.arange(t)).max() > 0.25 * frame_time:
        # A few clips (roll) have irregular key times: resample them on a uniform grid.
        local, root_pos = _resample_uniform(local, root_pos, key_times, frame_time)
    return DeepMimicClip(
        name=path.stem,
        frame_time=frame_time,
        loop=str(data.get("Loop", "none")).lower() == "wrap",
        root_pos=root_pos,
        local=local,
    )


def _resample_uniform(local: np.ndarray, root_pos: np.ndarray, key_times: np.ndarray,
                      frame_time: float) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(0.0, key_times[-1] + 1e-9, frame_time)
    i1 = np.clip(np.searchsorted(key_times, times, side="right"), 1, len(key_times) - 1)
    i0 = i1 - 1
    span = np.maximum(key_times[i1] - key_times[i0], 1e-9)
    w = np.clip((times - key_times[i0]) / span, 0.0, 1.0)
    rot = slerp_rotmats(local[i0], local[i1], w[:, None])
    pos = root_pos[i0] + w[:, None] * (root_pos[i1] - root_pos[i0])
    return rot, pos


def forward_kinematics(local: np.ndarray, root_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepMimic FK: (T, 15, 3, 3) local, (T, 3) root -> world rotations and joint positions."""
    world = np.empty_like(local)
    pos = np.empty(local.shape[:2] + (3,))
    for j, p in enumerate(DM_PARENTS):
        if p < 0:
            world[:, j] = local[:, j]
            pos[:, j] = root_pos
        else:
            world[:, j] = world[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + world[:, p] @ DM_OFFSETS[j]
    return world, pos


# SMPL joint -> (DeepMimic link whose world orientation it follows, the joint whose rest offset
# it uses). A joint's offset aligns its rest bone (towards its child, same name in both
# skeletons) with DeepMimic's; the ankles reuse the knees' offset so the foot keeps SMPL's rest
# angle to the shin; the pelvis needs none (both rest frames face forward, upright).
_FOLLOW: dict[str, tuple[str, str | None]] = {
    "pelvis": ("root", None),
    "left_hip": ("left_hip", "left_hip"),
    "right_hip": ("right_hip", "right_hip"),
    "left_knee": ("left_knee", "left_knee"),
    "right_knee": ("right_knee", "right_knee"),
    "left_ankle": ("left_ankle", "left_knee"),
    "right_ankle": ("right_ankle", "right_knee"),
    "left_shoulder": ("left_shoulder", "left_shoulder"),
    "right_shoulder": ("right_shoulder", "right_shoulder"),
    "left_elbow": ("left_elbow", "left_elbow"),
    "right_elbow": ("right_elbow", "right_elbow"),
}
# The child that defines each bone direction (same name in SMPL_24 and DM_JOINTS).
_BONE_CHILD = {"left_hip": "left_knee", "right_hip": "right_knee", "left_knee": "left_ankle",
               "right_knee": "right_ankle", "left_shoulder": "left_elbow",
               "right_shoulder": "right_elbow", "left_elbow": "left_wrist",
               "right_elbow": "right_wrist"}


def rest_offsets(rest_joints: np.ndarray) -> dict[str, np.ndarray]:
    """Fixed rotations A_j with  R_smpl_world = R_dm_world (in SMPL axes) @ A_j."""
    _, dm_rest = forward_kinematics(np.tile(np.eye(3), (1, len(DM_JOINTS), 1, 1)), np.zeros((1, 3)))
    dm_rest = dm_rest[0] @ DM_TO_SMPL.T
    bone_offsets: dict[str, np.ndarray] = {}
    for joint, child in _BONE_CHILD.items():
        j, c = SMPL_24.index(joint), SMPL_24.index(child)
        dj, dc = DM_NAMES.index(joint), DM_NAMES.index(child)
        bone_offsets[joint] = shortest_arc(rest_joints[c] - rest_joints[j], dm_rest[dc] - dm_rest[dj])
    return {name: np.eye(3) if ref is None else bone_offsets[ref]
            for name, (_, ref) in _FOLLOW.items()}


@dataclass
class FillIns:
    """Values for the joints DeepMimic lacks (drawn once per clip variant)."""

    spine_split: np.ndarray  # (3,) fractions of the chest rotation for spine1/2/3, sum 1
    neck_split: float  # fraction of the neck rotation given to SMPL's neck (rest: head)
    extra: dict[str, np.ndarray]  # joint name -> (3, 3) local rotation

    @classmethod
    def sample(cls, rng: np.random.Generator | None) -> "FillIns":
        if rng is None:
            return cls(np.array([0.3, 0.3, 0.4]), 0.5, {n: np.eye(3) for n in _EXTRA_SIGMA})
        split = rng.dirichlet([6.0, 6.0, 8.0])
        extra = {}
        for name, (mean, sigma) in _EXTRA_SIGMA.items():
            extra[name] = rotvec_to_rotmat(np.asarray(mean) + rng.normal(0.0, sigma, 3))
        return cls(split, float(rng.uniform(0.35, 0.65)), extra)


# Joint -> (mean axis-angle, per-axis sigma) for the fill-ins. Wrists slightly flexed, fingers
# relaxed, collars near rest, toes flat.
_EXTRA_SIGMA: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "left_collar": ((0.0, 0.0, 0.0), (0.05, 0.06, 0.06)),
    "right_collar": ((0.0, 0.0, 0.0), (0.05, 0.06, 0.06)),
    "left_wrist": ((0.0, -0.1, 0.0), (0.15, 0.2, 0.15)),
    "right_wrist": ((0.0, 0.1, 0.0), (0.15, 0.2, 0.15)),
    "left_hand": ((0.0, -0.1, 0.0), (0.1, 0.15, 0.1)),
    "right_hand": ((0.0, 0.1, 0.0), (0.1, 0.15, 0.1)),
    "left_foot": ((0.0, 0.0, 0.0), (0.08, 0.03, 0.03)),
    "right_foot": ((0.0, 0.0, 0.0), (0.08, 0.03, 0.03)),
}


def retarget(clip: DeepMimicClip, rest_joints: np.ndarray, fill: FillIns | None = None,
             ) -> tuple[np.ndarray, np.ndarray]:
    """DeepMimic clip -> SMPL_24 local rotations (T, 24, 3, 3) and pelvis positions (T, 3) in
    the motion world (SMPL axes, y up), for a body whose rest joints are `rest_joints`."""
    fill = fill or FillIns.sample(None)
    rest_joints = np.asarray(rest_joints, dtype=np.float64)
    c = DM_TO_SMPL
    world_dm, pos_dm = forward_kinematics(clip.local, clip.root_pos)
    world_dm = c @ world_dm @ c.T  # the same rotations expressed in SMPL axes
    local_dm = c @ clip.local @ c.T
    offsets = rest_offsets(rest_joints)
    t = len(clip.local)
    world = np.zeros((t, 24, 3, 3))
    local = np.zeros((t, 24, 3, 3))
    idx = {n: i for i, n in enumerate(SMPL_24)}

    def set_local(name: str, rot: np.ndarray) -> None:
        j = idx[name]
        local[:, j] = rot
        p = SMPL_24_PARENTS[j]
        world[:, j] = rot if p < 0 else world[:, p] @ rot

    def set_world(name: str, rot: np.ndarray) -> None:
        j = idx[name]
        world[:, j] = rot
        local[:, j] = np.swapaxes(world[:, SMPL_24_PARENTS[j]], -1, -2) @ rot

    chest = local_dm[:, DM_NAMES.index("chest")]
    neck = local_dm[:, DM_NAMES.index("neck")]
    # SMPL_24 lists every parent before its children, so one pass in order works.
    for name in SMPL_24:
        if name in _FOLLOW:
            dm_name, _ = _FOLLOW[name]
            rot = world_dm[:, DM_NAMES.index(dm_name)] @ offsets[name]
            if name == "pelvis":
                set_local(name, rot)
            else:
                set_world(name, rot)
        elif name in ("spine1", "spine2", "spine3"):
            set_local(name, rotmat_power(chest, fill.spine_split[int(name[-1]) - 1]))
        elif name == "neck":
            set_local(name, rotmat_power(neck, fill.neck_split))
        elif name == "head":
            set_local(name, rotmat_power(neck, 1.0 - fill.neck_split))
        elif name in fill.extra:
            set_local(name, np.broadcast_to(fill.extra[name], (t, 3, 3)))
        else:  # pragma: no cover - every SMPL joint is covered above
            raise AssertionError(name)

    # Root: DeepMimic's root sits at hip height, SMPL's pelvis a little above the hips. Scale the
    # trajectory by the leg-length ratio so the feet keep their stride on the new body.
    dm_leg = float(np.linalg.norm(DM_OFFSETS[DM_NAMES.index("left_knee")])
                   + np.linalg.norm(DM_OFFSETS[DM_NAMES.index("left_ankle")]))
    lh, lk, la = (rest_joints[idx[n]] for n in ("left_hip", "left_knee", "left_ankle"))
    smpl_leg = float(np.linalg.norm(lk - lh) + np.linalg.norm(la - lk))
    hip_centre = 0.5 * (rest_joints[idx["left_hip"]] + rest_joints[idx["right_hip"]])
    pelvis_above_hips = rest_joints[idx["pelvis"]] - hip_centre
    root = (smpl_leg / dm_leg) * (clip.root_pos @ c.T) + world[:, 0] @ pelvis_above_hips
    return local, root


def load_clip(name: str, rest_joints: np.ndarray, rng: np.random.Generator | None = None,
              fill: FillIns | None = None) -> MotionClip:
    """A DeepMimic clip retargeted onto the SMPL_24 skeleton with rest joints `rest_joints`
    (fill-ins drawn from `rng`, or neutral if None). Cyclic clips become seamless loops."""
    dm = read_clip(name)
    local, root = retarget(dm, rest_joints, fill or FillIns.sample(rng))
    cycle_yaw, cycle_offset, loop = 0.0, np.zeros(3), False
    if dm.loop:
        local, root, cycle_yaw, cycle_offset = close_loop(local, root)
        loop = True
    return MotionClip(
        name=f"deepmimic/{dm.name}", source="deepmimic", fps=1.0 / dm.frame_time,
        rotmats=local, root_pos=root, loop=loop, cycle_yaw=cycle_yaw, cycle_offset=cycle_offset,
    )
