"""Read and write a MotionResult as a versioned NPZ, plus the JSON summary beside it.

Layout (full schema in docs/formats.md): a "long" table with one row per (track, frame), rows
grouped by track and sorted by frame, plus per-track and per-file values. Everything is a
plain numpy array (strings as 0-d unicode arrays) so `np.load(path)` works with
`allow_pickle=False` in any numpy, without meshvid installed.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from meshvid.body.joints import COCO_17, SMPL_24
from meshvid.errors import InputError
from meshvid.export.atomic import atomic_output, write_text_atomic
from meshvid.export.motion import Floor, MotionResult, PersonMotion
from meshvid.scene.records import CameraPath

FORMAT_NAME = "meshvid.motion"
# v2 (camera motion, issue 25): + per frame `cam_R`, `cam_t`; + per row `joints3d_world`,
# `transl_world`, `global_orient_world`. v1 files still load (as a still camera).
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

# Optional per-row fields: NPZ key -> PersonMotion attribute.
_OPTIONAL_ROWS = {
    "cam": "cam", "box": "boxes", "joints3d": "joints3d", "keypoints2d": "keypoints2d",
    "keypoints3d": "keypoints3d",
    "keypoint_scores": "keypoint_scores", "betas_per_frame": "betas_per_frame",
    "interpolated": "interpolated",
    "gap": "gap",  # issue 27: optional, absent from older files (readers see None: none known)
}
_REQUIRED = ("format", "schema_version", "fps", "body_model", "image_size", "focal_length",
             "track_ids", "track_lengths", "betas", "track_id", "frame_id", "timestamp", "pose",
             "transl")


def to_arrays(result: MotionResult) -> dict[str, np.ndarray]:
    """The NPZ's arrays for a result (see docs/formats.md)."""
    persons = result.persons
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT_NAME),
        "schema_version": np.array(SCHEMA_VERSION, dtype=np.int64),
        "meshvid_version": np.array(result.meshvid_version),
        "source": np.array(result.source),
        "fps": np.array(result.fps, dtype=np.float64),
        "body_model": np.array(result.body_model),
        "image_size": np.array(result.image_size, dtype=np.int64),
        "focal_length": np.array(result.focal_length, dtype=np.float64),
        "extra_json": np.array(json.dumps(result.extra, sort_keys=True)),
        "joint_names": np.array(SMPL_24),
        "keypoint_names": np.array(COCO_17),
        "track_ids": np.array([p.track_id for p in persons], dtype=np.int64),
        "track_lengths": np.array([len(p) for p in persons], dtype=np.int64),
        "betas": np.stack([p.betas for p in persons]).astype(np.float32)
        if persons else np.zeros((0, 10), np.float32),
    }
    if result.floor is not None:
        arrays["floor_up"] = np.asarray(result.floor.up, dtype=np.float64)
        arrays["floor_height"] = np.array(result.floor.height, dtype=np.float64)
        arrays["floor_height_levelled"] = np.array(result.floor.height_levelled, dtype=np.float64)
    if any(p.rest_joints is not None for p in persons):
        arrays["rest_joints"] = np.stack([
            p.rest_joints if p.rest_joints is not None else np.full((24, 3), np.nan, np.float32)
            for p in persons]).astype(np.float32)

    def rows(getter, dtype, empty_shape) -> np.ndarray:
        parts = [np.asarray(getter(p), dtype=dtype) for p in persons]
        return np.concatenate(parts) if parts else np.zeros((0, *empty_shape), dtype)

    arrays["track_id"] = rows(lambda p: np.full(len(p), p.track_id), np.int64, ())
    arrays["frame_id"] = rows(lambda p: p.frame_ids, np.int64, ())
    arrays["timestamp"] = rows(lambda p: p.timestamps, np.float64, ())
    arrays["pose"] = rows(lambda p: p.pose, np.float32, (24, 3))
    arrays["transl"] = rows(lambda p: p.transl, np.float32, (3,))
    arrays.update(_world_arrays(result, rows))
    for key, attr in _OPTIONAL_ROWS.items():
        present = [getattr(p, attr) for p in persons if getattr(p, attr) is not None]
        if not present:
            continue
        shape, dtype = present[0].shape[1:], present[0].dtype
        fill = False if dtype == bool else np.nan

        def get(p: PersonMotion, attr=attr, shape=shape, dtype=dtype, fill=fill):
            value = getattr(p, attr)
            return value if value is not None else np.full((len(p), *shape), fill, dtype)

        arrays[key] = rows(get, dtype, shape)
    return arrays


