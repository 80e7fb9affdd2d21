"""Retargeting a capture onto our 24-joint skeleton by joint POSITIONS.

Rotations are never copied between unlike rest poses. Instead, per frame:

1. Source points -> metres (the capture's unit), then the up axis (the family's where it is
   known, else the ankles->head direction of the clip's most upright frames, snapped to the
   nearest +-axis) is rotated onto +y.
2. One scale factor takes the source body to ours: the ratio of summed limb and trunk lengths
   (thighs, shins, upper arms, forearms, hip centre -> shoulder centre; source lengths are
   medians over frames).
2b. Proportions (`match_proportions`): our rest skeleton's segments are scaled, one factor
   each, to the scaled source's bone lengths (hip width, thighs, shins, feet, trunk, shoulder
   width, upper arms, forearms, hands; medians over frames; factors within [0.5, 2], or the clip
   is rejected; hands and feet as measured). Skeletons
   differ in proportion by definition as much as by body (the CMU library's Daz shoulder
   joints are 66 % of our shoulder width apart after the global scale; anny24's betas reach
   its proportions only 5-8 % off with 6 of 10 at +-3 SD, docs/motion.md), so the pose is solved
   on a skeleton of the source's proportions: bone directions then come out as the capture has
   them, instead of bending joints to reach points a differently proportioned limb cannot.
3. Joint rotations are solved top-down so that our FK (of the proportioned skeleton) lands on
   the scaled source points:
   - pelvis: the frame spanned by the hip line (x) and the hips->lower-spine direction (y),
     against the same frame of our rest skeleton; the chest (spine3) likewise from the shoulder
     line and the trunk's up direction; the pelvis->chest rotation is spread over spine1/2/3
     (powers 0.3/0.3/0.4 of one rotation, so they compose to it exactly);
   - every other joint: the "swing" (smallest rotation) that aims our bone from the joint's
     FK position at the source point of its child (neck -> head, head -> head top, collar ->
     shoulder with the swing capped at 0.5 rad, ankle -> toes, wrist -> hand where mapped);
   - limb twist (hip and shoulder): knees and elbows are hinges, so the upper bone is turned
     about its own axis until our hinge axis is normal to the source's (upper, lower) bone
     plane. Near-straight limbs carry no such plane: the twist fades out below 11.5 deg of
     bend, towards the foot's plane for legs (toes mapped) or no twist (swing only) for arms.
4. The pelvis is placed at the source hip centre plus our rest pelvis-above-hips offset, then
   moved per frame by the offset that best fits the error joints (the mean residual),
   and the clip's retarget error is the mean distance, in mm, between the proportioned
   skeleton's FK joints and the scaled source points over the error joints (limbs and feet
   where mapped).
5. The clip (rotations, root) is for our own body: rotations carry over unchanged, the root
   trajectory is scaled by our leg length over the proportioned one (the rule `meshvid synth`
   applies for any body shape), so feet meet the ground as they did in the capture.
Joints no capture defines (hands without a hand point, toes) keep their rest rotation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS
from meshvid.errors import InputError
from meshvid.motion.capture import Capture
from meshvid.motion.skeletons import (
    FAMILY_UP,
    JointMap,
    detect_family,
    explicit_family,
    joint_map,
    map_by_names,
)
from meshvid.synth.motion import MotionClip, rotmat_power, shortest_arc

J = {n: i for i, n in enumerate(SMPL_24)}
# Joints the error is measured on: limbs and feet. The neck and head are aimed but not
# measured: where a skeleton puts its "neck" point differs by family by up to 10 cm (CMU's
# thorax end sits below the shoulder joints, ours 9 cm above them), an offset of definition,
# not of pose.
ERROR_JOINTS = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                "right_wrist", "left_foot", "right_foot")
MAX_ERROR_MM = 60.0  # clips whose mean retarget error exceeds this are rejected (docs/motion.md)
_TWIST_FULL_SIN = 0.2  # limb bend (sin of the angle) above which the hinge plane sets the twist
_COLLAR_MAX = 0.5  # radians


@dataclass
class Retargeted:
    """A retargeted capture.

    Attributes:
        clip: the motion on our skeleton (MotionClip: (T, 24, 3, 3) local rotations, (T, 3) root).
        family: skeleton family used; joint_map: our joint -> source point.
        targets: (T, 24, 3) scaled source points in our motion world (NaN where unmapped).
        fitted: (T, 24, 3) our FK joints.
        frame_error_mm: (T,) mean error over the error joints per frame.
        scale: source metres -> our metres; up_axis: detected source up axis, e.g. "+y".
        method: how the joint map was found ("family", "names", "shape", "given").
        rest: (24, 3) the rest skeleton the pose was solved on: ours with the source's
            proportions (`match_proportions`); `fitted` is its FK.
        proportions: segment -> factor applied to our rest segment (1: unchanged).
    """

    clip: MotionClip
    family: str
    joint_map: dict[str, str]
    targets: np.ndarray
    fitted: np.ndarray
    frame_error_mm: np.ndarray
    error_joints: tuple[str, ...]
    scale: float
    up_axis: str
    unit_name: str
    problems: tuple[str, ...] = ()  # failed plausibility checks (the clip is then rejected)
    method: str = "family"  # how the joint map was found: family, names, shape (or given)
    rest: np.ndarray | None = None  # (24, 3) the proportioned rest skeleton (fitted's)
    proportions: dict[str, float] | None = None  # segment -> factor on our rest skeleton

    @property
    def error_mm(self) -> float:
        return float(self.frame_error_mm.mean())

    @property
    def error_p95_mm(self) -> float:
        return float(np.percentile(self.frame_error_mm, 95))


# --- batched vector helpers

def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T, 3) unit axes, (T,) angles -> (T, 3, 3)."""
    k = axis
    z = np.zeros(len(k))
    kmat = np.stack([np.stack([z, -k[:, 2], k[:, 1]], -1), np.stack([k[:, 2], z, -k[:, 0]], -1),
                     np.stack([-k[:, 1], k[:, 0], z], -1)], -2)
    a = angle[:, None, None]
    return np.eye(3) + np.sin(a) * kmat + (1 - np.cos(a)) * (kmat @ kmat)


