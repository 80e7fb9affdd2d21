"""Multi-camera calibration in the TOML layout anipose, Pose2Sim and caliscope write.

One table per camera (any table with a `matrix` key; others, such as `[metadata]`, are
ignored)::

    [cam_01]
    name = "cam_01"
    size = [1288.0, 728.0]                 # width, height in pixels
    matrix = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    distortions = [k1, k2, p1, p2]         # OpenCV order; a 5th value is k3
    rotation = [rx, ry, rz]                # Rodrigues vector, world -> camera
    translation = [tx, ty, tz]             # metres, world -> camera
    fisheye = false

Convention (the calibration's, and OpenCV's): X_cam = R(rotation) @ X_world + translation,
camera axes x right, y down, z forward, the same axes as meshvid's camera space
(meshvid.geometry.camera). Projection applies OpenCV's radial-tangential distortion model to
the normalised coordinates before the intrinsics. Fisheye cameras are refused.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meshvid.errors import InputError


@dataclass(frozen=True)
class CameraCalibration:
    """One calibrated camera.

    Attributes:
        name: the camera's name (its table's `name`, else the table's key); its video is
            `videos/<name>.<ext>`.
        size: (width, height) in pixels.
        K: (3, 3) intrinsics.
        dist: (5,) k1, k2, p1, p2, k3 (k3 = 0 when the file gives four values).
        R: (3, 3) world -> camera rotation.
        t: (3,) world -> camera translation, metres.
    """

    name: str
    size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray

    @property
    def focal(self) -> float:
        """Mean of fx and fy, pixels."""
        return float(0.5 * (self.K[0, 0] + self.K[1, 1]))

    @property
    def centre_world(self) -> np.ndarray:
        """(3,) camera centre in world coordinates."""
        return -self.R.T @ self.t


def rodrigues(rvec: np.ndarray) -> np.ndarray:
    """Rodrigues vector (3,) -> rotation matrix (3, 3) (float64)."""
    rvec = np.asarray(rvec, np.float64).reshape(3)
    theta = float(np.linalg.norm(rvec))
    if theta < 1e-12:
        return np.eye(3)
    k = rvec / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(theta) * kx + (1.0 - math.cos(theta)) * (kx @ kx)


def _floats(table: dict, key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if key not in table:
        raise InputError(f"{where}: missing `{key}`")
    try:
        arr = np.asarray(table[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: `{key}` is not a list of numbers") from None
    if arr.shape != shape or not np.isfinite(arr).all():
        raise InputError(f"{where}: `{key}` should hold {'x'.join(map(str, shape))} finite "
                         f"numbers, got shape {arr.shape}")
    return arr


def camera_from_table(key: str, table: dict, where: str) -> CameraCalibration:
    """One TOML camera table -> CameraCalibration (InputError naming the field when invalid)."""
    where = f"{where} [{key}]"
    if table.get("fisheye", False):
        raise InputError(f"{where}: fisheye cameras are not supported (fisheye = true)")
    size = _floats(table, "size", (2,), where)
    K = _floats(table, "matrix", (3, 3), where)
    dist_raw = np.asarray(table.get("distortions", [0.0] * 4), dtype=np.float64).reshape(-1)
    if dist_raw.size not in (4, 5) or not np.isfinite(dist_raw).all():
        raise InputError(f"{where}: `distortions` should hold 4 or 5 numbers (k1, k2, p1, p2"
                         f"[, k3]), got {dist_raw.size}")
    dist = np.zeros(5)
    dist[:dist_raw.size] = dist_raw
    rvec = _floats(table, "rotation", (3,), where)
    t = _floats(table, "translation", (3,), where)
    name = str(table.get("name", key))
    return CameraCalibration(name=name, size=(int(round(size[0])), int(round(size[1]))), K=K,
                             dist=dist, R=rodrigues(rvec), t=t)


def read_calibration(path: str | Path) -> dict[str, CameraCalibration]:
    """Read a calibration TOML.

    Args:
        path: the TOML file.
    Returns:
        camera name -> CameraCalibration, in the file's order.
    Raises:
        InputError: missing file, malformed TOML, no camera table, an invalid field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no calibration file {path} (expected the TOML that anipose, Pose2Sim "
                         "or caliscope writes; docs/eval-multiview.md)")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path} is not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text (UTF-8) TOML file") from None
    cams: dict[str, CameraCalibration] = {}
    for key, table in doc.items():
        if not isinstance(table, dict) or "matrix" not in table:
            continue
        cam = camera_from_table(key, table, str(path))
        if cam.name in cams:
            raise InputError(f"{path}: two cameras are named {cam.name!r}")
        cams[cam.name] = cam
    if not cams:
        raise InputError(f"{path} holds no camera table (a table with `matrix`, `size`, "
                         "`rotation`, `translation`)")
    return cams


def world_to_camera(points: np.ndarray, cam: CameraCalibration) -> np.ndarray:
    """X_cam = R X_world + t.

    Args:
        points: (..., 3) world points, metres (NaN stays NaN).
    Returns:
        (..., 3) camera-space points.
    """
    return np.asarray(points, np.float64) @ cam.R.T + cam.t


def distort_normalised(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """OpenCV's radial-tangential model on normalised coordinates (x/z, y/z).

    Args:
        xy: (..., 2) undistorted normalised coordinates.
        dist: (5,) k1, k2, p1, p2, k3.
    Returns:
        (..., 2) distorted normalised coordinates.
    """
    k1, k2, p1, p2, k3 = np.asarray(dist, np.float64)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1.0 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def project_camera(points_cam: np.ndarray, cam: CameraCalibration,
                   distort: bool = True) -> np.ndarray:
    """Camera-space points -> pixels through the calibrated (distorting) camera.

    Args:
        points_cam: (..., 3) camera-space points, metres; points at z <= 0 give NaN.
        cam: the camera.
        distort: apply the lens distortion (the pixels of the recorded video).
    Returns:
        (..., 2) pixels.
    """
    p = np.asarray(points_cam, np.float64)
    z = p[..., 2:3]
    with np.errstate(invalid="ignore", divide="ignore"):
        xy = np.where(z > 1e-6, p[..., :2] / z, np.nan)
    if distort:
        xy = distort_normalised(xy, cam.dist)
    return np.stack([cam.K[0, 0] * xy[..., 0] + cam.K[0, 1] * xy[..., 1] + cam.K[0, 2],
                     cam.K[1, 1] * xy[..., 1] + cam.K[1, 2]], axis=-1)


def inside_image(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., 2) pixels -> (...) bool: finite and inside [0, w) x [0, h)."""
    u, v = pixels[..., 0], pixels[..., 1]
    with np.errstate(invalid="ignore"):
        return np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u < size[0]) & (v >= 0) & (v < size[1])