def _camera_path(result: MotionResult) -> CameraPath:
    """The result's camera path, or a still one covering its frames (v2 files always hold one)."""
    if result.camera is not None:
        return result.camera
    last = max((int(p.frame_ids[-1]) for p in result.persons), default=0)
    return CameraPath.still(last + 1)


def _world_arrays(result: MotionResult, rows) -> dict[str, np.ndarray]:
    """Schema v2's camera path (per frame) and world-frame rows (meshvid/scene/world.py).

    The world rows are derived from the camera-space rows and the path when the file is
    written (and not read back: the loader derives them again), so they can never disagree.
    """
    from meshvid.scene.world import world_rows

    path = _camera_path(result)
    per_person = [world_rows(p, path) for p in result.persons]
    out = {"cam_R": path.R.astype(np.float64), "cam_t": path.t.astype(np.float64)}
    for key, shape in (("joints3d_world", (24, 3)), ("transl_world", (3,)),
                       ("global_orient_world", (3,))):
        parts = [w[key] for w in per_person]
        out[key] = np.concatenate(parts) if parts else np.zeros((0, *shape), np.float32)
    return out


def save_npz(result: MotionResult, path: str | os.PathLike, *, summary: bool = True) -> Path:
    """Write `path` (and `path` with .json beside it when `summary`) atomically."""
    path = Path(path)
    arrays = to_arrays(result)
    with atomic_output(path) as tmp:
        _write_npz(tmp, arrays)
    if summary:
        write_text_atomic(summary_path(path), json.dumps(summarize(result, path), indent=2) + "\n")
    return path


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed's layout (one deflated .npy per key), written with context managers
    so that a failed write (disk full) raises once, here, instead of again from a half-closed
    ZipFile's __del__ at exit."""
    with open(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED,
                                                 allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def summary_path(npz_path: str | os.PathLike) -> Path:
    return Path(npz_path).with_suffix(".json")


def summarize(result: MotionResult, npz_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The human/machine-readable overview written beside the NPZ (and printed by --json)."""
    tracks = []
    for p in result.persons:
        tracks.append({
            "track_id": p.track_id,
            "num_frames": len(p),
            "first_frame": int(p.frame_ids[0]),
            "last_frame": int(p.frame_ids[-1]),
            "start_s": round(float(p.timestamps[0]), 6),
            "end_s": round(float(p.timestamps[-1]), 6),
            "missing_frames": int(p.frame_ids[-1] - p.frame_ids[0] + 1 - len(p)),
            "interpolated_frames": int(p.interpolated.sum()) if p.interpolated is not None else 0,
            "gap_frames": int(p.gap.sum()) if p.gap is not None else 0,
        })
    out: dict[str, Any] = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "meshvid_version": result.meshvid_version,
        "source": result.source,
        "fps": result.fps,
        "body_model": result.body_model,
        "image_size": list(result.image_size),
        "focal_length": result.focal_length,
        "num_tracks": len(result.persons),
        "tracks": tracks,
    }
    if result.floor is not None:
        out["floor"] = {"camera_height_m": round(result.floor.height, 4),
                        "camera_height_levelled_m": round(result.floor.height_levelled, 4),
                        "up": [round(float(v), 6) for v in result.floor.up]}
    path = _camera_path(result) if result.persons else None
    if path is not None:
        from meshvid.scene.camera_motion import rotation_angle

        out["camera"] = {"static": path.is_static, "num_frames": path.num_frames,
                         "max_rotation_deg": round(float(np.degrees(rotation_angle(
                             path.R[:1].swapaxes(-1, -2) @ path.R).max())), 4)}
    if npz_path is not None:
        out["npz"] = Path(npz_path).name
    if result.extra:
        out["extra"] = dict(result.extra)
    return out


def _scalar(data: Any, key: str) -> Any:
    return data[key].item() if data[key].ndim == 0 else data[key]


def load_npz(path: str | os.PathLike) -> MotionResult:
    """Read a meshvid motion NPZ; anything else (or another schema version) is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not an NPZ file (not a zip archive); expected a meshvid "
                         "motion NPZ written by `meshvid infer`")
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise InputError(f"{path} is not a readable NPZ file ({err})") from None
    if "format" not in data or str(_scalar(data, "format")) != FORMAT_NAME:
        raise InputError(
            f"{path} is an NPZ but not a meshvid motion file (no format={FORMAT_NAME!r} "
            "entry); expected one written by `meshvid infer` (format: docs/formats.md)"
        )
    version = int(_scalar(data, "schema_version")) if "schema_version" in data else -1
    if version not in READABLE_VERSIONS:
        written_by = str(_scalar(data, "meshvid_version")) if "meshvid_version" in data else "?"
        readable = " and ".join(f"v{v}" for v in READABLE_VERSIONS)
        raise InputError(
            f"{path} uses meshvid motion schema v{version} (written by meshvid {written_by}), "
            f"but this meshvid reads {readable}; re-run `meshvid infer` with this version "
            "or use the meshvid version that wrote it"
        )
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise InputError(f"{path} is an incomplete meshvid motion file: missing {', '.join(missing)}")
    try:
        return _from_arrays(data)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    except (ValueError, IndexError, TypeError) as err:
        raise InputError(f"{path} is a corrupt meshvid motion file ({err})") from None


def _from_arrays(data: dict[str, np.ndarray]) -> MotionResult:
    lengths = data["track_lengths"].astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if offsets[-1] != data["frame_id"].shape[0]:
        raise InputError("track lengths do not add up to the number of rows")
    persons = []
    for i, track_id in enumerate(data["track_ids"].tolist()):
        rows = slice(int(offsets[i]), int(offsets[i + 1]))
        if not np.all(data["track_id"][rows] == track_id):
            raise InputError(f"rows of track {track_id} are not contiguous")
        kwargs: dict[str, Any] = {}
        for key, attr in _OPTIONAL_ROWS.items():
            if key not in data:
                continue
            value = data[key][rows]
            absent = (not value.any()) if value.dtype == bool else bool(np.isnan(value).all())
            kwargs[attr] = None if absent and key != "interpolated" else value
        if "rest_joints" in data and not np.isnan(data["rest_joints"][i]).all():
            kwargs["rest_joints"] = data["rest_joints"][i]
        persons.append(PersonMotion(
            track_id=track_id,
            frame_ids=data["frame_id"][rows],
            timestamps=data["timestamp"][rows],
            pose=data["pose"][rows],
            betas=data["betas"][i],
            transl=data["transl"][rows],
            **kwargs,
        ))
    extra = json.loads(str(_scalar(data, "extra_json"))) if "extra_json" in data else {}
    floor = None
    if all(k in data for k in ("floor_up", "floor_height", "floor_height_levelled")):
        floor = Floor(up=data["floor_up"].astype(np.float64).reshape(3),
                      height=float(_scalar(data, "floor_height")),
                      height_levelled=float(_scalar(data, "floor_height_levelled")))
    camera = None
    if "cam_R" in data and "cam_t" in data:
        try:
            camera = CameraPath(R=data["cam_R"], t=data["cam_t"])
        except ValueError as err:
            raise InputError(str(err)) from None
    return MotionResult(
        camera=camera,
        persons=persons,
        fps=float(_scalar(data, "fps")),
        body_model=str(_scalar(data, "body_model")),
        image_size=tuple(int(v) for v in data["image_size"]),
        focal_length=float(_scalar(data, "focal_length")),
        source=str(_scalar(data, "source")) if "source" in data else "",
        meshvid_version=str(_scalar(data, "meshvid_version")) if "meshvid_version" in data else "",
        extra=extra,
        floor=floor,
    )
