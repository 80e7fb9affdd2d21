"""MeshRegressor.temporal with a stride (`--mesh-rate every` on a 30 fps clip: stride 3): each
frame's Θ is SATN on the 9-frame window of every stride-th frame around it, built here by hand
(replicate padding at the ends of its phase), not by the strided sliding passes under test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshvid.pipeline.regressor import MeshRegressor, temporal_stride


@pytest.fixture(scope="module")
def regressor():
    reg = MeshRegressor(optimize=False)  # the shipped weights, float32
    # the shipped SATN's learned refinement is zero (model card): give it random weights so
    # every slot of the window changes the answer, not only the residual base's low-pass
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        reg.model.satn.refine.weight.copy_(torch.randn(reg.model.satn.refine.weight.shape,
                                                       generator=g) * 0.05)
    return reg


def _by_hand(reg, feats: np.ndarray, stride: int) -> np.ndarray:
    """Θ of frame t = SATN(window of frames t + stride * (-4..4)), each index clamped to the
    first/last frame of t's phase (t mod stride)."""
    satn = reg.model.satn
    half = satn.window // 2
    t_all = len(feats)
    windows = []
    for t in range(t_all):
        phase = np.arange(t % stride, t_all, stride)  # the frames SATN sees with t
        pos = t // stride
        idx = phase[np.clip(np.arange(pos - half, pos + half + 1), 0, len(phase) - 1)]
        windows.append(feats[idx])
    with torch.no_grad():
        theta = satn(torch.from_numpy(np.stack(windows)).float()).theta
    return theta.vector().numpy()


@pytest.mark.parametrize("t_all,stride", [(31, 3), (20, 1), (2, 3)])
def test_strided_windows_interleave_back_into_frame_order(regressor, t_all, stride):
    rng = np.random.default_rng(t_all + stride)
    feats = rng.normal(size=(t_all, regressor.model.satn.cfg.feature_dim)).astype(np.float32)
    got = regressor.temporal(feats, stride=stride)
    assert got.shape == (t_all, 157)
    np.testing.assert_allclose(got, _by_hand(regressor, feats, stride), atol=2e-5)


def test_stride_changes_which_frames_a_window_sees(regressor):
    feats = np.random.default_rng(1).normal(
        size=(30, regressor.model.satn.cfg.feature_dim)).astype(np.float32)
    one, three = regressor.temporal(feats, 1), regressor.temporal(feats, 3)
    assert np.abs(one - three).max() > 1e-2  # not the same passes under another name
    # frames 0, 3, 6, ... with stride 3 are exactly stride 1 on the subsampled clip
    np.testing.assert_allclose(three[0::3], regressor.temporal(feats[0::3], 1), atol=2e-5)
    assert [temporal_stride(f) for f in (10, 24, 30, 60)] == [1, 2, 3, 6]
