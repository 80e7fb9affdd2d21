"""The source side of a motion: a capture's joint positions as its file defines them.

A `Capture` is what every reader returns: per frame, the world positions of the source
skeleton's points (its joints, plus end sites / bone ends where the format has them), in the
file's own units and axes, with the skeleton's names and tree. Retargeting (retarget.py) turns
it into a `meshvid.synth.motion.MotionClip` on our 24-joint body (the one owner of a motion
clip record); nothing here knows about our body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Unit candidates: metres per source unit. CMU's ASF length unit is 1/0.45 inch.
UNITS: dict[str, float] = {
    "m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu-asf": 0.0254 / 0.45,
}
# What a standing adult's joint span (ankles to head) measures, in metres, for unit detection.
TYPICAL_SPAN_M = 1.45


@dataclass
class Capture:
    """One clip as read from a file.

    Attributes:
        name: clip id, "<corpus>/<relative path without extension>" once a corpus names it.
        path: the file it came from.
        family: skeleton family ("bandai", "cmu-bvh", "mixamo", "cmu-asf", "cmu8", "bvh").
        fps: frames per second.
        joints: (J,) point names, unique.
        parents: (J,) parent index per point, -1 for the root.
        positions: (T, J, 3) world positions in the file's units and axes.
        unit: metres per file unit (declared by the format or detected).
        unit_name: how `unit` was decided, e.g. "cm (detected)".
        info: extra per-format facts for `motion info`.
        up: the file's up axis when it declares one (FBX: "+y" after conversion), else None.
    """

    name: str
    path: Path
    family: str
    fps: float
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    positions: np.ndarray
    unit: float
    unit_name: str
    info: dict = field(default_factory=dict)
    up: str | None = None  # the up axis when the file declares it ("+y"), else detected

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    def index(self, name: str) -> int:
        return self.joints.index(name)


def detect_unit(span: float) -> tuple[float, str]:
    """The unit whose scale makes a skeleton's rest span (lowest to highest point, file units)
    closest to a standing adult's, in log scale. Returns (metres per unit, name)."""
    if not np.isfinite(span) or span <= 0:
        return 1.0, "m (assumed)"
    best = min(UNITS.items(), key=lambda kv: abs(np.log(span * kv[1] / TYPICAL_SPAN_M)))
    return best[1], f"{best[0]} (detected)"


# --- small rotation helpers shared by the readers (numpy, batched)

def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about the x, y or z axis by `angle` (..., radians)."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    if axis == "x":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    elif axis == "z":
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    else:
        raise ValueError(f"unknown rotation axis {axis!r}")
    return np.stack([np.stack(row, -1) for row in m], -2)


def expmap_to_rotmat(r: np.ndarray) -> np.ndarray:
    """Exponential map / axis-angle (..., 3) -> rotation matrices (..., 3, 3) (Rodrigues)."""
    r = np.asarray(r, dtype=np.float64)
    theta = np.linalg.norm(r, axis=-1, keepdims=True)
    k = r / np.where(theta < 1e-12, 1.0, theta)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    z = np.zeros_like(kx)
    kmat = np.stack([np.stack([z, -kz, ky], -1), np.stack([kz, z, -kx], -1),
                     np.stack([-ky, kx, z], -1)], -2)
    t = theta[..., None]
    return np.eye(3) + np.sin(t) * kmat + (1.0 - np.cos(t)) * (kmat @ kmat)
