"""CMU / Acclaim ASF (skeleton) + AMC (motion) reader.

Rules implemented (Acclaim's format as the CMU database uses it):
- ASF `:units`: `length` scales the file's lengths (CMU: 0.45, i.e. a length unit of 1/0.45
  inch), `angle` is deg or rad. `:root`: `order` of the AMC root values (TX TY TZ RX RY RZ),
  `axis` the root's rotation order, `position`/`orientation` its rest placement.
- `:bonedata`: per bone a `direction` (unit vector, rest world axes), a `length`, an `axis`
  (three angles + order: the bone's local frame C) and its `dof` names.
- Per frame a bone's rotation is L = C @ M @ C^T, with M the dof rotations composed as fixed
  axes in the listed order (rx ry rz -> Rz @ Ry @ Rx), and its world rotation the parent's times
  L. A bone starts where its parent ends (the root's children at the root) and ends at
  start + length * world @ direction.
- AMC: optional header lines starting with `#` or `:`, then a frame number line followed by one
  line per bone: its name and dof values (the root: its `order`). CMU captures are 120 fps.
Points of the Capture: "root" and each bone's END, named by the bone (lfemur = the knee).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meshvid.errors import InputError
from meshvid.motion.capture import UNITS, Capture, axis_rotation, detect_unit

CMU_FPS = 120.0


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray  # (3,) unit vector
    length: float
    axis: np.ndarray  # (3,) angles (radians) of the bone frame
    axis_order: str  # e.g. "xyz"
    dofs: list[str] = field(default_factory=list)  # e.g. ["rx", "ry", "rz"]


@dataclass
class AsfSkeleton:
    path: Path
    bones: dict[str, AsfBone]
    parent: dict[str, str]  # bone -> parent bone ("root" for the root's children)
    order: list[str]  # bones, parents first
    root_order: list[str]  # AMC root value names, e.g. ["tx", ..., "rz"]
    root_axis: str  # rotation order of the root, e.g. "xyz"
    root_position: np.ndarray
    root_orientation: np.ndarray  # radians
    length_unit: float  # file lengths are multiplied by this to give the `unit`
    deg: bool


def _frame(angles: np.ndarray, order: str) -> np.ndarray:
    """Fixed-axes rotation: the first axis in `order` is applied first (R = R3 @ R2 @ R1)."""
    r = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3))
    for k, ax in enumerate(order):
        r = axis_rotation(ax, angles[..., k]) @ r
    return r


def read_asf(path: str | Path) -> AsfSkeleton:
    """Parse an ASF skeleton file. Raises InputError when it is malformed."""
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    section = ""
    bones: dict[str, AsfBone] = {}
    parent: dict[str, str] = {}
    root_order, root_axis = ["tx", "ty", "tz", "rx", "ry", "rz"], "xyz"
    root_pos, root_ori = np.zeros(3), np.zeros(3)
    length_unit, deg = 1.0, True
    cur: dict | None = None
    try:
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith(":"):
                parts = line.split()
                section = parts[0][1:].lower()
                continue
            parts = line.split()
            key = parts[0].lower()
            if section == "units":
                if key == "length":
                    length_unit = float(parts[1])
                elif key == "angle":
                    deg = parts[1].lower().startswith("deg")
            elif section == "root":
                if key == "order":
                    root_order = [p.lower() for p in parts[1:]]
                elif key == "axis":
                    root_axis = parts[1].lower()
                elif key == "position":
                    root_pos = np.array([float(v) for v in parts[1:4]])
                elif key == "orientation":
                    root_ori = np.array([float(v) for v in parts[1:4]])
            elif section == "bonedata":
                if key == "begin":
                    cur = {"dofs": []}
                elif key == "end":
                    if cur is None or "name" not in cur:
                        raise InputError(f"{path}: a bone without a name")
                    ax = np.array(cur.get("axis", [0.0, 0.0, 0.0]))
                    bones[cur["name"]] = AsfBone(
                        cur["name"], np.array(cur.get("direction", [0.0, 0.0, 0.0])),
                        float(cur.get("length", 0.0)), np.deg2rad(ax) if deg else ax,
                        cur.get("axis_order", "xyz"), cur["dofs"])
                    cur = None
                elif cur is not None:
                    if key == "name":
                        cur["name"] = parts[1]
                    elif key == "direction":
                        cur["direction"] = [float(v) for v in parts[1:4]]
                    elif key == "length":
                        cur["length"] = float(parts[1])
                    elif key == "axis":
                        cur["axis"] = [float(v) for v in parts[1:4]]
                        cur["axis_order"] = parts[4].lower() if len(parts) > 4 else "xyz"
                    elif key == "dof":
                        cur["dofs"] = [p.lower() for p in parts[1:]]
            elif section == "hierarchy":
                if key in ("begin", "end"):
                    continue
                for child in parts[1:]:
                    parent[child] = parts[0]
    except (ValueError, IndexError) as err:
        raise InputError(f"{path}: malformed ASF ({err})") from None
    if not bones or not parent:
        raise InputError(f"{path}: not an ASF skeleton (no :bonedata or :hierarchy)")
    missing = sorted(set(parent) - set(bones))
    if missing:
        raise InputError(f"{path}: hierarchy names bones that are not defined: {', '.join(missing[:5])}")
    order: list[str] = []
    todo = ["root"]
    while todo:
        p = todo.pop(0)
        kids = [c for c, q in parent.items() if q == p]
        order.extend(kids)
        todo.extend(kids)
    if deg:
        root_ori = np.deg2rad(root_ori)
    return AsfSkeleton(path, bones, parent, order, root_order, root_axis, root_pos, root_ori,
                       length_unit, deg)


def read_amc(path: str | Path, skeleton: AsfSkeleton) -> dict[str, np.ndarray]:
    """Parse an AMC motion file: name -> (T, n_values) array (degrees as written)."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    frames: list[dict[str, list[float]]] = []
    cur: dict[str, list[float]] | None = None
    try:
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#:":
                continue
            if re.fullmatch(r"\d+", line):
                cur = {}
                frames.append(cur)
                continue
            if cur is None:
                raise InputError(f"{path}: values before the first frame number")
            name, *vals = line.split()
            cur[name] = [float(v) for v in vals]
    except ValueError as err:
        raise InputError(f"{path}: non-numeric AMC values ({err})") from None
    if len(frames) < 2:
        raise InputError(f"{path}: fewer than 2 frames of motion")
    out: dict[str, np.ndarray] = {}
    for name in ["root", *skeleton.order]:
        n = len(skeleton.root_order) if name == "root" else len(skeleton.bones[name].dofs)
        if n == 0:
            continue
        arr = np.zeros((len(frames), n))
        for t, fr in enumerate(frames):
            v = fr.get(name)
            if v is not None:
                if len(v) != n:
                    raise InputError(f"{path}: frame {t + 1}: {name} has {len(v)} values, the skeleton says {n}")
                arr[t] = v
        out[name] = arr
    return out