def swing(a: np.ndarray, b: np.ndarray, max_angle: float | None = None) -> np.ndarray:
    """Smallest rotations (T, 3, 3) taking directions a (T, 3) onto b (T, 3) (angle capped at
    max_angle). Opposite directions turn about an axis perpendicular to a."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip((a * b).sum(-1), -1.0, 1.0)
    angle = np.arctan2(s, c)
    degenerate = s < 1e-9
    if degenerate.any():
        perp = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
        axis = np.where(degenerate[:, None], perp, axis)
    if max_angle is not None:
        angle = np.minimum(angle, max_angle)
    return _axis_angle(_unit(axis), angle)


def frame(x: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) with columns (x, y, z): x along `x`, y the part of `up`
    perpendicular to it, z = x cross y."""
    xh = _unit(x)
    yh = _unit(up - (up * xh).sum(-1, keepdims=True) * xh)
    return np.stack([xh, yh, np.cross(xh, yh)], -1)


def _signed_angle(u: np.ndarray, v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle (T,) turning u onto v about `axis` (all (T, 3); u, v taken perpendicular to it)."""
    u = u - (u * axis).sum(-1, keepdims=True) * axis
    v = v - (v * axis).sum(-1, keepdims=True) * axis
    return np.arctan2((np.cross(u, v) * axis).sum(-1), (u * v).sum(-1))


# --- the solve

def _mid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 0.5 * (a + b)


def up_axis(points: np.ndarray, head: int, ankles: tuple[int, int], known: str | None = None
            ) -> tuple[np.ndarray, str]:
    """The source's up axis: `known` ("+y", "-z", ...) when the family fixes it, else the
    +-x/y/z axis that (head - mid-ankles) points along in the clip's most upright frames (the
    longest 25% of those vectors vote, each frame for its nearest axis).
    Returns (rotation (3, 3) taking it onto +y, its name)."""
    if known is None:
        v = points[:, head] - 0.5 * (points[:, ankles[0]] + points[:, ankles[1]])
        length = np.linalg.norm(v, axis=-1)
        tall = v[length >= np.quantile(length, 0.75)]
        k_each = np.argmax(np.abs(tall), axis=-1)
        votes = np.zeros(6)
        for k, row in zip(k_each, tall):
            votes[2 * k + (row[k] < 0)] += 1
        best = int(np.argmax(votes))
        known = f"{'-' if best % 2 else '+'}{'xyz'[best // 2]}"
    axis = np.zeros(3)
    axis["xyz".index(known[1])] = -1.0 if known[0] == "-" else 1.0
    return shortest_arc(axis, np.array([0.0, 1.0, 0.0])), known


_SEGMENTS = (("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
             ("right_knee", "right_ankle"), ("left_shoulder", "left_elbow"),
             ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
             ("right_elbow", "right_wrist"))


PROPORTION_RANGE = (0.5, 2.0)  # a segment factor beyond this is a mapping or data fault, not a body
# Hands and feet end where each family puts its last point (cmu8's hand point is 0.35x our
# wrist -> hand): their length is taken as measured (bounds only against degenerate bones), and
# not judged by the proportion check.
EXTREMITIES = ("ankle_foot", "wrist_hand")
_EXTREMITY_RANGE = (0.1, 10.0)


def _offsets(rest: np.ndarray) -> np.ndarray:
    """(24, 3) each joint's rest offset from its parent (the root's: its position)."""
    par = np.array(SMPL_24_PARENTS)
    return rest - np.where(par[:, None] >= 0, rest[np.maximum(par, 0)], 0.0)


def _from_offsets(off: np.ndarray) -> np.ndarray:
    """Rest joints (24, 3) from offsets (parents come before children in SMPL_24)."""
    out = np.zeros_like(off)
    for j, p in enumerate(SMPL_24_PARENTS):
        out[j] = off[j] if p < 0 else out[p] + off[j]
    return out


def _median_length(targets: np.ndarray, a: str, b: str) -> float:
    return float(np.median(np.linalg.norm(targets[:, J[b]] - targets[:, J[a]], axis=-1)))


def match_proportions(rest: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Our rest skeleton with the source's proportions: each segment the source defines scaled
    by one factor to the source's median length (targets: (T, 24, 3) scaled source points,
    NaN where unmapped). Widths scale the lateral (x) part of the offsets that span them (hip:
    pelvis -> hips; shoulders: chest -> collars -> shoulders), so heights stay; the trunk (hip
    centre -> shoulder centre) scales the spine; limbs, feet and hands their own bone. Factors
    are clipped to PROPORTION_RANGE (the unclipped ones are returned: `retarget` rejects a
    clip with one outside it, as a broken clip or a wrong map, which the fit would otherwise
    partly absorb); hands and feet (EXTREMITIES) are taken as measured. Neck and head keep
    our lengths (not measured: families define those points differently).

    Returns:
        (rest joints (24, 3), {segment: factor before clipping}).
    """
    off = _offsets(rest)
    lo, hi = PROPORTION_RANGE
    out: dict[str, float] = {}

    def factor(name: str, src_len: float, ours: float) -> float:
        # A zero-length source segment (two of our joints on one source point) is a wrong map:
        # factor 0, rejected. Unmeasurable (NaN) or zero on our side: left as it is.
        f = src_len / ours if ours > 1e-6 and np.isfinite(src_len) else 1.0
        out[name] = round(float(f), 4)
        return float(np.clip(f, *(_EXTREMITY_RANGE if name.endswith(EXTREMITIES) else (lo, hi))))

    def width(name: str, joints: tuple[str, ...], a: str, b: str) -> None:
        cur = _from_offsets(off)
        f = factor(name, _median_length(targets, a, b), float(np.linalg.norm(cur[J[b]] - cur[J[a]])))
        for j in joints:
            off[J[j], 0] *= f

    width("hip_width", ("left_hip", "right_hip"), "left_hip", "right_hip")
    width("shoulder_width", ("left_collar", "right_collar", "left_shoulder", "right_shoulder"),
          "left_shoulder", "right_shoulder")
    # The trunk: |a + t b| = source length, b the spine (pelvis -> spine3), a the rest of the
    # path hip centre -> shoulder centre: the larger root of that quadratic (t > 0 for any
    # trunk longer than a's part across the spine; a shorter one: the t that comes closest).
    cur = _from_offsets(off)
    sh = _mid(cur[J["left_shoulder"]], cur[J["right_shoulder"]])
    hp = _mid(cur[J["left_hip"]], cur[J["right_hip"]])
    b = cur[J["spine3"]] - cur[J["pelvis"]]
    a = (sh - hp) - b
    src_trunk = float(np.median(np.linalg.norm(_mid(targets[:, J["left_shoulder"]], targets[:, J["right_shoulder"]])
                                               - _mid(targets[:, J["left_hip"]], targets[:, J["right_hip"]]), axis=-1)))
    qa, qb, qc = b @ b, 2 * a @ b, a @ a - src_trunk ** 2
    disc = qb * qb - 4 * qa * qc
    if qa <= 1e-12:
        t = 1.0  # no spine to scale
    else:
        t = (-qb + np.sqrt(disc)) / (2 * qa) if disc >= 0 else -qb / (2 * qa)
    t = factor("spine", t, 1.0)
    for j in ("spine1", "spine2", "spine3"):
        off[J[j]] *= t
    for side in ("left", "right"):
        for a_, b_ in (("hip", "knee"), ("knee", "ankle"), ("ankle", "foot"), ("shoulder", "elbow"),
                       ("elbow", "wrist"), ("wrist", "hand")):
            child = f"{side}_{b_}"
            if not np.isfinite(targets[:, J[child]]).all():
                continue  # not mapped: our length stays
            f = factor(f"{side}_{a_}_{b_}", _median_length(targets, f"{side}_{a_}", child),
                       float(np.linalg.norm(off[J[child]])))
            off[J[child]] *= f
    return _from_offsets(off), out


