"""Reference 3D joints per person: TRC files (as Pose2Sim writes them) or NPZ.

Both give COCO-17 joints (meshvid.body.joints.COCO_17 order) in the calibration's world frame,
metres, one row per video frame; a joint without reference is NaN.

TRC (tab-separated): line 1 `PathFileType ...`; line 2 the header keys (DataRate, CameraRate,
NumFrames, NumMarkers, Units, ...); line 3 their values; line 4 `Frame#  Time  <marker> ...`
(each marker name once, followed by two empty cells); line 5 `X1 Y1 Z1 ...`; then (after an
optional blank line) one row per frame: frame number (counted from 1 = video frame 0), time,
and X, Y, Z per marker; an empty cell is a joint without reference. Units `m` or `mm`.
Marker names are Pose2Sim's COCO_17 ones (Nose, LEye, ..., RAnkle); other markers are ignored.

Axes: the TRC is read in the calibration's world frame. Pose2Sim rotates its own output to
OpenSim's Y-up (its `zup2yup`: the file's X, Y, Z are the world's Y, Z, X); `axes="pose2sim"`
undoes that, and `axes="auto"` picks whichever of the two stands the people upright in the
cameras' images (meshvid.eval.multiview.dataset.choose_axes).

NPZ (docs/formats.md): `joints` (F, 17, 3) float, world metres, NaN = no reference;
optional `frame` (F,) int, the 0-based video frame of each row (default 0..F-1), `fps` (scalar)
and `joint_names` (17,) str (default COCO_17 order, as meshvid writes them).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meshvid.body.joints import COCO_17
from meshvid.errors import InputError

# Pose2Sim's COCO_17 marker names, in meshvid's COCO_17 order.
TRC_MARKERS: tuple[str, ...] = (
    "Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
    "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
)
AXES = ("world", "pose2sim", "auto")
_UNITS = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}


@dataclass
class ReferencePerson:
    """One reference person over the clip.

    Attributes:
        name: the file's stem (`person_0`).
        joints: (F, 17, 3) world-frame COCO-17 joints, metres; NaN where there is no reference.
            Row i is video frame i (rows for frames the file does not give are NaN).
        fps: the file's frame rate (None when it does not say).
        path: the file it was read from.
    """

    name: str
    joints: np.ndarray
    fps: float | None
    path: Path


def _rows_to_frames(frames: np.ndarray, values: np.ndarray, where: str) -> np.ndarray:
    """Scatter (N, 17, 3) rows to their 0-based frame indices -> (max frame + 1, 17, 3)."""
    if len(frames) == 0:
        raise InputError(f"{where}: no frames")
    if (frames < 0).any():
        raise InputError(f"{where}: negative frame numbers")
    if len(np.unique(frames)) != len(frames):
        raise InputError(f"{where}: a frame appears twice")
    out = np.full((int(frames.max()) + 1, 17, 3), np.nan)
    out[frames] = values
    return out


def read_trc(path: str | Path) -> ReferencePerson:
    """Read a Pose2Sim-style TRC file.

    Args:
        path: the .trc file.
    Returns:
        The ReferencePerson (joints in the file's axes, metres).
    Raises:
        InputError: a malformed header, a missing COCO-17 marker, a non-numeric cell.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text TRC file") from None
    where = str(path)
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise InputError(f"{where} is not a TRC file (its first line should start "
                         "'PathFileType')")
    keys = lines[1].split("\t")
    vals = lines[2].split("\t")
    header = {k.strip(): v.strip() for k, v in zip(keys, vals)}
    units = header.get("Units", "m")
    if units not in _UNITS:
        raise InputError(f"{where}: unknown Units {units!r} (m, cm or mm)")
    try:
        fps = float(header["DataRate"]) if "DataRate" in header else None
    except ValueError:
        raise InputError(f"{where}: DataRate {header['DataRate']!r} is not a number") from None
    names = lines[3].split("\t")
    if len(names) < 2 or names[0].strip() != "Frame#":
        raise InputError(f"{where}: line 4 should start 'Frame#<tab>Time' and name the markers")
    # each marker name sits on the first of its three columns (from column 2)
    marker_col = {n.strip(): i for i, n in enumerate(names) if i >= 2 and n.strip()}
    missing = [m for m in TRC_MARKERS if m not in marker_col]
    if missing:
        raise InputError(f"{where}: missing COCO-17 markers {', '.join(missing)} (expected "
                         f"Pose2Sim's names: {', '.join(TRC_MARKERS)})")
    frames, values = [], []
    for lineno, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        cells = line.split("\t")
        try:
            frame = int(float(cells[0]))
            row = np.full((17, 3), np.nan)
            for j, m in enumerate(TRC_MARKERS):
                c = marker_col[m]
                for a in range(3):
                    cell = cells[c + a].strip() if c + a < len(cells) else ""
                    if cell:
                        row[j, a] = float(cell)
        except ValueError as err:
            raise InputError(f"{where}:{lineno}: not a number ({err})") from None
        frames.append(frame - 1)  # TRC counts from 1
        values.append(row)
    joints = _rows_to_frames(np.asarray(frames), np.asarray(values), where) * _UNITS[units]
    return ReferencePerson(name=path.stem, joints=joints, fps=fps, path=path)


def read_reference_npz(path: str | Path) -> ReferencePerson:
    """Read the NPZ reference format (module docstring; docs/formats.md).

    Args:
        path: the .npz file.
    Returns:
        The ReferencePerson.
    """
    path = Path(path)
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise InputError(f"{where} is not a readable NPZ file ({err})") from None
    if "joints" not in arrays:
        raise InputError(f"{where}: no `joints` array (F, 17, 3) (docs/formats.md)")
    joints = np.asarray(arrays["joints"], np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (17, 3):
        raise InputError(f"{where}: `joints` has shape {joints.shape}, expected (F, 17, 3)")
    if "joint_names" in arrays:
        names = tuple(str(n) for n in arrays["joint_names"].reshape(-1))
        if names not in (COCO_17, TRC_MARKERS):
            raise InputError(f"{where}: `joint_names` should be the COCO-17 order "
                             f"({', '.join(COCO_17)})")
    frames = (np.asarray(arrays["frame"], np.int64).reshape(-1) if "frame" in arrays
              else np.arange(len(joints)))
    if len(frames) != len(joints):
        raise InputError(f"{where}: `frame` has {len(frames)} rows, `joints` {len(joints)}")
    fps = float(arrays["fps"]) if "fps" in arrays else None
    return ReferencePerson(name=path.stem, joints=_rows_to_frames(frames, joints, where),
                           fps=fps, path=path)


def read_reference(path: str | Path) -> ReferencePerson:
    """A .trc or .npz reference file -> ReferencePerson."""
    path = Path(path)
    if path.suffix.lower() == ".trc":
        return read_trc(path)
    if path.suffix.lower() == ".npz":
        return read_reference_npz(path)
    raise InputError(f"{path}: reference files are .trc or .npz")


def pose2sim_to_world(joints: np.ndarray) -> np.ndarray:
    """Undo Pose2Sim's Z-up -> Y-up rotation: file (X, Y, Z) = world (Y, Z, X).

    Args:
        joints: (..., 3) points in the file's axes.
    Returns:
        (..., 3) world points.
    """
    return joints[..., [2, 0, 1]]
