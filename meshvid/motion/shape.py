"""What a skeleton's shape and motion say when its names do not: the joint map, the unit, and
a T-pose frame 0.

Joint map from shape (`map_by_shape`), on the tree of joints left after dropping end sites and
the helper bones the names mark (twist, share, roll, fingers, ...; their children are re-hung on
the nearest kept ancestor):

1. the shortest branches (leaf up to its nearest branch point; fingers, toes, eyes, jaw) are
   pruned one at a time until five leaves remain: two feet, two hands, the head (a tree with
   four left has its head among the pruned branches: the longest one off the upper spine);
2. legs are the two leaves that the other three's common ancestor (the upper spine: arms
   and head) does not carry (of several such splits, the one whose upper hub is deepest); the
   legs' common ancestor is the pelvis; the head is the one of the three closest to the hub;
3. along each limb's chain, joints that never leave the line through their neighbours (twist
   bones, zero-length connectors) are dropped where the limb bends at all; the thigh and shin
   (upper arm and forearm) are then the consecutive pair of bones whose shorter one is longest,
   which places hip, knee, ankle (shoulder, elbow, wrist), the next joint (toes / hand) and, for
   arms, a clavicle before the shoulder;
4. left and right: knees bend backwards, so the normal of the (thigh, shin) plane points to the
   body's left in bent frames; without bent knees, toes point forwards; without toes, the
   rig's +x is its left (the Blender, Maya and SMPL convention for a character facing the
   viewer). Arms take the side of the hip they are nearer to.

A skeleton that does not stand up at some point (trunk opposite the legs) is not a humanoid.
"""

from __future__ import annotations

import numpy as np

from meshvid.errors import InputError
from meshvid.motion.capture import UNITS
from meshvid.motion.skeletons import JointMap, name_role

# A standing adult's leg (hip joint centre to ankle joint centre, thigh + shin), metres: what the
# unit detection scales a skeleton's legs to.
TYPICAL_LEG_M = 0.80
_BENT_SIN = np.sin(np.radians(20.0))


def _median_lengths(points: np.ndarray, parents: list[int]) -> np.ndarray:
    """(J,) median bone length over frames (0 for roots). points: (T, J, 3)."""
    out = np.zeros(len(parents))
    for j, p in enumerate(parents):
        if p >= 0:
            out[j] = float(np.median(np.linalg.norm(points[:, j] - points[:, p], axis=-1)))
    return out


def _path_to_root(parents: list[int], j: int) -> list[int]:
    out = [j]
    while parents[out[-1]] >= 0:
        out.append(parents[out[-1]])
    return out


def _lca(parents: list[int], nodes: list[int]) -> int:
    paths = [_path_to_root(parents, n)[::-1] for n in nodes]  # root first
    k = 0
    while all(len(p) > k for p in paths) and len({p[k] for p in paths}) == 1:
        k += 1
    return paths[0][k - 1] if k else -1


def _chain(parents: list[int], top: int, leaf: int) -> list[int]:
    """Nodes from `top` (excluded) down to `leaf` (included)."""
    out = []
    n = leaf
    while n != top and n >= 0:
        out.append(n)
        n = parents[n]
    return out[::-1]


def _reduce(chain: list[int], hub: int, points: np.ndarray, scale: float) -> list[int]:
    """Drop connectors (a bone under 6 % of the limb: the deeper joint stays) and, where the limb
    bends, the joints that never leave the line through their neighbours (twist bones), keeping
    at least three. Returns the kept chain (hub excluded)."""
    nodes = [hub] + list(chain)
    bone = [float(np.median(np.linalg.norm(points[:, b] - points[:, a], axis=-1))) for a, b in zip(nodes, nodes[1:])]
    short = max(0.005 * scale, 0.06 * sum(bone))  # connectors: under 6 % of the limb (CMU's hip 3 %)
    keep = [nodes[0]]
    for n in nodes[1:]:
        if np.median(np.linalg.norm(points[:, n] - points[:, keep[-1]], axis=-1)) > short:
            keep.append(n)
        else:
            keep[-1] = n if len(keep) > 1 else keep[-1]  # the deeper of two coincident joints
    nodes = keep

    def deviation(i: int) -> float:
        a, b, c = points[:, nodes[i - 1]], points[:, nodes[i]], points[:, nodes[i + 1]]
        ac = c - a
        length = np.maximum(np.linalg.norm(ac, axis=-1), 1e-9)
        u = ac / length[:, None]
        t = np.clip(((b - a) * u).sum(-1), 0.0, length)
        d = np.linalg.norm(b - (a + t[:, None] * u), axis=-1) / length
        return float(d.max())

    while len(nodes) > 4:  # the hub and three joints (hip, knee, ankle) stay whatever the motion
        devs = [deviation(i) for i in range(1, len(nodes) - 1)]
        if max(devs) < 0.1:  # the limb never bends in this clip: collinearity says nothing
            break
        i = int(np.argmin(devs))
        if devs[i] > 0.03:
            break
        del nodes[i + 1]
    return nodes[1:]