def map_capture(cap: Capture) -> JointMap:
    """The joint map of a capture, from the one mapping layer: an explicit family's map
    (skeletons.FAMILIES) when the names fit one, else the name resolver
    (skeletons.map_by_names), else the skeleton's shape (shape.map_by_shape).

    Raises:
        InputError: "<path>: not a humanoid skeleton: ..." when neither names nor shape decide.
    """
    from meshvid.motion.shape import map_by_shape  # noqa: PLC0415

    family = explicit_family(cap.joints, cap.family)
    if family is not None:
        return joint_map(family, cap.joints)
    try:
        return map_by_names(cap.joints, cap.parents)
    except InputError:
        pass
    try:
        return map_by_shape(cap.joints, cap.parents, cap.positions)
    except InputError as err:
        raise InputError(f"{cap.path}: {err}") from None


def prepare(cap: Capture) -> tuple[Capture, JointMap]:
    """Map a capture and settle what the file does not declare: its unit (from its legs,
    shape.detect_unit_from_legs) and a T-pose frame 0 that is not part of the motion (dropped;
    cap.info["tpose_frame0"]; the T-pose's hips -> shoulders axis is then the capture's up axis
    unless the file declares one).

    Returns:
        (the capture, possibly without its frame 0 and with its unit set, its joint map).
    """
    from meshvid.motion.shape import detect_unit_from_legs, leg_length, tpose_frame0  # noqa: PLC0415

    jm = map_capture(cap)
    index = {ours: cap.index(theirs) for ours, theirs in jm.mapping.items()}
    if cap.unit_name.endswith(("(detected)", "(assumed)")):
        unit, unit_name = detect_unit_from_legs(leg_length(cap.positions, index))
        cap = replace(cap, unit=unit, unit_name=unit_name)
    if tpose_frame0(cap.positions, index):
        up = cap.up or _nearest_axis(0.5 * (cap.positions[0, index["left_shoulder"]] + cap.positions[0, index["right_shoulder"]])
                                     - 0.5 * (cap.positions[0, index["left_hip"]] + cap.positions[0, index["right_hip"]]))
        cap = replace(cap, positions=cap.positions[1:], info={**cap.info, "tpose_frame0": True}, up=up)
    return cap, jm


