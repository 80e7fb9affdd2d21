"""Which frames of a track the networks see, and Θ for the frames between.

SATN is trained on sequences sampled at 10 fps (regressor.SATN_TRAINING_FPS). At the default
mesh rate ("model") `meshvid infer` runs DSD and SATN on every k-th frame (k = the temporal
stride: 3 at 30 fps), which are also the detector's frames, and fills the frames between by
interpolating Θ: rotations along the geodesic (slerp), shape and camera linearly. The crop box,
and so the translation, still follows the person at the full frame rate. Mesh rate "every" runs
DSD on every frame and SATN over k interleaved phases (regressor.MeshRegressor.temporal).
"""

from __future__ import annotations

import numpy as np
import torch

MESH_RATES = ("model", "every")


def key_mask(frame_ids: np.ndarray, every: int) -> np.ndarray:
    """Rows of a track whose frame index is a multiple of `every`, plus its first and last rows
    (so the frames between are interpolated, never extrapolated)."""
    frame_ids = np.asarray(frame_ids)
    mask = frame_ids % max(1, int(every)) == 0
    if len(mask):
        mask[0] = mask[-1] = True
    return mask


def interpolate_theta(frame_ids: np.ndarray, key: np.ndarray, key_theta: np.ndarray) -> np.ndarray:
    """Θ vectors (K, 157) at the key rows -> (T, 157) at every row of the track."""
    from meshvid.geometry.rotations import (interpolate_linear, interpolate_rotmats,
                                            matrix_to_sixd, sixd_to_matrix)
    from meshvid.pipeline.regressor import theta_from_vector

    if key.all():
        return np.asarray(key_theta, np.float32)
    times = torch.from_numpy(np.asarray(frame_ids, np.float64))
    key_times = times[torch.from_numpy(key)]
    theta = theta_from_vector(torch.from_numpy(np.asarray(key_theta, np.float32)))
    rot = interpolate_rotmats(key_times, sixd_to_matrix(theta.pose_6d), times)
    rest = interpolate_linear(key_times, torch.cat([theta.betas, theta.cam], -1), times)
    out = torch.cat([matrix_to_sixd(rot).flatten(1), rest], -1)
    return out.float().numpy()
