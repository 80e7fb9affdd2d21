"""Skeleton families: which source point sits where on our 24-joint body.

A joint map sends some of our SMPL_24 joints (plus "head_top") to the source point at the same
place on the body: a BVH joint's position is where its bone STARTS (LeftUpLeg = the hip), an
ASF / cmu8 point is where a bone ENDS (lfemur = the knee). Known families have explicit maps;
any other skeleton gets a map from its joint names (`map_by_names`), which is what a user's own
capture or an unknown exporter goes through. Units and up axis are detected in retarget.py.
"""

from __future__ import annotations

import re

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
FAMILY_UP: dict[str, str] = {"bandai": "+y", "cmu-bvh": "+y", "cmu-asf": "+y", "cmu8": "+y", "deepmimic": "+y"}


def strip_prefix(name: str) -> str:
    """'mixamorig:LeftArm' -> 'LeftArm', 'Bip01 L Thigh' stays (spaces are kept)."""
    return name.rsplit(":", 1)[-1]


def detect_family(names: tuple[str, ...], declared: str) -> str:
    """The family whose map fits these point names completely; `declared` (the reader's own
    family) when it has a map; else "bvh" (name fallback)."""
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
    return declared


# --- the name fallback

_LEFT, _RIGHT = {"left", "l", "lft"}, {"right", "r", "rt", "rgt"}
# Our joint -> keyword patterns on the side-less stem, tried in order (the first that matches
# an unused point wins). A BVH joint's position is its bone's START, hence "upleg/thigh" for the
# hip and "forearm" for the elbow.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "hip": ("^upleg$", "upperleg", "thigh", "femur", "^hip$"),
    "knee": ("knee", "lowerleg", "shin", "calf", "^leg$", "tibia"),
    "ankle": ("ankle", "^foot$"),
    "foot": ("toebase", "ball", "^toes?$"),
    "collar": ("clavicle", "collar", "^shoulder$"),
    "shoulder": ("upperarm", "^arm$", "humerus"),
    "elbow": ("forearm", "lowerarm", "elbow", "radius"),
    "wrist": ("wrist", "^hand$"),
}
_CENTRE: dict[str, tuple[str, ...]] = {
    "pelvis": ("^hips?$", "^pelvis$", "^root$"),
    "neck": ("^neck$", "neck"),
    "head": ("^head$",),
}


def _tokens(name: str) -> list[str]:
    """'mixamorig:LeftUpLeg' -> ['left', 'up', 'leg']; 'UpperLeg_L' -> ['upper', 'leg', 'l']."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", strip_prefix(name))
    return [t for t in re.split(r"[^A-Za-z0-9]+", name.lower())
            if t and t not in _NOISE and not t.isdigit() and not re.fullmatch(r"bip\d*", t)]


_NOISE = {"jnt", "joint", "bone", "def", "mixamorig", "biped", "mch", "org"}


def _side_and_stem(name: str) -> tuple[str | None, str]:
    toks = _tokens(name)
    for side, words in (("left", _LEFT), ("right", _RIGHT)):
        if any(t in words for t in toks):
            return side, "".join(t for t in toks if t not in words)
    stem = "".join(toks)
    for side in ("left", "right"):  # a one-letter side glued on: "lfemur", "rhumerus"
        rest = stem[1:]
        if stem.startswith(side[0]) and any(re.search(k, rest) for ks in _KEYWORDS.values() for k in ks):
            return side, rest
    return None, stem


def map_by_names(names: tuple[str, ...]) -> dict[str, str]:
    """A joint map for an unknown skeleton from its point names (see _KEYWORDS); end sites
    ("*_end") are skipped. Raises InputError listing what could not be found."""
    sided: dict[str, list[tuple[str, str]]] = {"left": [], "right": [], None: []}
    for n in names:
        if n.endswith("_end"):
            continue
        side, stem = _side_and_stem(n)
        if not stem:
            continue
        sided[side].append((stem, n))
    out: dict[str, str] = {}
    for side in ("left", "right"):
        used: set[str] = set()
        for ours, pats in _KEYWORDS.items():
            for pat in pats:
                hits = [n for stem, n in sided[side] if re.search(pat, stem) and n not in used]
                if len(hits) >= 1:
                    out[f"{side}_{ours}"] = hits[0]
                    used.add(hits[0])
                    break
    for ours, pats in _CENTRE.items():
        for pat in pats:
            hits = [n for stem, n in sided[None] if re.search(pat, stem)]
            if hits:
                out[ours] = hits[0]
                break
    missing = [k for k in REQUIRED if k not in out]
    if missing:
        raise InputError(f"cannot map the skeleton's joints by name: no {', '.join(missing)} "
                         f"among {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
    return out


def joint_map(family: str, names: tuple[str, ...]) -> dict[str, str]:
    """Our joint (SMPL_24 name or "head_top") -> source point name, for points present."""
    if family in FAMILIES:
        plain = {strip_prefix(n): n for n in names}
        m = {ours: plain[theirs] for ours, theirs in FAMILIES[family].items() if theirs in plain}
        missing = [k for k in REQUIRED if k not in m]
        if missing:
            raise InputError(f"{family} skeleton lacks {', '.join(missing)}")
        return m
    return map_by_names(names)