def _limb_roles(chain: list[int], hub: int, points: np.ndarray) -> tuple[int, int, int, int | None, int | None]:
    """(upper, middle, end, next after end or None, before upper or None) joints of a limb:
    the consecutive pair of bones whose shorter one is longest (thigh + shin, upper arm +
    forearm)."""
    nodes = [hub] + chain
    bone = [0.0] + [float(np.median(np.linalg.norm(points[:, nodes[k]] - points[:, nodes[k - 1]], axis=-1)))
                    for k in range(1, len(nodes))]
    best, best_k = -1.0, -1
    for k in range(2, len(nodes) - 1):  # bone k = nodes[k-1] -> nodes[k]; the upper joint is not the hub
        v = min(bone[k], bone[k + 1])
        if v > best:
            best, best_k = v, k
    if best_k < 0:
        raise InputError("not a humanoid skeleton: a limb has fewer than three joints")
    k = best_k
    after = nodes[k + 2] if k + 2 < len(nodes) else None
    before = nodes[k - 2] if k - 2 >= 1 and bone[k - 1] > 0.25 * bone[k] else None
    return nodes[k - 1], nodes[k], nodes[k + 1], after, before


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def map_by_shape(names: tuple[str, ...], parents: tuple[int, ...], points: np.ndarray,
                 rest_frame: int = 0) -> JointMap:
    """A joint map from the skeleton's tree, bone lengths and motion (module docstring).

    Args:
        names: (J,) point names (used only to drop end sites and helper bones).
        parents: (J,) parent index per point, -1 for a root; parents before children.
        points: (T, J, 3) positions, any unit and axes.
        rest_frame: the frame the toes-forward side rule reads (a T-pose frame 0, else 0).
    Returns:
        JointMap with family "inferred from shape", method "shape".
    Raises:
        InputError: "not a humanoid skeleton: ..." when no two legs, two arms and a head are
            found, or the body never stands.
    """
    j_all = len(names)
    kept = [not (n.endswith("_end") or name_role(n).role == "ignore") for n in names]
    kp = [-1] * j_all  # nearest kept ancestor
    for j, p in enumerate(parents):
        while p >= 0 and not kept[p]:
            p = parents[p]
        kp[j] = p
    nodes = [j for j in range(j_all) if kept[j]]
    roots = [j for j in nodes if kp[j] < 0]
    if len(roots) != 1:
        raise InputError(f"not a humanoid skeleton: {len(roots)} separate trees")
    bl = _median_lengths(points, kp)
    if len(nodes) < 9:
        raise InputError(f"not a humanoid skeleton: {len(nodes)} joints")
    children: dict[int, list[int]] = {j: [] for j in nodes}
    for j in nodes:
        if kp[j] >= 0:
            children[kp[j]].append(j)
    # Summed bone length: the scale the length thresholds below are relative to.
    scale = float(np.sum(bl[nodes])) or 1.0
    alive = set(nodes)
    pruned: list[tuple[int, float, list[int]]] = []  # (attach node, length, nodes leaf-first)

    def branches() -> list[tuple[int, float, list[int]]]:
        out = []
        for leaf in alive:
            if any(c in alive for c in children[leaf]):
                continue
            path, n, length = [leaf], leaf, 0.0
            while kp[n] >= 0 and sum(c in alive for c in children[kp[n]]) == 1:
                length += bl[n]
                n = kp[n]
                path.append(n)
            if kp[n] < 0:
                continue  # a chain from the root itself
            out.append((kp[n], length + bl[n], path))
        return out

    while True:
        br = branches()
        if len(br) <= 5:
            break
        attach, length, path = min(br, key=lambda b: b[1])
        alive -= set(path)
        pruned.append((attach, length, path))
    leaves = [b[2][0] for b in br]
    scale = float(np.sum(bl[sorted(alive)])) or scale  # the five limbs' bones: ~2 body heights
    if len(leaves) < 4:
        raise InputError(f"not a humanoid skeleton: {len(leaves)} limbs")
    parents_l = list(kp)
    # Legs: the pair whose common ancestor is above the rest's.
    best = None
    for a in range(len(leaves)):
        for b in range(a + 1, len(leaves)):
            legs = [leaves[a], leaves[b]]
            rest = [x for x in leaves if x not in legs]
            lo, hi = _lca(parents_l, legs), _lca(parents_l, rest)
            if lo == hi or any(hi in _path_to_root(parents_l, x) for x in legs):
                continue  # the upper hub must not carry a leg
            # among valid splits, the one whose upper hub is deepest (arms + head meet there)
            key = len(_path_to_root(parents_l, hi))
            if best is None or key > best[0]:
                best = (key, legs, rest, lo, hi)
    if best is None:
        raise InputError("not a humanoid skeleton: no pelvis with two legs below an upper spine")
    _, legs, upper, pelvis, hub = best
    head_chain: list[int] = []
    if len(upper) == 3:
        dist = [sum(bl[n] for n in _chain(parents_l, hub, x)) for x in upper]
        head_leaf = upper[int(np.argmin(dist))]
        arms = [x for x in upper if x != head_leaf]
        head_chain = _chain(parents_l, hub, head_leaf)
    else:
        arms = upper
        spine = set(_path_to_root(parents_l, hub)) - set(_path_to_root(parents_l, pelvis)) | {hub}
        heads = [b for b in pruned if b[0] in spine]
        if heads:
            attach, _, path = max(heads, key=lambda b: b[1])
            head_chain = path[::-1]
    # Limb roles.
    leg_roles = [_limb_roles(_reduce(_chain(parents_l, pelvis, x), pelvis, points, scale), pelvis, points) for x in legs]
    arm_roles = [_limb_roles(_reduce(_chain(parents_l, hub, x), hub, points, scale), hub, points) for x in arms]
    # Humanoid: at some point the trunk stands above the legs.
    hip_mid = 0.5 * (points[:, leg_roles[0][0]] + points[:, leg_roles[1][0]])
    ankle_mid = 0.5 * (points[:, leg_roles[0][2]] + points[:, leg_roles[1][2]])
    sh_mid = 0.5 * (points[:, arm_roles[0][0]] + points[:, arm_roles[1][0]])
    stand = -(_unit(sh_mid - hip_mid) * _unit(ankle_mid - hip_mid)).sum(-1)
    if np.percentile(stand, 90) < 0.7:
        raise InputError("not a humanoid skeleton: its trunk never stands above its legs")
    # Sides.
    lateral = points[:, leg_roles[0][0]] - points[:, leg_roles[1][0]]
    votes = []
    for hip, knee, ankle, _, _ in leg_roles:
        e1, e2 = points[:, knee] - points[:, hip], points[:, ankle] - points[:, knee]
        n = np.cross(e1, e2)
        sin = np.linalg.norm(n, axis=-1) / np.maximum(np.linalg.norm(e1, axis=-1) * np.linalg.norm(e2, axis=-1), 1e-12)
        bent = sin > _BENT_SIN
        votes.append((_unit(n[bent]) * _unit(lateral[bent])).sum(-1))
    v = np.concatenate(votes)
    if len(v) >= 10:
        first_left = float(np.median(v)) > 0
    elif leg_roles[0][3] is not None and leg_roles[1][3] is not None:
        r = rest_frame
        up = _unit(sh_mid[r] - hip_mid[r])
        fwd = sum(points[r, lr[3]] - points[r, lr[2]] for lr in leg_roles)
        left = np.cross(up, fwd)
        first_left = float(np.dot(lateral[rest_frame], left)) > 0
    else:
        first_left = float(lateral[rest_frame, 0]) > 0
    if not first_left:
        leg_roles = leg_roles[::-1]
    hip_line = points[:, leg_roles[0][0]] - points[:, leg_roles[1][0]]
    arm_side = float(np.median(((points[:, arm_roles[0][0]] - points[:, arm_roles[1][0]]) * hip_line).sum(-1)))
    if arm_side < 0:
        arm_roles = arm_roles[::-1]
    m: dict[str, str] = {"pelvis": names[pelvis]}
    for side, (hip, knee, ankle, toe, _) in zip(("left", "right"), leg_roles):
        m.update({f"{side}_hip": names[hip], f"{side}_knee": names[knee], f"{side}_ankle": names[ankle]})
        if toe is not None:
            m[f"{side}_foot"] = names[toe]
    for side, (sh, el, wr, hand, collar) in zip(("left", "right"), arm_roles):
        m.update({f"{side}_shoulder": names[sh], f"{side}_elbow": names[el], f"{side}_wrist": names[wr]})
        if hand is not None:
            m[f"{side}_hand"] = names[hand]
        if collar is not None:
            m[f"{side}_collar"] = names[collar]
    head_chain = [n for n in head_chain if bl[n] > 0.005 * scale] or head_chain
    if head_chain:
        m["neck"] = names[head_chain[0]]
        if len(head_chain) > 1:
            m["head"] = names[head_chain[-1]]
    else:
        m["neck"] = names[hub]
    ignored = tuple(n for n, k in zip(names, kept) if not k and not n.endswith("_end"))
    return JointMap(m, "inferred from shape", "shape", ignored)