def _nearest_axis(v: np.ndarray) -> str:
    """'+y', '-z', ...: the signed axis nearest the direction v (3,)."""
    k = int(np.argmax(np.abs(v)))
    return f"{'-' if v[k] < 0 else '+'}{'xyz'[k]}"


def retarget(cap: Capture, rest_joints: np.ndarray, family: str | None = None,
             jmap: dict[str, str] | JointMap | None = None) -> Retargeted:
    """Retarget a capture onto our skeleton.

    Args:
        cap: the capture (positions (T, P, 3) in file units).
        rest_joints: (24, 3) rest joints of our body (metres, y up, facing +z).
        family: skeleton family (default: from the mapping layer, `prepare`).
        jmap: our joint -> source point name, or a JointMap (default: `prepare`'s; given, the
            capture is used as it is: no unit or T-pose handling).
    Returns:
        Retargeted (clip named cap.name, at cap.fps).
    Raises:
        InputError: the skeleton cannot be mapped.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    method = "given"
    if jmap is None:
        cap, jmap = prepare(cap)
    if isinstance(jmap, JointMap):
        family, method, jmap = family or jmap.family, jmap.method, jmap.mapping
    family = family or detect_family(cap.joints, cap.family)
    m = {ours: cap.index(theirs) for ours, theirs in jmap.items()}
    pts = cap.positions * cap.unit
    if not np.isfinite(pts).all():
        raise InputError(f"{cap.path}: non-finite joint positions")
    head_like = m.get("head", m.get("neck", m.get("head_top")))
    if head_like is None:
        raise InputError(f"{cap.path}: no head or neck point to find the up axis from")
    rot_up, up_name = up_axis(pts, head_like, (m["left_ankle"], m["right_ankle"]), FAMILY_UP.get(family) or cap.up)
    pts = pts @ rot_up.T
    t = len(pts)

    def src(name: str) -> np.ndarray:
        return pts[:, m[name]]

    # Scale: our summed limb + trunk lengths over the source's.
    ours_len, src_len = 0.0, 0.0
    for a, b in _SEGMENTS:
        ours_len += float(np.linalg.norm(rest[J[b]] - rest[J[a]]))
        src_len += float(np.median(np.linalg.norm(src(b) - src(a), axis=-1)))
    # The trunk: hip centre -> shoulder centre (joint centres every family agrees on; where a
    # skeleton puts its "neck" point differs by up to 15 cm between families).
    ours_len += float(np.linalg.norm(_mid(rest[J["left_shoulder"]], rest[J["right_shoulder"]])
                                     - _mid(rest[J["left_hip"]], rest[J["right_hip"]])))
    src_len += float(np.median(np.linalg.norm(_mid(src("left_shoulder"), src("right_shoulder"))
                                              - _mid(src("left_hip"), src("right_hip")), axis=-1)))
    if src_len <= 1e-6:
        raise InputError(f"{cap.path}: degenerate skeleton (zero-length limbs)")
    scale = ours_len / src_len
    pts = pts * scale
    targets = np.full((t, 24, 3), np.nan)
    for name, k in m.items():
        if name in J:
            targets[:, J[name]] = pts[:, k]
    ours = rest
    rest, proportions = match_proportions(ours, targets)

    world = np.zeros((t, 24, 3, 3))
    pos = np.zeros((t, 24, 3))
    off = rest - np.where(np.array(SMPL_24_PARENTS)[:, None] >= 0, rest[list(np.maximum(SMPL_24_PARENTS, 0))], 0)

    def place(name: str, w: np.ndarray) -> None:
        j = J[name]
        p = SMPL_24_PARENTS[j]
        world[:, j] = w
        pos[:, j] = rest[j] if p < 0 else pos[:, p] + np.einsum("tij,j->ti", world[:, p], off[j])

    def parent_world(name: str) -> np.ndarray:
        return world[:, SMPL_24_PARENTS[J[name]]]

    def aim(name: str, child: str, target: np.ndarray, base: np.ndarray | None = None,
            max_angle: float | None = None) -> np.ndarray:
        """World rotation of `name`: `base` (default: the parent's) turned so that the bone to
        `child` points at `target` from the joint's FK position (placed here)."""
        w0 = parent_world(name) if base is None else base
        place(name, w0)
        cur = w0 @ off[J[child]]
        return swing(cur, target - pos[:, J[name]], max_angle) @ w0

    # Pelvis and chest frames.
    hip_mid = 0.5 * (src("left_hip") + src("right_hip"))
    rest_hip_mid = 0.5 * (rest[J["left_hip"]] + rest[J["right_hip"]])
    sh_mid = _mid(src("left_shoulder"), src("right_shoulder"))
    rest_sh_mid = _mid(rest[J["left_shoulder"]], rest[J["right_shoulder"]])
    if "spine1" in m:
        up_src, rest_up = src("spine1") - hip_mid, rest[J["spine1"]] - rest_hip_mid
    else:
        up_src, rest_up = sh_mid - hip_mid, rest_sh_mid - rest_hip_mid
    f_t = frame(src("left_hip") - src("right_hip"), up_src)
    f_r = frame(rest[J["left_hip"]] - rest[J["right_hip"]], rest_up)
    w_pelvis = f_t @ f_r.T
    sh_src = src("left_shoulder") - src("right_shoulder")
    chest_up_src = sh_mid - (src("spine1") if "spine1" in m else hip_mid)
    rest_chest_up = rest_sh_mid - (rest[J["spine1"]] if "spine1" in m else rest_hip_mid)
    w_chest = frame(sh_src, chest_up_src) @ frame(rest[J["left_shoulder"]] - rest[J["right_shoulder"]], rest_chest_up).T
    place("pelvis", w_pelvis)
    # Our pelvis where the source's hip centre puts it (aims below are from absolute positions).
    pos[:, 0] = hip_mid + w_pelvis @ (rest[0] - rest_hip_mid)
    rel = np.swapaxes(w_pelvis, -1, -2) @ w_chest
    place("spine1", w_pelvis @ rotmat_power(rel, 0.3))
    place("spine2", w_pelvis @ rotmat_power(rel, 0.6))
    place("spine3", w_chest)
    # Neck and head: aimed at the source's head (head top) direction, calibrated per clip in
    # the chest frame: where a skeleton puts its neck and head points differs by family, so the
    # clip's mean neck->head direction (relative to the chest) is mapped onto our rest one and
    # the motion about it is kept.
    f_chest_src = frame(sh_src, chest_up_src)
    f_chest_rest = frame(rest[J["left_shoulder"]] - rest[J["right_shoulder"]], rest_chest_up)

    def calibrated(direction: np.ndarray, rest_dir: np.ndarray) -> np.ndarray:
        local = np.einsum("tji,tj->ti", f_chest_src, _unit(direction))
        mean = _unit(local.mean(0, keepdims=True))
        fix = swing(mean, (f_chest_rest.T @ _unit(rest_dir))[None])[0]
        return np.einsum("tij,tj->ti", f_chest_src, local @ fix.T)

    place("neck", world[:, J["spine3"]])
    if "head" in m:
        d = calibrated(src("head") - src("neck" if "neck" in m else "spine3"), rest[J["head"]] - rest[J["neck"]])
        place("neck", aim("neck", "head", pos[:, J["neck"]] + d))
    place("head", world[:, J["neck"]])
    if "head_top" in m and "head" in m:
        up = np.array([0.0, 0.1, 0.0])
        wn = world[:, J["neck"]]
        d = calibrated(src("head_top") - src("head"), up)
        place("head", swing(wn @ up, d) @ wn)
    # Legs and arms.
    for side in ("left", "right"):
        _limb(side, "hip", "knee", "ankle", "foot", np.array([0.0, 0.0, -1.0]), m, src, rest, off,
              world, pos, place, aim, parent_world)
        place(f"{side}_collar", world[:, J["spine3"]])
        place(f"{side}_collar", aim(f"{side}_collar", f"{side}_shoulder", src(f"{side}_shoulder"),
                                    max_angle=_COLLAR_MAX))
        _limb(side, "shoulder", "elbow", "wrist", "hand", np.array([0.0, 0.0, 1.0]), m, src, rest, off,
              world, pos, place, aim, parent_world)

    problems = _plausibility(src, f_t, f_chest_src) + _proportion_problems(proportions)
    local = np.empty_like(world)
    for j, p in enumerate(SMPL_24_PARENTS):
        local[:, j] = world[:, j] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, j]
    err_names = tuple(n for n in ERROR_JOINTS if n in m)
    ei = [J[n] for n in err_names]
    shift = (targets[:, ei] - pos[:, ei]).mean(1)  # (T, 3) root translation fit
    fitted = pos + shift[:, None]
    frame_err = np.linalg.norm(fitted[:, ei] - targets[:, ei], axis=-1).mean(1) * 1000.0
    clip = MotionClip(name=cap.name, source=family, fps=cap.fps, rotmats=local,
                      root_pos=(pos[:, 0] + shift) * (_leg(ours) / _leg(rest)))
    return Retargeted(clip, family, dict(jmap), targets, fitted, frame_err, err_names, scale, up_name,
                      cap.unit_name, problems, method, rest, proportions)


