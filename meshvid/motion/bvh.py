"""BVH reader (Biovision hierarchy): any skeleton, any channel order.

Rules implemented (the de-facto BVH conventions, as Blender and most tools read them):
- HIERARCHY: ROOT / JOINT blocks (the name is the rest of the line, spaces included) with OFFSET (x y z) and CHANNELS (n names); "End Site" blocks
  carry only an OFFSET and become points named "<parent>_end".
- A joint's local transform is a translation then its rotation channels composed in the order
  listed (intrinsic: "Zrotation Xrotation Yrotation" -> Rz @ Rx @ Ry), angles in degrees.
- Position channels, where a joint has them, give its translation and replace the OFFSET
  (Bandai Namco writes 6 channels per joint whose positions equal the offsets); a joint without
  them is translated by its OFFSET.
- MOTION: "Frames: N", "Frame Time: dt", then N rows of all channels in hierarchy order.
The file's units are not declared: they are detected from the rest skeleton's span.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from meshvid.errors import InputError
from meshvid.motion.capture import Capture, axis_rotation, detect_unit

_TOKEN = re.compile(r"[{}]|[^\s{}]+")


_NAME_LINE = re.compile(r"^(\s*(?:ROOT|JOINT)\s+)(.+?)(\s*\{)?\s*$", re.MULTILINE | re.IGNORECASE)
_SPACE = "\x01"  # stands for a space inside a joint name while the hierarchy is tokenised


def _parse_hierarchy(text: str, path: Path) -> tuple[list[str], list[int], list[np.ndarray], list[list[str]]]:
    # A joint's name is the rest of its line ("Bip01 L Thigh" keeps its spaces).
    text = _NAME_LINE.sub(lambda m: m.group(1) + m.group(2).replace(" ", _SPACE) + (m.group(3) or ""), text)
    tokens = _TOKEN.findall(text)
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    pending: tuple[str, int] | None = None  # a joint named but whose "{" is not read yet
    i = 0
    try:
        while i < len(tokens):
            tok = tokens[i]
            up = tok.upper()
            if up in ("ROOT", "JOINT"):
                pending = (tokens[i + 1].replace(_SPACE, " "), stack[-1] if stack else -1)
                if up == "ROOT" and stack:
                    raise InputError(f"{path}: a second ROOT inside a joint")
                i += 2
            elif up == "END":  # "End Site"
                parent = stack[-1]
                pending = (f"{names[parent]}_end", parent)
                i += 2
            elif tok == "{":
                if pending is None:
                    raise InputError(f"{path}: '{{' without a joint")
                names.append(pending[0])
                parents.append(pending[1])
                offsets.append(np.zeros(3))
                channels.append([])
                stack.append(len(names) - 1)
                pending = None
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif up == "OFFSET":
                offsets[stack[-1]] = np.array([float(v) for v in tokens[i + 1:i + 4]])
                i += 4
            elif up == "CHANNELS":
                n = int(tokens[i + 1])
                channels[stack[-1]] = [c.lower() for c in tokens[i + 2:i + 2 + n]]
                i += 2 + n
            elif up == "HIERARCHY":
                i += 1
            else:
                raise InputError(f"{path}: unexpected {tok!r} in the BVH hierarchy")
    except (IndexError, ValueError) as err:
        raise InputError(f"{path}: malformed BVH hierarchy ({err})") from None
    if not names or stack:
        raise InputError(f"{path}: malformed BVH hierarchy (no joints or unbalanced braces)")
    return names, parents, offsets, channels


def read_bvh(path: str | Path) -> Capture:
    """Read a BVH file.

    Args:
        path: the .bvh file.
    Returns:
        A Capture: positions (T, J, 3) of every joint and end site, file units, family "bvh"
        (the caller's family detection refines it from the names).
    Raises:
        InputError: unreadable or malformed file, no frames.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    m = re.search(r"^\s*MOTION\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    if not text.lstrip().upper().startswith("HIERARCHY") or m is None:
        raise InputError(f"{path}: not a BVH file (no HIERARCHY / MOTION sections)")
    names, parents, offsets, channels = _parse_hierarchy(text[:m.start()], path)
    motion = text[m.end():]
    fm = re.search(r"Frames:\s*(\d+)", motion, flags=re.IGNORECASE)
    tm = re.search(r"Frame\s+Time:\s*([0-9.eE+-]+)", motion, flags=re.IGNORECASE)
    if fm is None or tm is None:
        raise InputError(f"{path}: BVH MOTION section lacks 'Frames:' or 'Frame Time:'")
    n_frames, frame_time = int(fm.group(1)), float(tm.group(1))
    n_ch = sum(len(c) for c in channels)
    body = motion[tm.end():]
    values = np.fromstring(body, dtype=np.float64, sep=" ")  # text mode: stops at the first non-number
    if len(values) < len(body.split()):
        raise InputError(f"{path}: non-numeric values in the BVH motion data")
    rows = len(values) // n_ch if n_ch else n_frames
    if n_ch and len(values) % n_ch:
        values = values[: rows * n_ch]  # a truncated last row is dropped
    rows = min(rows, n_frames) if n_frames else rows
    if rows < 2:
        raise InputError(f"{path}: fewer than 2 frames of motion")
    if frame_time <= 0:
        raise InputError(f"{path}: Frame Time must be positive, got {frame_time}")
    data = values[: rows * n_ch].reshape(rows, n_ch) if n_ch else np.zeros((rows, 0))
    positions = _forward_kinematics(names, parents, offsets, channels, data, path)
    # Units from the span of the first frame's points (not the root, which some exporters keep
    # at the origin while the hips carry the translation).
    unit, unit_name = detect_unit(float(np.ptp(positions[0, 1:] if len(names) > 1 else positions[0], axis=0).max()))
    return Capture(name=path.stem, path=path, family="bvh", fps=1.0 / frame_time, joints=tuple(names),
                   parents=tuple(parents), positions=positions, unit=unit, unit_name=unit_name,
                   info={"channels": n_ch, "frames_declared": n_frames})


def _forward_kinematics(names, parents, offsets, channels, data: np.ndarray, path: Path) -> np.ndarray:
    """World positions (T, J, 3) of every joint. Each joint's rotation channels compose in the
    listed order (intrinsic); joints sharing a channel order are converted in one batch."""
    t = len(data)
    trans = np.broadcast_to(np.stack(offsets), (t, len(names), 3)).copy()
    groups: dict[str, tuple[list[int], list[list[int]]]] = {}
    col = 0
    for j, chans in enumerate(channels):
        axes, cols, has_pos = "", [], False
        for c in chans:
            if c.endswith("rotation") and c[0] in "xyz":
                axes += c[0]
                cols.append(col)
            elif c.endswith("position") and c[0] in "xyz":
                if not has_pos:
                    trans[:, j] = 0.0
                    has_pos = True
                trans[:, j, "xyz".index(c[0])] = data[:, col]
            else:
                raise InputError(f"{path}: unknown BVH channel {c!r} on joint {names[j]}")
            col += 1
        if axes:
            g = groups.setdefault(axes, ([], []))
            g[0].append(j)
            g[1].append(cols)
    local = np.broadcast_to(np.eye(3), (t, len(names), 3, 3)).copy()
    for axes, (joints, cols) in groups.items():
        ang = np.deg2rad(data[:, np.array(cols)])  # (T, G, len(axes))
        rot = axis_rotation(axes[0], ang[..., 0])
        for k in range(1, len(axes)):
            rot = rot @ axis_rotation(axes[k], ang[..., k])
        local[:, joints] = rot
    pos = np.zeros((t, len(names), 3))
    world = np.zeros((t, len(names), 3, 3))
    for j, p in enumerate(parents):
        if p < 0:
            world[:, j] = local[:, j]
            pos[:, j] = trans[:, j]
        else:
            world[:, j] = world[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", world[:, p], trans[:, j])
    return pos