def leg_length(points: np.ndarray, index: dict[str, int]) -> float:
    """Median thigh + shin length (file units), mean of both legs. points: (T, P, 3); index:
    our joint -> point index (hips, knees, ankles)."""
    out = []
    for s in ("left", "right"):
        h, k, a = (points[:, index[f"{s}_{n}"]] for n in ("hip", "knee", "ankle"))
        out.append(np.median(np.linalg.norm(k - h, axis=-1)) + np.median(np.linalg.norm(a - k, axis=-1)))
    return float(np.mean(out))


def detect_unit_from_legs(length: float) -> tuple[float, str]:
    """The unit (capture.UNITS) that makes a leg of `length` file units closest to a typical
    adult's (TYPICAL_LEG_M), in log scale. Returns (metres per unit, name)."""
    if not np.isfinite(length) or length <= 0:
        return 1.0, "m (assumed)"
    name, unit = min(UNITS.items(), key=lambda kv: abs(np.log(length * kv[1] / TYPICAL_LEG_M)))
    return unit, f"{name} (detected)"


def tpose_frame0(points: np.ndarray, index: dict[str, int]) -> bool:
    """True when frame 0 is a T-pose that is not part of the motion (cgspeed-style files): arms
    straight out sideways within 25 deg of horizontal, legs straight, and frame 1 a jump away
    from it (root-relative, more than 4x the clip's 95th-percentile frame step and 5 % of the
    leg length).

    Args:
        points: (T, P, 3) positions, any unit and axes.
        index: our joint -> point index (hips, knees, ankles, shoulders, elbows, wrists).
    """
    if len(points) < 4:
        return False
    p0 = points[0]

    def at(name: str) -> np.ndarray:
        return p0[index[name]]

    up = _unit(0.5 * (at("left_shoulder") + at("right_shoulder")) - 0.5 * (at("left_hip") + at("right_hip")))
    for side, other in (("left", "right"), ("right", "left")):
        out = at(f"{side}_shoulder") - at(f"{other}_shoulder")
        for a, b in (("shoulder", "elbow"), ("elbow", "wrist")):
            bone = _unit(at(f"{side}_{b}") - at(f"{side}_{a}"))
            if abs(float(bone @ up)) > np.sin(np.radians(25.0)) or float(bone @ out) <= 0:
                return False
        thigh = _unit(at(f"{side}_knee") - at(f"{side}_hip"))
        shin = _unit(at(f"{side}_ankle") - at(f"{side}_knee"))
        if float(thigh @ shin) < np.cos(np.radians(20.0)):
            return False
    keys = [index[k] for k in index if k != "head_top"]
    rel = points[:, keys] - points[:, [index["left_hip"]]]
    step = np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean(-1)  # (T-1,)
    usual = float(np.percentile(step[1:], 95))
    return bool(step[0] > 4.0 * usual and step[0] > 0.05 * leg_length(points, index))