def asf_for(amc: Path) -> Path | None:
    """The skeleton of an AMC file: <subject>.asf beside it (CMU: 01_02.amc -> 01.asf), else the
    only .asf in its folder."""
    stem = amc.stem.split("_")[0]
    cand = amc.with_name(f"{stem}.asf")
    if cand.is_file():
        return cand
    found = sorted(amc.parent.glob("*.asf"))
    return found[0] if len(found) == 1 else None


def read_asf_amc(amc_path: str | Path, asf_path: str | Path | None = None, fps: float = CMU_FPS) -> Capture:
    """Read an AMC motion with its ASF skeleton and compute every bone end's position.

    Args:
        amc_path: the .amc file.
        asf_path: its .asf (default: found beside it, see `asf_for`).
        fps: frame rate (AMC does not store it; CMU captures are 120 fps).
    Returns:
        Capture with points "root" + each bone's end, positions (T, 1 + bones, 3) in ASF length
        units x length_unit; family "cmu-asf".
    """
    amc_path = Path(amc_path)
    asf = Path(asf_path) if asf_path is not None else asf_for(amc_path)
    if asf is None:
        raise InputError(f"{amc_path}: no ASF skeleton beside it (expected {amc_path.stem.split('_')[0]}.asf)")
    skel = read_asf(asf)
    motion = read_amc(amc_path, skel)
    t = len(next(iter(motion.values())))
    to_rad = np.deg2rad if skel.deg else (lambda a: a)
    root_vals = motion.get("root", np.zeros((t, len(skel.root_order))))
    trans = np.tile(skel.root_position, (t, 1)).astype(np.float64)
    rot_angles = np.zeros((t, 3))
    for k, name in enumerate(skel.root_order):
        if name in ("tx", "ty", "tz"):
            trans[:, "xyz".index(name[1])] = root_vals[:, k]
        elif name in ("rx", "ry", "rz"):
            rot_angles[:, "xyz".index(name[1])] = to_rad(root_vals[:, k])
    # Root rotation: its dof angles in the `axis` order, about the rest orientation's axes.
    order = skel.root_axis
    c_root = _frame(skel.root_orientation, order)
    m_root = _frame(np.stack([rot_angles[:, "xyz".index(a)] for a in order], -1), order)
    world = {"root": c_root @ m_root @ c_root.T}
    end = {"root": trans}
    for name in skel.order:
        bone = skel.bones[name]
        c = _frame(bone.axis, bone.axis_order)
        m = np.broadcast_to(np.eye(3), (t, 3, 3))
        vals = motion.get(name)
        for k, dof in enumerate(bone.dofs):
            if dof in ("rx", "ry", "rz") and vals is not None:
                m = axis_rotation(dof[1], to_rad(vals[:, k])) @ m
        par = skel.parent[name]
        world[name] = world[par] @ (c @ m @ c.T)
        end[name] = end[par] + bone.length * (world[name] @ bone.direction)
    names = ("root", *skel.order)
    parents = tuple(-1 if n == "root" else names.index(skel.parent[n]) for n in names)
    positions = np.stack([end[n] for n in names], 1)
    unit = UNITS["inch"] / skel.length_unit
    span = float(np.ptp(positions[0], axis=0).max())
    if 0.9 < span * unit < 2.5:
        unit_name = f"1/{skel.length_unit:g} inch (ASF :units length)"
    else:  # not CMU's convention: detect from the span
        unit, unit_name = detect_unit(span)
    return Capture(name=amc_path.stem, path=amc_path, family="cmu-asf", fps=fps, joints=names,
                   parents=parents, positions=positions, unit=unit, unit_name=unit_name,
                   info={"skeleton": str(asf)})