def _leg(rest: np.ndarray) -> float:
    """Mean thigh + shin length of a rest skeleton (the root trajectory scales with it)."""
    return float(np.mean([np.linalg.norm(rest[J[f"{s}_knee"]] - rest[J[f"{s}_hip"]])
                          + np.linalg.norm(rest[J[f"{s}_ankle"]] - rest[J[f"{s}_knee"]]) for s in ("left", "right")]))


def _plausibility(src, f_pelvis: np.ndarray, f_chest: np.ndarray) -> tuple[str, ...]:
    """Checks positions alone cannot pass on to the error: swapped left/right labels and
    mirrored (left-handed) files fit joint positions as well as right ones.

    - the hip line and the shoulder line point the same way (median over frames);
    - bent knees bend backwards: the (thigh, shin) plane normal agrees with the pelvis's left
      axis, as our knee hinge does (median over frames with > 20 deg of bend).
    """
    out = []
    if np.median((f_pelvis[:, :, 0] * f_chest[:, :, 0]).sum(-1)) < 0:
        out.append("hips and shoulders disagree on left/right (labels swapped on one side)")
    votes = []
    for side in ("left", "right"):
        e1 = src(f"{side}_knee") - src(f"{side}_hip")
        e2 = src(f"{side}_ankle") - src(f"{side}_knee")
        n = np.cross(e1, e2)
        sin = np.linalg.norm(n, axis=-1) / np.maximum(np.linalg.norm(e1, axis=-1) * np.linalg.norm(e2, axis=-1), 1e-12)
        bent = sin > np.sin(np.radians(20.0))
        votes.append(np.sign((_unit(n[bent]) * f_pelvis[bent, :, 0]).sum(-1)))
    v = np.concatenate(votes)
    if len(v) >= 10 and np.median(v) < 0:
        out.append("knees bend forwards: left/right labels swapped, or a mirrored (left-handed) file")
    return tuple(out)


