"""The multi-camera evaluation folder: calibration, one video per camera, reference people.

Layout (docs/eval-multiview.md)::

    DIR/calibration.toml          one table per camera (calibration.py)
    DIR/videos/<camera name>.mp4  one video per camera, frame i of every video at the same instant
    DIR/reference/<person>.trc    reference COCO-17 joints per person (or <person>.npz)

Every video needs a calibration table (a table without a video is skipped with a note).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meshvid.errors import InputError
from meshvid.eval.multiview.calibration import CameraCalibration, read_calibration
from meshvid.eval.multiview.reference import (AXES, ReferencePerson, pose2sim_to_world,
                                              read_reference)

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
REFERENCE_EXTS = (".trc", ".npz")
# COCO-17 indices of the hips (the root is their midpoint)
HIPS = (11, 12)


@dataclass
class MultiviewSet:
    """A loaded evaluation folder.

    Attributes:
        root: the folder.
        cameras: camera name -> calibration, for the cameras that have a video.
        videos: camera name -> video path (same keys as `cameras`).
        references: the reference people (world frame, metres).
        axes: the reference axes used ("world" or "pose2sim").
        notes: things the user should know (cameras without a video, the axes chosen).
    """

    root: Path
    cameras: dict[str, CameraCalibration]
    videos: dict[str, Path]
    references: list[ReferencePerson]
    axes: str = "world"
    notes: list[str] = field(default_factory=list)


def _mid_hip(joints: np.ndarray) -> np.ndarray:
    """(F, 17, 3) -> (F, 3) mid-hip (NaN where a hip is missing)."""
    return joints[:, list(HIPS)].mean(axis=1)


def upright_score(references: list[ReferencePerson], cameras: dict[str, CameraCalibration]
                  ) -> float:
    """How upright the people stand in the images: the mean cosine between each person's
    trunk (mid-hip -> mid-shoulder) in camera coordinates and the image's up direction (-y),
    over cameras, people and frames. Cameras are mounted upright and people mostly stand, so
    references in the right axes score high (lab4cam: 0.8-0.9 in every camera) and the same
    points in another axis convention low (below 0.45 there)."""
    values = []
    for ref in references:
        trunk = ref.joints[:, [5, 6]].mean(axis=1) - _mid_hip(ref.joints)
        ok = np.isfinite(trunk).all(axis=1) & (np.linalg.norm(trunk, axis=1) > 1e-6)
        for cam in cameras.values():
            d = trunk[ok] @ cam.R.T
            values.append(-d[:, 1] / np.linalg.norm(d, axis=1))
    return float(np.concatenate(values).mean()) if values and sum(map(len, values)) else 0.0


def choose_axes(references: list[ReferencePerson], cameras: dict[str, CameraCalibration],
                axes: str) -> tuple[list[ReferencePerson], str]:
    """Put the references in the calibration's world frame.

    Args:
        references: as read (the file's axes).
        cameras: the calibration.
        axes: "world" (as read), "pose2sim" (undo Pose2Sim's Y-up rotation) or "auto" (whichever
            of the two stands the people more upright in the images, `upright_score`; "world"
            unless the other is clearly better).
    Returns:
        (references in the world frame, the axes used).
    """
    if axes not in AXES:
        raise InputError(f"--reference-axes must be one of {', '.join(AXES)}; got {axes!r}")

    def rotated() -> list[ReferencePerson]:
        return [ReferencePerson(r.name, pose2sim_to_world(r.joints), r.fps, r.path)
                for r in references]

    if axes == "world":
        return references, "world"
    if axes == "pose2sim":
        return rotated(), "pose2sim"
    other = rotated()
    if upright_score(other, cameras) > upright_score(references, cameras) + 0.2:
        return other, "pose2sim"
    return references, "world"


def find_videos(folder: Path) -> dict[str, Path]:
    """videos/<name>.<ext> -> {name: path} (one video per name)."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
            if p.stem in out:
                raise InputError(f"two videos for camera {p.stem!r} in {folder}")
            out[p.stem] = p
    return out


def load_multiview(root: str | Path, axes: str = "auto",
                   cameras: list[str] | None = None) -> MultiviewSet:
    """Read and check an evaluation folder.

    Args:
        root: DIR (layout above).
        axes: the references' axes ("world", "pose2sim" or "auto"; `choose_axes`).
        cameras: evaluate only these cameras (default: every camera with a video).
    Returns:
        The MultiviewSet.
    Raises:
        InputError: a missing folder, calibration, video folder or reference; a video without a
            calibration table; malformed TOML or TRC.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder (expected calibration.toml, videos/ and "
                         "reference/; docs/eval-multiview.md)")
    calib = read_calibration(root / "calibration.toml")
    vdir, rdir = root / "videos", root / "reference"
    if not vdir.is_dir():
        raise InputError(f"{root} has no videos/ folder (one video per camera, named after its "
                         "calibration table)")
    videos = find_videos(vdir)
    if not videos:
        raise InputError(f"{vdir} holds no video ({', '.join(VIDEO_EXTS)})")
    unknown = [n for n in videos if n not in calib]
    if unknown:
        raise InputError(f"no calibration table for video {videos[unknown[0]].name} in "
                         f"{root / 'calibration.toml'} (cameras there: {', '.join(calib)})")
    notes = [f"camera {n} has a calibration but no video: skipped" for n in calib
             if n not in videos]
    if cameras:
        bad = [c for c in cameras if c not in videos]
        if bad:
            raise InputError(f"--camera {bad[0]}: no such camera with a video (have: "
                             f"{', '.join(videos)})")
        videos = {n: videos[n] for n in cameras}
    if not rdir.is_dir():
        raise InputError(f"{root} has no reference/ folder (one .trc or .npz per person)")
    files = sorted(p for p in rdir.iterdir() if p.suffix.lower() in REFERENCE_EXTS)
    if not files:
        raise InputError(f"{rdir} holds no reference file (.trc or .npz)")
    refs = [read_reference(p) for p in files]
    cams = {n: calib[n] for n in videos}
    refs, used = choose_axes(refs, cams, axes)
    if axes == "auto" and used != "world":
        notes.append("the reference files are in Pose2Sim's Y-up axes: rotated back to the "
                     "calibration's world frame (--reference-axes)")
    return MultiviewSet(root=root, cameras=cams, videos=videos, references=refs, axes=used,
                        notes=notes)
