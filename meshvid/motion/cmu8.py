"""Reader for the CMU 8-action exp-map text files ("cmu8": one frame per line, 117 values).

The skeleton (38 joints: parents, offsets, which values hold each joint's rotation) is not in
the text files: it is the JSON `cmu8_skeleton.json` published with the corpus (see
docs/motion.md). The reader looks for it in the clip's folder and its parents, or takes it from
$MESHVID_CMU8_SKELETON / the `skeleton` argument.

Forward kinematics, the JSON's rule in column-vector form (the source writes row vectors):
world rotation W_i = W_parent @ Exp(r_i)^T and position p_i = p_parent + W_parent @ offset_i,
the root at offset_0 + values[0:3] * ROOT_SCALE with W_0 = Exp(r_0)^T. The offsets are the CMU
bone lengths x 70 (ASF units x 70), but the root position is written in ASF units, so it is
scaled by 70 to share the offsets' unit (checked: a walk then advances ~1.2 m/s, the hips sit
~0.95 m above the feet). The 38 points are unnamed in the source; the names below follow the
CMU ASF bone each one ends (cmu8 keeps the CMU tree, with a few zero-length connectors).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from meshvid.errors import InputError
from meshvid.motion.capture import UNITS, Capture, expmap_to_rotmat

FPS = 120.0
ROOT_SCALE = 70.0
UNIT = UNITS["cmu-asf"] / 70.0  # metres per cmu8 unit
SKELETON_FILE = "cmu8_skeleton.json"

NAMES: tuple[str, ...] = (
    "root", "lhip_connector", "lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes",
    "rhip_connector", "rhipjoint", "rfemur", "rtibia", "rfoot", "rtoes",
    "spine_connector", "lowerback", "upperback", "neck_connector", "lowerneck", "upperneck", "head",
    "lclavicle_connector", "lclavicle", "lhumerus", "lradius", "lwrist_connector", "lwrist", "lhand",
    "lthumb_connector", "lthumb",
    "rclavicle_connector", "rclavicle", "rhumerus", "rradius", "rwrist_connector", "rwrist", "rhand",
    "rthumb_connector", "rthumb",
)
VALUES_PER_FRAME = 117


def find_skeleton(clip: Path) -> Path | None:
    env = os.environ.get("MESHVID_CMU8_SKELETON")
    if env:
        return Path(env)
    for folder in [clip.parent, *clip.parent.parents]:
        cand = folder / SKELETON_FILE
        if cand.is_file():
            return cand
    return None


@lru_cache(maxsize=4)
def load_skeleton(path: str) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """(parents (38,), offsets (38, 3), expmap value indices per joint)."""
    try:
        d = json.loads(Path(path).read_text())
        parents = np.asarray(d["parent"], dtype=np.int64)
        offsets = np.asarray(d["offset"], dtype=np.float64)
        index = [list(map(int, ix)) for ix in d["expmap_index"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"cannot read the cmu8 skeleton {path}: {err}") from None
    if len(parents) != len(NAMES) or offsets.shape != (len(NAMES), 3) or len(index) != len(NAMES):
        raise InputError(f"{path}: expected {len(NAMES)} joints in the cmu8 skeleton")
    return parents, offsets, index


def is_cmu8_text(path: Path) -> bool:
    """A .txt whose first line holds 117 comma-separated numbers."""
    try:
        with open(path, errors="replace") as f:
            first = f.readline()
    except OSError:
        return False
    return first.count(",") == VALUES_PER_FRAME - 1


def read_cmu8(path: str | Path, skeleton: str | Path | None = None) -> Capture:
    """Read one cmu8 clip.

    Args:
        path: the .txt clip (T lines of 117 values).
        skeleton: cmu8_skeleton.json (default: found beside the clip or in a parent folder).
    Returns:
        Capture with the 38 named points, positions (T, 38, 3) in cmu8 units (~0.8 mm).
    """
    path = Path(path)
    skel = Path(skeleton) if skeleton is not None else find_skeleton(path)
    if skel is None or not skel.is_file():
        raise InputError(f"{path}: cmu8 clip without its skeleton; put {SKELETON_FILE} in its folder "
                         "or a parent folder, or set MESHVID_CMU8_SKELETON")
    parents, offsets, index = load_skeleton(str(skel))
    try:
        values = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a cmu8 text clip ({err})") from None
    if values.shape[1] != VALUES_PER_FRAME or len(values) < 2:
        raise InputError(f"{path}: expected >= 2 rows of {VALUES_PER_FRAME} values, got {values.shape}")
    t = len(values)
    pos = np.zeros((t, len(NAMES), 3))
    world = np.zeros((t, len(NAMES), 3, 3))
    for j, p in enumerate(parents):
        r = values[:, index[j]] if index[j] else np.zeros((t, 3))
        local = np.swapaxes(expmap_to_rotmat(r), -1, -2)
        if p < 0:
            world[:, j] = local
            pos[:, j] = offsets[j] + values[:, 0:3] * ROOT_SCALE
        else:
            world[:, j] = world[:, p] @ local
            pos[:, j] = pos[:, p] + world[:, p] @ offsets[j]
    return Capture(name=path.stem, path=path, family="cmu8", fps=FPS, joints=NAMES,
                   parents=tuple(int(p) for p in parents), positions=pos, unit=UNIT,
                   unit_name="CMU ASF unit / 70 (cmu8)", info={"skeleton": str(skel)})
