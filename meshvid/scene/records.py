"""Records of the scene that travel with a result (numpy only, no meshvid imports).

`CameraPath` is the video camera's pose per source frame in the world frame of
meshvid/scene/world.py: `X_cam = R[f] @ X_world + t[f]` (world -> camera), camera axes as
meshvid/geometry/camera.py states them (OpenCV: x right, y down, z forward, metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraPath:
    """World -> camera extrinsics of every source frame.

    Attributes:
        R: (F, 3, 3) float64 world -> camera rotation of frames 0 .. F-1.
        t: (F, 3) float64 world -> camera translation, metres.
    A still camera (or a result from before camera motion) is R = identity and t = 0 for every
    frame, exactly: the world is then the camera's own frame.
    """

    R: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        R = np.asarray(self.R, np.float64)
        t = np.asarray(self.t, np.float64)
        if R.ndim != 3 or R.shape[1:] != (3, 3) or t.shape != (R.shape[0], 3) or not len(R):
            raise ValueError(f"camera path: R must be (F, 3, 3) and t (F, 3), got {R.shape} "
                             f"and {t.shape}")
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)

    @classmethod
    def still(cls, num_frames: int) -> "CameraPath":
        """Identity extrinsics for `num_frames` frames (a still camera)."""
        n = max(int(num_frames), 1)
        return cls(R=np.tile(np.eye(3), (n, 1, 1)), t=np.zeros((n, 3)))

    @property
    def num_frames(self) -> int:
        return int(self.R.shape[0])

    @property
    def is_static(self) -> bool:
        """True when every frame is the identity exactly (the world is the camera's frame)."""
        return bool(np.all(self.R == np.eye(3)) and np.all(self.t == 0.0))

    def at(self, frame_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, 3, 3) rotations and (T, 3) translations of the given frames (ids past the end
        hold the last frame's pose)."""
        idx = np.clip(np.asarray(frame_ids, np.int64), 0, self.num_frames - 1)
        return self.R[idx], self.t[idx]

    def centres(self) -> np.ndarray:
        """(F, 3) the camera's centre in the world per frame: -R^T t."""
        return -np.einsum("fji,fj->fi", self.R, self.t)
