"""Skeleton families and the name layer: which source point sits where on our 24-joint body.

A joint map sends some of our SMPL_24 joints (plus "head_top") to the source point at the same
place on the body: a BVH / FBX joint's position is where its bone STARTS (LeftUpLeg = the hip),
an ASF / cmu8 point is where a bone ENDS (lfemur = the knee). Known families have explicit maps
(FAMILIES); every other skeleton goes through one name resolver (`map_by_names`: the
conventions of Mixamo, Unity, Unreal, 3ds Max Biped, Daz, iClone/CC, Xsens/Rokoko, VRM,
Blender, both CMU-BVH variants, SMPL and meshvid's own exports), and when names do not decide,
through the skeleton's shape (motion/shape.py). retarget.map_capture chooses; units and the up
axis are settled in retarget.prepare / retarget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshvid.errors import InputError

# Our joints a map must provide for retargeting (the rest is optional).
REQUIRED = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
            "right_wrist")
OPTIONAL = ("pelvis", "spine1", "spine3", "neck", "head", "head_top", "left_collar",
            "right_collar", "left_foot", "right_foot", "left_hand", "right_hand")


def _sided(common: dict[str, str], sided: dict[str, str], left: str, right: str) -> dict[str, str]:
    out = dict(common)
    for ours, theirs in sided.items():
        out[f"left_{ours}"] = theirs.format(s=left)
        out[f"right_{ours}"] = theirs.format(s=right)
    return out


FAMILIES: dict[str, dict[str, str]] = {
    # Bandai Namco Research Motion dataset (BVH, Y up, cm).
    "bandai": _sided(
        {"pelvis": "Hips", "spine1": "Spine", "spine3": "Chest", "neck": "Neck", "head": "Head"},
        {"hip": "UpperLeg_{s}", "knee": "LowerLeg_{s}", "ankle": "Foot_{s}", "foot": "Toes_{s}",
         "collar": "Shoulder_{s}", "shoulder": "UpperArm_{s}", "elbow": "LowerArm_{s}",
         "wrist": "Hand_{s}"}, "L", "R"),
    # CMU's BVH conversions (cgspeed / "Daz-friendly" names: LHipJoint, LowerBack, Neck1, ...).
    "cmu-bvh": _sided(
        {"pelvis": "Hips", "spine1": "Spine", "spine3": "Spine1", "neck": "Neck", "head": "Head",
         "head_top": "Head_end"},
        {"hip": "{s}UpLeg", "knee": "{s}Leg", "ankle": "{s}Foot", "foot": "{s}ToeBase",
         "shoulder": "{s}Arm", "elbow": "{s}ForeArm", "wrist": "{s}Hand",
         "hand": "{s}FingerBase"}, "Left", "Right"),
    # Mixamo (the "mixamorig:" prefix is stripped before matching).
    "mixamo": _sided(
        {"pelvis": "Hips", "spine1": "Spine", "spine3": "Spine2", "neck": "Neck", "head": "Head",
         "head_top": "HeadTop_End"},
        {"hip": "{s}UpLeg", "knee": "{s}Leg", "ankle": "{s}Foot", "foot": "{s}ToeBase",
         "collar": "{s}Shoulder", "shoulder": "{s}Arm", "elbow": "{s}ForeArm", "wrist": "{s}Hand"},
        "Left", "Right"),
    # CMU ASF/AMC: points are bone ends.
    "cmu-asf": _sided(
        {"pelvis": "root", "spine1": "lowerback", "spine3": "upperback", "neck": "thorax",
         "head": "upperneck", "head_top": "head"},
        {"hip": "{s}hipjoint", "knee": "{s}femur", "ankle": "{s}tibia", "foot": "{s}foot",
         "shoulder": "{s}clavicle", "elbow": "{s}humerus", "wrist": "{s}radius", "hand": "{s}wrist"},
        "l", "r"),
    # cmu8 exp-map text (names from meshvid.motion.cmu8.NAMES; bone ends).
    "cmu8": _sided(
        {"pelvis": "root", "spine1": "lowerback", "neck": "upperback", "head": "upperneck",
         "head_top": "head"},
        {"hip": "{s}hipjoint", "knee": "{s}femur", "ankle": "{s}tibia", "foot": "{s}foot",
         "shoulder": "{s}clavicle", "elbow": "{s}humerus", "wrist": "{s}radius", "hand": "{s}wrist"},
        "l", "r"),
    # DeepMimic (pybullet humanoid; points from meshvid.synth.deepmimic's FK).
    "deepmimic": _sided(
        {"pelvis": "root", "spine1": "chest", "neck": "neck"},
        {"hip": "{s}_hip", "knee": "{s}_knee", "ankle": "{s}_ankle", "shoulder": "{s}_shoulder",
         "elbow": "{s}_elbow", "wrist": "{s}_wrist"}, "left", "right"),
}


# Up axis of the families whose world is known (all y up). Others are detected from the motion
# (retarget.up_axis): a clip spent lying down (a crawl, a get-up) cannot tell its up axis from
# its poses, so a known family's is never guessed.
# Daz Studio's world is y up (cm); the CMU library's Daz-named clips include swimming and lying
# clips (subjects 125, 126, 139, 140) whose motion alone pointed 30 of 2,495 clips the wrong way.
FAMILY_UP: dict[str, str] = {"bandai": "+y", "cmu-bvh": "+y", "cmu-asf": "+y", "cmu8": "+y", "deepmimic": "+y",
                             "daz": "+y"}


# --- the name layer: one resolver for every other skeleton (BVH, FBX, our own exports)
#
# A name is split into lower-case tokens (camelCase, "_", ".", "-", spaces, digits glued to
# words kept apart from them), its namespace ("mixamorig:", "person_3:", "Armature|") and the
# rig prefixes below dropped, a side read from Left/L/l/_l/.L/Right/R/..., and the side-less
# stem matched against _ROLES. Helper bones (twist, share, roll, IK, fingers, toe digits, face,
# ends) are ignored. Stems that mean different joints in different conventions are resolved
# per side from what else the side has (_resolve).

_NOISE = frozenset({"mixamorig", "cc", "base", "bip", "bip01", "bip001", "character", "def", "org",
                    "mch", "jnt", "bone", "avg", "skel", "rig", "armature", "bend", "j", "drv", "c",
                    "m", "f", "sk", "b"})
_LEFT, _RIGHT = frozenset({"left", "l", "lft", "lf"}), frozenset({"right", "r", "rt", "rgt"})
# Tokens (digits removed) that mark a bone meshvid ignores: twist / share / roll / helper bones,
# IK targets, fingers, toe digits, face, ends, props.
_IGNORE = frozenset({
    "twist", "share", "roll", "helper", "ik", "pole", "nub", "end", "adjust", "corrective", "jiggle",
    "breast", "ribs", "eye", "eyes", "jaw", "tongue", "teeth", "lid", "brow", "lip", "cheek", "ear",
    "nose", "thumb", "index", "middle", "mid", "ring", "pinky", "little", "finger", "fingers",
    "carpal", "metacarpal", "metatarsals", "metatarsal", "bigtoe", "smalltoe", "big", "small",
    "weapon", "prop", "socket", "attach", "dummy", "footsteps", "hair", "skirt", "tail", "cape",
    "target", "ctrl", "control", "upvector", "scale", "pinkie", "gun", "camera", "light", "mesh",
    "geometry", "body"})
# Side-less stem (tokens joined, digits dropped) -> role, for sided bones. Ambiguous stems get
# a role group resolved by _resolve: "shoulder" (collar or upper arm), "foot" (ankle or toes),
# "hand" (wrist or finger base), "hip" (hip or a pelvis connector).
_SIDED: dict[str, str] = {
    "upleg": "hip", "upperleg": "hip", "thigh": "hip", "femur": "hip", "legupper": "hip", "hip": "?hip",
    "hipjoint": "connector", "buttock": "hip",  # Daz-friendly CMU: lButtock sits at the hip joint
    "leg": "knee", "lowerleg": "knee", "calf": "knee", "shin": "knee", "knee": "knee",
    "tibia": "knee", "leglower": "knee", "crus": "knee",
    "foot": "?foot", "ankle": "ankle",
    "toebase": "foot", "toe": "foot", "toes": "foot", "ball": "foot",
    "clavicle": "collar", "collar": "collar", "clav": "collar", "shoulder": "?shoulder",
    "upperarm": "shoulder", "arm": "shoulder", "shldr": "shoulder", "humerus": "shoulder",
    "armupper": "shoulder", "uparm": "shoulder",
    "forearm": "elbow", "lowerarm": "elbow", "elbow": "elbow", "radius": "elbow",
    "armlower": "elbow", "ulna": "elbow",
    "hand": "?hand", "wrist": "wrist", "fingerbase": "hand", "palm": "hand",
}
_CENTRE_ROLES: dict[str, str] = {
    "hips": "pelvis", "pelvis": "pelvis", "hip": "pelvis", "root": "pelvis", "cog": "pelvis",
    "neck": "neck", "necklower": "neck", "lowerneck": "neck", "necktwist": "neck",
    "head": "head", "headtop": "head_top", "headend": "head_top", "headtopend": "head_top",
    "headnub": "head_top",
}
_PELVIS_PREFERENCE = ("hips", "pelvis", "hip", "cog", "root")

# Skeleton conventions, for the report (the map itself comes from the resolver): the first
# whose test passes names the family.
_CONVENTIONS: tuple[tuple[str, str], ...] = (
    ("mixamo", r"(^|[:|])mixamorig\d*[:_]"),
    ("iclone-cc", r"^CC_Base_"),
    ("3dsmax-biped", r"^Bip0*1[ _]"),
    ("vrm", r"^J_Bip_"),
    ("cmu-bvh", r"^(LHipJoint|LowerBack)$"),
    ("unreal", r"^(upperarm_l|calf_l|thigh_l|lowerarm_l)$"),
    ("daz", r"^(lShldr\w*|lThigh\w*|lShin|lForeArm|lForearmBend|abdomen\w*)$"),
    ("xsens", r"^(L5|L3|T12|T8)$"),
    ("unity-humanoid", r"^(LeftUpperArm|LeftLowerLeg|LeftUpperLeg|LeftLowerArm)$"),
    ("bandai", r"^(UpperArm_L|LowerLeg_L)$"),
    ("smpl", r"^(left_hip|L_Hip|left_collar|L_Collar)$"),
    ("blender-rigify", r"^(upper_arm|thigh|shin|forearm)\.[LR]$"),
    ("mixamo", r"^(LeftUpLeg|LeftForeArm)$"),
)


def strip_prefix(name: str) -> str:
    """The name without its namespace: 'mixamorig:LeftArm' -> 'LeftArm', 'person_2:pelvis' ->
    'pelvis', 'Armature|Hips' -> 'Hips' ('Bip01 L Thigh' stays: its prefix is a token)."""
    return re.split(r"[:|]", name)[-1]


def tokens(name: str) -> list[str]:
    """Lower-case tokens of a joint name, namespace and rig prefixes dropped.

    'mixamorig:LeftUpLeg' -> ['left', 'up', 'leg']; 'CC_Base_L_UpperarmTwist01' -> ['l',
    'upperarm', 'twist01']; 'LHipJoint' -> ['l', 'hip', 'joint']; 'upperarm_l' -> ['upperarm', 'l'].
    """
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", strip_prefix(name))
    s = re.sub(r"([A-Z])([A-Z][a-z])", r"\1 \2", s)
    out = []
    for t in re.split(r"[^A-Za-z0-9]+", s.lower()):
        if not t or t.isdigit() or t in _NOISE or re.fullmatch(r"bip0*\d+|character\d+|mixamorig\d*", t):
            continue
        out.append(t)
    return out


@dataclass(frozen=True)
class NameRole:
    """What a joint name says: side ("left", "right" or None), side-less stem, role (our joint
    stem such as "knee", "?shoulder" for an ambiguous stem, "ignore", or "" when none)."""

    side: str | None
    stem: str
    role: str


def name_role(name: str) -> NameRole:
    """Side, stem and role of one joint name (see _SIDED / _CENTRE_ROLES / _IGNORE)."""
    toks = tokens(name)
    plain = [re.sub(r"\d+", "", t) for t in toks]
    side = None
    rest = []
    for t in plain:
        if t in _LEFT and side is None:
            side = "left"
        elif t in _RIGHT and side is None:
            side = "right"
        elif t:
            rest.append(t)
    stem = "".join(rest)
    if side is None and len(stem) > 1 and stem[0] in "lr" and stem[1:] in _SIDED:
        side, stem = ("left" if stem[0] == "l" else "right"), stem[1:]  # 'lfemur', 'rshin'
    if stem in ("headtop", "headend", "headtopend", "headnub") or (rest[:1] == ["head"] and rest[1:2] in (["top"], ["end"], ["nub"])):
        return NameRole(None, "headtop", "head_top")
    if stem == "necktwist":  # iClone/CC's neck bones are called NeckTwist01/02
        return NameRole(None, stem, "neck")
    if any(t in _IGNORE for t in rest) or name.endswith("_end"):
        return NameRole(side, stem, "ignore")
    if side is not None:
        return NameRole(side, stem, _SIDED.get(stem, ""))
    return NameRole(None, stem, _CENTRE_ROLES.get(stem, ""))


def convention(names: tuple[str, ...]) -> str:
    """The skeleton convention these joint names follow (for reports), or "bvh" when none."""
    plain = [strip_prefix(n) for n in names]
    for fam, pat in _CONVENTIONS:
        rx = re.compile(pat)
        if any(rx.search(n) for n in names) or any(rx.search(n) for n in plain):
            return fam
    return "bvh"


@dataclass(frozen=True)
class JointMap:
    """Which source point sits where on our body.

    Attributes:
        mapping: our joint (SMPL_24 name or "head_top") -> source point name.
        family: skeleton family / convention ("daz", "mixamo", ...), "inferred from shape" when
            the names did not decide.
        method: "family" (an explicit family map), "names" (the name resolver) or "shape".
        ignored: source joints left out as helpers (twist, share, roll, fingers, ...).
    """

    mapping: dict[str, str]
    family: str
    method: str
    ignored: tuple[str, ...] = ()


def _depths(parents: tuple[int, ...]) -> list[int]:
    d = [0] * len(parents)
    for j, p in enumerate(parents):
        d[j] = 0 if p < 0 else d[p] + 1  # parents come first in every reader's order
    return d


def is_ancestor(parents: tuple[int, ...], a: int, b: int) -> bool:
    """True when joint a is a (strict) ancestor of joint b."""
    p = parents[b]
    while p >= 0:
        if p == a:
            return True
        p = parents[p]
    return False


# (upper, lower) pairs a map must respect: lower is a descendant of upper.
CHAIN_ORDER = (("hip", "knee"), ("knee", "ankle"), ("ankle", "foot"), ("collar", "shoulder"),
               ("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "hand"))


def check_chains(mapping: dict[str, str], names: tuple[str, ...], parents: tuple[int, ...]) -> str | None:
    """None when the map's limbs follow the skeleton's tree (knee below hip, ...), else why not."""
    idx = {n: i for i, n in enumerate(names)}
    for side in ("left", "right"):
        for a, b in CHAIN_ORDER:
            ka, kb = f"{side}_{a}", f"{side}_{b}"
            if ka in mapping and kb in mapping and not is_ancestor(parents, idx[mapping[ka]], idx[mapping[kb]]):
                return f"{mapping[kb]} is not below {mapping[ka]}"
    return None


def map_by_names(names: tuple[str, ...], parents: tuple[int, ...] | None = None) -> JointMap:
    """A joint map from joint names alone (any convention of the module docstring).

    Args:
        names: (J,) source point names.
        parents: (J,) parent indices (used to prefer the joint highest in a chain when several
            names claim one role, and to check the limbs' order); None: not checked.
    Returns:
        JointMap with method "names".
    Raises:
        InputError: a required joint has no name that says it, or the named limbs contradict
            the tree.
    """
    depth = _depths(parents) if parents is not None else [0] * len(names)
    roles = [name_role(n) for n in names]
    ignored = tuple(n for n, r in zip(names, roles) if r.role == "ignore" and not n.endswith("_end"))
    out: dict[str, str] = {}
    for side in ("left", "right"):
        mine = [(j, r) for j, r in enumerate(roles) if r.side == side and r.role not in ("", "ignore")]
        stems = {r.role for _, r in mine}
        resolved: dict[str, list[int]] = {}
        for j, r in mine:
            role = r.role
            if role == "?shoulder":
                role = "collar" if "shoulder" in stems and "collar" not in stems else "shoulder"
            elif role == "?foot":
                role = "foot" if "ankle" in stems else "ankle"
            elif role == "?hand":
                role = "hand" if "wrist" in stems else "wrist"
            elif role == "?hip":
                role = "connector" if "hip" in stems else "hip"
            if role == "connector":
                continue
            resolved.setdefault(role, []).append(j)
        for role, js in resolved.items():
            out[f"{side}_{role}"] = names[min(js, key=lambda j: (depth[j], j))]
    centre: dict[str, list[int]] = {}
    for j, r in enumerate(roles):
        if r.side is None and r.role in ("pelvis", "neck", "head", "head_top"):
            centre.setdefault(r.role, []).append(j)
    if "pelvis" in centre:
        out["pelvis"] = names[min(centre["pelvis"], key=lambda j: (_PELVIS_PREFERENCE.index(roles[j].stem), depth[j]))]
    for role in ("neck", "head", "head_top"):
        if role in centre:
            out[role] = names[min(centre[role], key=lambda j: (depth[j], j))]
    if "head_top" not in out and "head" in out and f"{out['head']}_end" in names:
        out["head_top"] = f"{out['head']}_end"
    missing = [k for k in REQUIRED if k not in out]
    if missing:
        raise InputError(f"cannot map the skeleton's joints by name: no {', '.join(missing)} among "
                         f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
    if parents is not None:
        why = check_chains(out, names, parents)
        if why:
            raise InputError(f"cannot map the skeleton's joints by name: {why}")
    return JointMap(out, convention(names), "names", ignored)


def explicit_family(names: tuple[str, ...], declared: str) -> str | None:
    """The explicit family (FAMILIES) whose map fits these point names completely, or the
    reader's own family when it has a map (cmu-asf, cmu8, deepmimic); None when none fits."""
    if declared in FAMILIES and declared not in ("bandai", "cmu-bvh", "mixamo"):
        return declared
    plain = {strip_prefix(n) for n in names}
    prefixed = any(":" in n for n in names)
    for fam in ("bandai", "mixamo", "cmu-bvh"):
        need = {FAMILIES[fam][k] for k in REQUIRED}
        if need <= plain:
            if fam == "cmu-bvh" and ("LHipJoint" not in plain and "LowerBack" not in plain):
                continue  # Mixamo-like names without CMU's extra joints
            if fam == "mixamo" and not prefixed and "LeftShoulder" not in plain:
                continue
            return fam
    return None


def detect_family(names: tuple[str, ...], declared: str) -> str:
    """The explicit family whose map fits (explicit_family), else the convention the names
    follow (for reports and known up axes)."""
    return explicit_family(names, declared) or convention(names)


def joint_map(family: str, names: tuple[str, ...], parents: tuple[int, ...] | None = None) -> JointMap:
    """The map of an explicit family (FAMILIES), else the name resolver's.

    Raises:
        InputError: the family's skeleton lacks a required joint / the names do not decide.
    """
    if family in FAMILIES:
        plain = {strip_prefix(n): n for n in names}
        m = {ours: plain[theirs] for ours, theirs in FAMILIES[family].items() if theirs in plain}
        missing = [k for k in REQUIRED if k not in m]
        if missing:
            raise InputError(f"{family} skeleton lacks {', '.join(missing)}")
        return JointMap(m, family, "family")
    return map_by_names(names, parents)
