"""Feet on the floor: foot-contact detection and foot locking (numpy; the body model only for
its rest mesh and skinning weights).

Works on saved motion in camera space (meshvid/export/motion.py), against the result's one
floor (meshvid/scene/floor.py), so `meshvid export` (on by default, `--no-foot-lock`) and
`meshvid smooth --foot-lock` apply the same correction.

Per person and frame, each foot has two contact points: the heel (the ankle joint) and the toe
(the SMPL `*_foot` joint). A point's *height* is the lowest skinned vertex of its part of the
foot (vertices mostly weighted to that joint) above the floor. Steps:

1. Contacts (`detect_contacts`). Monocular root translation jitters by tens of cm per frame
   (mostly depth), the pose far less, so the tests avoid the raw root path: a point is *low*
   when within `contact_height` of the frame's lowest foot point (a difference: the root
   cancels) and *slow* when its speed, measured on its pose-relative position plus a smoothed
   pelvis path, is under `contact_speed`. Runs shorter than `min_contact_frames` are dropped,
   one-frame holes filled. A foot is in contact where its heel or its toe is.
2. Ground (`support_levels`). The height of the lowest contact point, median-filtered over
   `support_window` frames: near the floor (under `floor_snap`) it is the floor (0), else a
   raised surface the person stands on (a ledge, a box: kept, not pulled down).
3. Height (`height_correction`). The body moves along "up" so contacts touch the ground:
   exact on contact frames, interpolated between them (a jump keeps its arc), lightly
   smoothed, and never pushing a foot into the ground.
4. Slide (`horizontal_correction`). A least-squares translation along the floor that cancels
   the planted points' frame-to-frame slide, stays smooth between contacts and is weakly
   pulled to zero (the body stays near the observed path in the long run).
5. Legs. Each contact point gets an anchor (its mean floor position over the contact run);
   the foot is moved so its contact point(s) sit on the anchor, on the ground, ramping in and
   out over `blend_frames`; the leg follows by analytic two-bone IK (hip fixed, knee in its
   bend plane, foot orientation kept): only the hip, knee and ankle rotations change.

Measured by `contact_samples`: slide (m per frame of a contact point during contact) and the
height of contact points above the floor; `foot_lock_result` reports both before and after.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from meshvid.body.joints import SMPL_24
from meshvid.errors import InputError
from meshvid.export.motion import MotionResult, PersonMotion

EXTRA_KEY = "foot_lock"  # MotionResult.extra entry recording that (and how) feet were locked
# (hip, knee, ankle, toe) per side, SMPL_24 indices.
LEGS = {side: tuple(SMPL_24.index(f"{side}_{j}") for j in ("hip", "knee", "ankle", "foot"))
        for side in ("left", "right")}


@dataclass(frozen=True)
class FootLockParams:
    contact_height: float = 0.05  # m above the frame's lowest foot point: low enough to stand
    contact_speed: float = 1.0  # m/s: a contact point at most this fast (see detect_contacts)
    min_contact_frames: int = 3  # shorter runs are not contacts
    blend_frames: int = 3  # the lock ramps in/out over this many frames around a contact
    floor_snap: float = 0.5  # m: support this close to the floor is the floor (else a ledge)
    root_sigma: float = 5.0  # frames: smoothing of the root path used for contact speeds
    support_window: int = 15  # frames: median window of the standing level (floor or ledge)
    height_sigma: float = 2.0  # frames: smoothing of the pelvis height correction
    anchor_weight: float = 1e-3  # pull of the horizontal correction towards zero (drift)
    swing_smoothness: float = 0.05  # weight keeping the correction smooth between contacts

    def validate(self) -> None:
        if not (self.contact_height > 0 and self.contact_speed > 0 and self.floor_snap >= 0):
            raise InputError("foot lock: contact height and speed must be positive")
        if self.min_contact_frames < 1 or self.blend_frames < 0 or self.height_sigma < 0 \
                or self.root_sigma < 0 or self.support_window < 1:
            raise InputError("foot lock: frame counts must be >= 0 (min contact >= 1)")
        if not (self.anchor_weight > 0 and self.swing_smoothness >= 0):
            raise InputError("foot lock: anchor weight must be > 0, smoothness >= 0")


@dataclass
class FootState:
    """Per-frame foot quantities of one person (T frames, 2 feet [left, right], 2 points
    [heel, toe]); positions in camera space, metres."""

    joints: np.ndarray  # (T, 24, 3) posed joints
    world_rot: np.ndarray  # (T, 24, 3, 3) world joint rotations
    height: np.ndarray  # (T, 2, 2) lowest vertex of each point's region above the floor
    point: np.ndarray  # (T, 2, 2, 3) heel = ankle joint, toe = foot joint


def _foot_regions(weights: np.ndarray) -> list[list[np.ndarray]]:
    """Vertex indices per foot and point: those mostly weighted to ankle (heel) or toe."""
    owner = weights.argmax(axis=1)
    regions = []
    for side in ("left", "right"):
        _, _, ankle, toe = LEGS[side]
        regions.append([np.nonzero(owner == ankle)[0], np.nonzero(owner == toe)[0]])
    return regions


def foot_state(person: PersonMotion, rest_v: np.ndarray, rest_j: np.ndarray,
               weights: np.ndarray, regions, up: np.ndarray, cam_height: float) -> FootState:
    """Feet of `person` against the floor plane (`up` (3,), camera height `cam_height`).

    Args:
        person: motion in camera space.
        rest_v, rest_j: (V, 3), (24, 3) rest mesh and joints for the person's betas.
        weights: (V, 24) skinning weights.
        regions: `_foot_regions(weights)`.
    """
    from meshvid.scene.kinematics import person_fk, skin

    world_rot, joints = person_fk(person, rest_j)
    t = len(person)
    height = np.empty((t, 2, 2))
    point = np.empty((t, 2, 2, 3))
    for f, side in enumerate(("left", "right")):
        _, _, ankle, toe = LEGS[side]
        for k, (joint, idx) in enumerate(((ankle, regions[f][0]), (toe, regions[f][1]))):
            verts = skin(rest_v[idx], rest_j, weights[idx], world_rot, joints)
            height[:, f, k] = (verts @ up).min(axis=1) + cam_height
            point[:, f, k] = joints[:, joint]
    return FootState(joints=joints, world_rot=world_rot, height=height, point=point)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _clean(mask: np.ndarray, min_frames: int) -> np.ndarray:
    out = mask.copy()
    for a, b in _runs(~out):  # fill one-frame holes inside contacts
        if b - a == 1 and a > 0 and b < len(out):
            out[a:b] = True
    for a, b in _runs(out):
        if b - a < min_frames:
            out[a:b] = False
    return out


def _speeds(points: np.ndarray, times: np.ndarray) -> np.ndarray:
    """|d point / dt| (T, ...) from (T, ..., 3) positions and (T,) seconds."""
    if len(times) < 2:
        return np.zeros(points.shape[:-1])
    vel = np.gradient(points, times, axis=0)
    return np.linalg.norm(vel, axis=-1)


def _smooth(x: np.ndarray, sigma: float, median: int = 1) -> np.ndarray:
    """Median (window `median` frames) then Gaussian (`sigma` frames) along axis 0."""
    from scipy.ndimage import median_filter

    if median > 1 and len(x) > 1:
        size = (min(median, len(x)),) + (1,) * (x.ndim - 1)
        x = median_filter(x, size=size, mode="nearest")
    if sigma > 0 and len(x) > 1:
        x = gaussian_filter1d(x, sigma, axis=0, mode="nearest")
    return x


def detect_contacts(state: FootState, times: np.ndarray, params: FootLockParams) -> np.ndarray:
    """(T, 2, 2) bool: heel/toe of each foot in contact, cleaned.

    Monocular root translation is noisy (tens of cm per frame in depth), the pose much less,
    so both tests avoid the raw root path: a point is *low* when its height above the frame's
    lowest foot point is under `contact_height` (a difference: the root cancels), and *slow*
    when its speed under `contact_speed`, the speed measured on the point's position relative
    to the pelvis plus a smoothed pelvis path (median + Gaussian over a few frames).
    """
    t = len(times)
    low = state.height - state.height.reshape(t, -1).min(axis=1)[:, None, None]
    root = state.joints[:, 0]
    root_s = _smooth(root, params.root_sigma, median=int(2 * params.root_sigma) | 1)
    steady = state.point - root[:, None, None] + root_s[:, None, None]
    speed = _speeds(steady, times)
    raw = (low < params.contact_height) & (speed < params.contact_speed)
    out = np.empty_like(raw)
    for f in range(2):
        for k in range(2):
            out[:, f, k] = _clean(raw[:, f, k], params.min_contact_frames)
    return out


def support_levels(state: FootState, contacts: np.ndarray, params: FootLockParams
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Where the person stands and how far their contacts are from it.

    Returns:
        ground (T,): height of the surface under the person (0 = the floor; a ledge, a box or a
        step keeps its own height: support that stays more than `floor_snap` above the floor),
        the median of the contact points' height over `support_window` frames;
        support (T,): the lowest in-contact point's height (NaN without contact).
    """
    t = len(contacts)
    heights = np.where(contacts, state.height, np.inf).reshape(t, -1).min(axis=1)
    support = np.where(np.isfinite(heights), heights, np.nan)
    have = np.isfinite(support)
    frames = np.arange(t)
    if not have.any():
        return np.zeros(t), support
    filled = np.interp(frames, frames[have], support[have])
    level = _smooth(filled, 0.0, median=params.support_window)
    ground = np.where(level < params.floor_snap, 0.0, level)
    return ground, support


