"""A Gaussian prior over the body pose (the 23 non-root joints, axis-angle), learned from motion capture.

The refinement (meshvid/fitting/refine.py) must not bend the body into poses no person makes just
to move a keypoint onto a detection. This prior scores a pose by its Mahalanobis distance under
a Gaussian fitted to the training motion corpora (train/fit_pose_prior.py writes
weights/pose_prior/, with its model card). One Gaussian is coarse (SMPLify uses a mixture), but
it is convex, cheap, and together with the pull towards the network's own pose it is what the
fit needs: a metric that says which joints may bend and which directions are rare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from meshvid.errors import MissingAssetError
from meshvid.paths import weights_dir

PRIOR_DIR = "pose_prior"
PRIOR_FILE = "pose_prior.npz"


def default_prior_path() -> Path:
    return weights_dir() / PRIOR_DIR / PRIOR_FILE


# A Gaussian is symmetric: it charges a knee bent backwards little more than one bent as far
# forwards. Every axis-angle component therefore also has the range the captures cover
# (0.1th-99.9th percentile), and leaving it costs this much per radian squared.
RANGE_WEIGHT = 10.0


@dataclass
class PosePrior:
    mean: torch.Tensor  # (69,) body pose, axis-angle of joints 1..23
    precision_factor: torch.Tensor  # (69, 69) L with precision = L L^T
    low: torch.Tensor  # (69,) per-component range seen in the captures
    high: torch.Tensor  # (69,)

    def energy(self, pose: torch.Tensor) -> torch.Tensor:
        """pose (N, 24, 3) axis-angle -> (N,) squared Mahalanobis distance / 69 of joints 1..23,
        plus RANGE_WEIGHT x the squared excursion (radians) outside the captured range."""
        x = pose[:, 1:].reshape(len(pose), -1)
        d = x - self.mean.to(pose.dtype)
        z = d @ self.precision_factor.to(pose.dtype)
        out = torch.relu(self.low.to(pose.dtype) - x) + torch.relu(x - self.high.to(pose.dtype))
        return (z * z).sum(-1) / d.shape[1] + RANGE_WEIGHT * (out * out).sum(-1)


def pose_range(body_pose: np.ndarray, pct: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(N, 23, 3) -> the (69,) low and high percentiles of every component."""
    x = body_pose.reshape(len(body_pose), -1)
    return np.percentile(x, pct, axis=0), np.percentile(x, 100 - pct, axis=0)


def fit_gaussian(body_pose: np.ndarray, shrink: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(N, 23, 3) axis-angle poses -> mean (69,), precision factor L (69, 69), precision = L L^T.

    `shrink` adds that many radians² to every variance, so directions no capture explored get a
    finite, strong penalty instead of an infinite one.
    """
    x = body_pose.reshape(len(body_pose), -1).astype(np.float64)
    mean = x.mean(0)
    cov = np.cov(x, rowvar=False) + shrink * np.eye(x.shape[1])
    precision = np.linalg.inv(cov)
    return mean, np.linalg.cholesky(precision)


def save_prior(path: Path, mean: np.ndarray, factor: np.ndarray, low: np.ndarray, high: np.ndarray,
               meta: dict) -> None:
    from meshvid.export.atomic import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, mean=mean.astype(np.float32), precision_factor=factor.astype(np.float32),
                     low=low.astype(np.float32), high=high.astype(np.float32),
                     meta=np.array(json.dumps(meta)))


def load_prior(path: str | Path | None = None) -> PosePrior:
    path = Path(path) if path else default_prior_path()
    if not path.is_file():
        raise MissingAssetError(f"pose prior not found at {path}: restore weights/{PRIOR_DIR}/ from the "
                                "repository or rebuild it with `python train/fit_pose_prior.py`")
    with np.load(path, allow_pickle=False) as z:
        return PosePrior(torch.from_numpy(z["mean"]), torch.from_numpy(z["precision_factor"]),
                         torch.from_numpy(z["low"]), torch.from_numpy(z["high"]))