def _proportion_problems(proportions: dict[str, float]) -> tuple[str, ...]:
    """A segment the source has at under half or over twice our proportion (after the global
    scale) is no human's: a broken clip (CMU 138_31, its shoulders at 27 % of the usual trunk
    height: spine 0.07x) or a joint map one joint off (shoulders on the collar points: shoulder
    width 0.15x; both hips on the pelvis point: hip width 0x)."""
    lo, hi = PROPORTION_RANGE
    bad = [f"{k} {v:.2f}x" for k, v in proportions.items() if not lo <= v <= hi and not k.endswith(EXTREMITIES)]
    return (f"proportions no human skeleton has (ours = 1): {', '.join(bad)}",) if bad else ()


def _limb(side, upper, lower, end, tip, flex_dir, m, src, rest, off, world, pos, place, aim, parent_world):
    u, lo, e, tp = (f"{side}_{n}" for n in (upper, lower, end, tip))
    # Hinge axis of the rest limb: flexing turns the lower bone towards flex_dir.
    u1 = rest[J[lo]] - rest[J[u]]
    a_rest = _unit(np.cross(_unit(u1), flex_dir))
    wp = parent_world(u)
    place(u, wp)  # its position (set by the parent); its rotation is solved below
    x_u, x_lo, x_e = src(u), src(lo), src(e)
    d1 = x_lo - pos[:, J[u]]
    w_sw = swing(wp @ u1, d1) @ wp
    d1h = _unit(d1)
    h_sw = w_sw @ a_rest
    e1, e2 = x_lo - x_u, x_e - x_lo
    n = np.cross(e1, e2)
    sin_bend = np.linalg.norm(n, axis=-1) / np.maximum(np.linalg.norm(e1, axis=-1) * np.linalg.norm(e2, axis=-1), 1e-12)
    w = np.clip(sin_bend / _TWIST_FULL_SIN, 0.0, 1.0)
    phi = _signed_angle(h_sw, _unit(n), d1h)
    if tip in m and upper == "hip":
        # Foot plane: the hinge axis is also normal to (foot, shin) in our rest pose.
        n_f = np.cross(src(tp) - x_e, x_e - x_lo)
        phi_f = _signed_angle(h_sw, _unit(n_f), d1h)
        phi = np.arctan2(w * np.sin(phi) + (1 - w) * np.sin(phi_f), w * np.cos(phi) + (1 - w) * np.cos(phi_f))
    else:
        phi = w * phi
    place(u, _axis_angle(d1h, phi) @ w_sw)
    place(lo, aim(lo, e, x_e))
    place(e, world[:, J[lo]])
    if tp in m:
        place(e, aim(e, tp, src(tp)))
    place(tp, world[:, J[e]])