def height_correction(ground: np.ndarray, support: np.ndarray, params: FootLockParams
                      ) -> np.ndarray:
    """(T,) metres to move the body along "up" so its contacts touch the ground: exact on
    contact frames, interpolated between them (jumps keep their arc), lightly smoothed."""
    have = np.isfinite(support)
    frames = np.arange(len(support))
    if not have.any():
        return np.zeros(len(support))
    delta = np.interp(frames, frames[have], (ground - support)[have])
    return _smooth(delta, params.height_sigma)


def horizontal_correction(state: FootState, contacts: np.ndarray, frame_ids: np.ndarray,
                          up: np.ndarray, params: FootLockParams) -> np.ndarray:
    """(T, 3) translation along the floor for the whole body, so planted points stop sliding.

    Least squares over the correction c_t: for consecutive frames with a point in contact,
    (c_t - c_{t-1} + s_t)^2 with s_t that point's slide along the floor (the correction
    cancels it); between contacts `swing_smoothness` * (c_t - c_{t-1})^2; and
    `anchor_weight` * c_t^2 so the body stays near the observed path in the long run. One
    tridiagonal solve per axis.
    """
    from scipy.linalg import solve_banded

    t = len(frame_ids)
    if t < 2:
        return np.zeros((t, 3))
    both = contacts[1:] & contacts[:-1]  # (T-1, 2, 2)
    step = np.diff(state.point, axis=0)
    step = step - (step @ up)[..., None] * up
    n = both.reshape(t - 1, -1).sum(axis=1)
    slide = np.where(both[..., None], step, 0.0).reshape(t - 1, -1, 3).sum(axis=1)
    slide = slide / np.maximum(n, 1)[:, None]
    consecutive = np.diff(frame_ids) == 1
    w = np.where((n > 0) & consecutive, 1.0, params.swing_smoothness)
    target = np.where(((n > 0) & consecutive)[:, None], -slide, 0.0)  # wanted c_t - c_{t-1}
    # Normal equations of sum_t w_t (c_t - c_{t-1} - g_t)^2 + a sum_t c_t^2.
    diag = np.full(t, params.anchor_weight)
    diag[1:] += w
    diag[:-1] += w
    off = -w
    bands = np.zeros((3, t))
    bands[0, 1:] = off
    bands[1] = diag
    bands[2, :-1] = off
    rhs = np.zeros((t, 3))
    rhs[1:] += w[:, None] * target
    rhs[:-1] -= w[:, None] * target
    c = solve_banded((1, 1), bands, rhs)
    return c - (c @ up)[:, None] * up


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3), (N, 3) -> (N, 3, 3) smallest rotations taking a to b (directions)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = (a * b).sum(-1)
    angle = np.arctan2(s, c)
    rotvec = np.where(s[:, None] > 1e-12, axis / np.maximum(s, 1e-12)[:, None] * angle[:, None],
                      0.0)
    return Rotation.from_rotvec(rotvec).as_matrix()


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK with the hip fixed: the rotations (N, 3, 3) to apply (on the left)
    to the thigh's and to the shin's world rotation so the ankle reaches `target` (or the
    nearest reachable point), the knee staying in its current bend plane.

    Args:
        hip, knee, ankle, target: (N, 3) positions.
    Returns:
        (thigh_delta, shin_delta): new thigh world rotation = thigh_delta @ old; new shin
        world rotation = shin_delta @ old (shin_delta includes thigh_delta).
    """
    a = np.linalg.norm(knee - hip, axis=-1)
    b = np.linalg.norm(ankle - knee, axis=-1)
    to_target = target - hip
    dist = np.linalg.norm(to_target, axis=-1)
    d = np.clip(dist, np.abs(a - b) + 1e-4, 0.9995 * (a + b))
    u = to_target / np.maximum(dist, 1e-9)[:, None]
    bend = (knee - hip) - ((knee - hip) * u).sum(-1, keepdims=True) * u
    bn = np.linalg.norm(bend, axis=-1, keepdims=True)
    # A straight leg has no bend plane: bend towards the current knee-ankle side.
    fallback = np.cross(u, np.cross(ankle - hip, u) + 1e-6)
    bend = np.where(bn > 1e-6, bend / np.maximum(bn, 1e-9),
                    fallback / np.linalg.norm(fallback, axis=-1, keepdims=True))
    cos_a = np.clip((a ** 2 + d ** 2 - b ** 2) / (2 * a * d), -1.0, 1.0)
    new_knee = hip + a[:, None] * (cos_a[:, None] * u + np.sqrt(1 - cos_a ** 2)[:, None] * bend)
    new_ankle = hip + d[:, None] * u
    thigh = _rotation_between(knee - hip, new_knee - hip)
    turned_shin = (thigh @ (ankle - knee)[..., None])[..., 0]
    shin = _rotation_between(turned_shin, new_ankle - new_knee) @ thigh
    return thigh, shin


@dataclass
class PersonLock:
    person: PersonMotion  # corrected motion
    contacts: np.ndarray  # (T, 2, 2) heel/toe contacts used
    ground: np.ndarray  # (T,) height of the surface stood on (0: the floor)
    before: FootState  # feet as given
    after: FootState  # feet after the correction


def foot_lock_person(person: PersonMotion, rest_v: np.ndarray, rest_j: np.ndarray,
                     weights: np.ndarray, up: np.ndarray, cam_height: float,
                     params: FootLockParams = FootLockParams()) -> PersonLock:
    """Contacts, then the body's height and horizontal path, then leg IK, for one person (see
    the module docstring).

    Args:
        person: motion in camera space.
        rest_v, rest_j: (V, 3), (24, 3) rest mesh / joints for the person's betas.
        weights: (V, 24) skinning weights.
        up, cam_height: the floor plane (`Floor.plane(level)`).
    """
    params.validate()
    regions = _foot_regions(weights)
    before = foot_state(person, rest_v, rest_j, weights, regions, up, cam_height)
    times = person.timestamps
    t = len(person)
    if t < max(2, params.min_contact_frames):
        return PersonLock(person, np.zeros((t, 2, 2), bool), np.zeros(t), before, before)
    contacts = detect_contacts(before, times, params)
    ground, support = support_levels(before, contacts, params)
    delta = height_correction(ground, support, params)
    # The interpolated correction may push a foot into the ground: lift those frames just
    # enough (contact points are then put exactly on the ground by the IK below).
    lowest = before.height.reshape(t, -1).min(axis=1) + delta
    delta = delta + np.maximum(ground - lowest, 0.0)
    moved = person.transl + delta[:, None] * up
    lifted = replace(person, transl=moved.astype(np.float32))
    state = foot_state(lifted, rest_v, rest_j, weights, regions, up, cam_height)
    moved = lifted.transl + horizontal_correction(state, contacts, person.frame_ids, up, params)
    lifted = replace(person, transl=moved.astype(np.float32))
    state = foot_state(lifted, rest_v, rest_j, weights, regions, up, cam_height)

    pose = person.pose.astype(np.float64).copy()
    world = state.world_rot
    breaks = np.flatnonzero(np.diff(person.frame_ids) > 1) + 1  # runs never span a gap
    for f, side in enumerate(("left", "right")):
        hip, knee, ankle, _ = LEGS[side]
        shift = np.zeros((t, 3))
        weight = np.zeros(t)
        for a, b in _runs(contacts[:, f].any(axis=1)):
            for lo, hi in _split(a, b, breaks):
                run = slice(lo, hi)
                moves = []
                for k in range(2):
                    on = contacts[run, f, k]
                    if not on.any():
                        continue
                    pts = state.point[run, f, k]
                    flat = pts - (pts @ up)[:, None] * up  # position along the floor
                    anchor = flat[on].mean(axis=0)
                    lift = ground[run] - state.height[run, f, k]
                    move = anchor - flat + lift[:, None] * up
                    moves.append(np.where(on[:, None], move, np.nan))
                shift[run] = np.nan_to_num(np.nanmean(np.stack(moves), axis=0))
                weight[run] = 1.0
        for a, b in _runs(weight > 0):
            _ramp(shift, weight, a, b, params.blend_frames, breaks)
        active = weight > 0
        if not active.any():
            continue
        target = state.joints[active, ankle] + weight[active, None] * shift[active]
        thigh, shin = two_bone_ik(state.joints[active, hip], state.joints[active, knee],
                                  state.joints[active, ankle], target)
        new_thigh = thigh @ world[active, hip]
        new_shin = shin @ world[active, knee]
        for joint, rot in ((hip, np.swapaxes(world[active, 0], -1, -2) @ new_thigh),
                           (knee, np.swapaxes(new_thigh, -1, -2) @ new_shin),
                           (ankle, np.swapaxes(new_shin, -1, -2) @ world[active, ankle])):
            pose[active, joint] = Rotation.from_matrix(rot).as_rotvec()
    locked = replace(lifted, pose=pose.astype(np.float32))
    after = foot_state(locked, rest_v, rest_j, weights, regions, up, cam_height)
    if locked.joints3d is not None:
        locked = replace(locked, joints3d=after.joints.astype(np.float32))
    return PersonLock(locked, contacts, ground, before, after)


def _split(a: int, b: int, breaks: np.ndarray) -> list[tuple[int, int]]:
    cuts = [a] + [int(x) for x in breaks if a < x < b] + [b]
    return list(zip(cuts[:-1], cuts[1:]))


def _ramp(shift: np.ndarray, weight: np.ndarray, lo: int, hi: int, n: int,
          breaks: np.ndarray) -> None:
    """Fade the lock of the run [lo, hi) in before it and out after it over n frames."""
    t = len(weight)
    for i in range(1, n + 1):
        w = 1.0 - i / (n + 1)
        for frame, edge in ((lo - i, lo), (hi - 1 + i, hi - 1)):
            if not (0 <= frame < t) or weight[frame] >= w:
                continue
            crosses = any(min(frame, edge) < x <= max(frame, edge) for x in breaks)
            if crosses:
                continue
            weight[frame] = w
            shift[frame] = shift[edge]


def contact_samples(state: FootState, contacts: np.ndarray, up: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """What the foot metrics average: the slide (m per frame: motion of a contact point along
    the floor between two consecutive frames both in contact) and the height above the floor
    (m) of contact points on contact frames.

    Args:
        state: feet to measure (before or after locking).
        contacts: (T, 2, 2) the contacts to measure over.
        up: (3,) the floor's up direction.
    Returns:
        slides (S,), heights (H,).
    """
    both = contacts[1:] & contacts[:-1]
    step = np.diff(state.point, axis=0)  # (T-1, 2, 2, 3)
    along_floor = step - (step @ up)[..., None] * up
    return np.linalg.norm(along_floor, axis=-1)[both], state.height[contacts]


def foot_lock_result(result: MotionResult, body_model, *, level: bool = False,
                     params: FootLockParams = FootLockParams()
                     ) -> tuple[MotionResult, dict[str, float]]:
    """Foot-lock every person of `result` against its floor (estimated now if absent).

    Args:
        result: people to correct (camera space; with a moving camera they are locked in the
            world frame, meshvid/scene/world.py, and returned in camera space).
        body_model: the result's body model.
        level: use the levelled floor plane (as `meshvid export --level`).
        params: thresholds.
    Returns:
        (corrected result, metrics over all people, before -> after, on the same contacts:
        `foot_slide_mm_before/after` mean slide of a contact point per frame (mm);
        `foot_height_cm_before/after` median height above the floor of contact points on
        floor contacts; `foot_contact_frames` (frames x feet in contact), of which
        `foot_ledge_contact_frames` stand on a raised surface, not the floor).
    """
    from meshvid.scene.floor import rest_shape, with_floor
    from meshvid.scene.world import is_moving, result_in_camera, result_in_world

    if is_moving(result):  # the floor is a plane of the world, not of a turning camera
        locked, stats = foot_lock_result(result_in_world(result), body_model, level=level,
                                         params=params)
        return result_in_camera(locked, result.camera), stats
    result = with_floor(result, body_model)
    up, cam_height = result.floor.plane(level)
    weights = body_model.lbs_weights.detach().cpu().numpy().astype(np.float64)
    persons = []
    samples: dict[str, list] = {"before": [], "after": []}
    contact_frames = ledge_frames = 0
    for person in result.persons:
        rest_v, rest_j = rest_shape(body_model, person.betas)
        lock = foot_lock_person(person, rest_v, rest_j, weights, up, cam_height, params)
        persons.append(lock.person)
        on_floor = lock.contacts & (lock.ground == 0)[:, None, None]
        for name, state in (("before", lock.before), ("after", lock.after)):
            slide, _ = contact_samples(state, lock.contacts, up)
            _, height = contact_samples(state, on_floor, up)
            samples[name].append((slide, height))
        per_foot = lock.contacts.any(axis=2)
        contact_frames += int(per_foot.sum())
        ledge_frames += int((per_foot & (lock.ground > 0)[:, None]).sum())
    stats: dict[str, float] = {}
    for name, pairs in samples.items():
        slide = np.concatenate([x for x, _ in pairs])
        height = np.concatenate([y for _, y in pairs])
        stats[f"foot_slide_mm_{name}"] = float(1000 * slide.mean()) if slide.size else 0.0
        stats[f"foot_height_cm_{name}"] = float(100 * np.median(height)) if height.size else 0.0
    stats["foot_contact_frames"] = float(contact_frames)
    stats["foot_ledge_contact_frames"] = float(ledge_frames)
    extra = dict(result.extra)
    extra[EXTRA_KEY] = json.dumps({"level": level, **asdict(params)}, sort_keys=True)
    return replace(result, persons=persons, extra=extra), stats


def is_foot_locked(result: MotionResult) -> bool:
    """Whether `result` was foot-locked already (e.g. by `meshvid smooth --foot-lock`)."""
    return EXTRA_KEY in result.extra
