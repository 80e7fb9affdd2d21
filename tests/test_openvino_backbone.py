"""The DSD backbone on OpenVINO (model/openvino_backbone.py): same numbers as PyTorch, the IR
converted once and reused, and a clean fall-back to PyTorch when OpenVINO cannot run it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from meshvid.errors import InputError, MissingDependencyError
from meshvid.model import openvino_backbone as ovb
from meshvid.model.backbones import Backbone

pytest.importorskip("openvino")


class TinyBackbone(Backbone):
    """Two convolutions, stride 32 overall, so conversions take a fraction of a second."""

    out_channels = 8

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(),
                                 nn.Conv2d(8, 8, 3, stride=8, padding=1))

    def stages(self) -> list[nn.Module]:
        return [self.net]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("pooled", [True, False])
def test_tiny_backbone_matches_torch_and_is_cached(tmp_path, monkeypatch, pooled):
    bb = TinyBackbone().eval()
    ov_bb = ovb.OpenVINOBackbone(bb, 64, pooled=pooled, cache_root=tmp_path, chunk=3)
    crops = _crops(7, 64)  # 7 crops in chunks of 3: 3 + 3 + 1
    with torch.no_grad():
        ref = ovb.CropEncoder(bb, pooled)(torch.from_numpy(crops)).numpy()
    got = ov_bb(crops)
    assert got.shape == ((7, 8) if pooled else (7, 8, 2, 2)) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5)
    # a second start reuses the cached IR: converting again would fail here
    import openvino as ov

    monkeypatch.setattr(ov, "convert_model", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("converted twice")))
    again = ovb.OpenVINOBackbone(bb, 64, pooled=pooled, cache_root=tmp_path)
    assert again.xml == ov_bb.xml
    np.testing.assert_allclose(again(crops[:2]), ref[:2], atol=1e-5)
    # other weights -> another cache entry (never the old network's IR)
    with torch.no_grad():
        bb.net[0].bias.add_(1.0)
    assert ovb.weights_key(ovb.CropEncoder(bb, pooled), 64) != \
        ovb.weights_key(ovb.CropEncoder(TinyBackbone(), pooled), 64)


def test_backend_choice_and_fallbacks(tmp_path, monkeypatch):
    bb = TinyBackbone().eval()
    with pytest.raises(InputError, match="unknown DSD backend"):
        ovb.make_openvino_backbone(bb, 64, "tensorrt", cache_root=tmp_path)
    assert ovb.make_openvino_backbone(bb, 64, "torch", cache_root=tmp_path) == (None, None)
    built, reason = ovb.make_openvino_backbone(bb, 64, "auto", cache_root=tmp_path)
    assert isinstance(built, ovb.OpenVINOBackbone) and reason is None

    # a conversion that fails: auto warns and falls back, openvino says what went wrong
    def broken(*args, **kwargs):
        raise RuntimeError("conversion exploded\nsecond line")

    monkeypatch.setattr(ovb, "cached_ir", broken)
    with pytest.warns(UserWarning, match="using PyTorch"):
        built, reason = ovb.make_openvino_backbone(bb, 64, "auto", cache_root=tmp_path)
    assert built is None and "conversion exploded" in reason and "second line" not in reason
    with pytest.raises(InputError, match="conversion exploded"):
        ovb.make_openvino_backbone(bb, 64, "openvino", cache_root=tmp_path)

    # openvino not installed
    monkeypatch.setattr(ovb, "openvino_available", lambda: False)
    assert ovb.make_openvino_backbone(bb, 64, "auto") == (None, "openvino is not installed")
    with pytest.raises(MissingDependencyError):
        ovb.make_openvino_backbone(bb, 64, "openvino")


@pytest.fixture(scope="module")
def regressors():
    from meshvid.pipeline.regressor import MeshRegressor

    return MeshRegressor(backend="openvino"), MeshRegressor(backend="torch")


def test_shipped_dsd_on_openvino_equals_torch(regressors):
    fast, ref = regressors
    assert (fast.backend, ref.backend) == ("openvino", "torch")
    rng = np.random.default_rng(3)
    crops = _crops(11, fast.crop_size, seed=3)
    kp = (rng.random((11, 17, 2)) * 2 - 1).astype(np.float32)
    scores = rng.random((11, 17)).astype(np.float32)
    a, b = fast.single_frame(crops, kp, scores), ref.single_frame(crops, kp, scores)
    assert np.abs(b.features).max() > 0.05  # a real signal, not zeros on both sides
    np.testing.assert_allclose(a.features, b.features, atol=1e-4)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-3)


def test_regressor_falls_back_to_torch(monkeypatch, regressors):
    from meshvid.pipeline.regressor import MeshRegressor

    monkeypatch.setattr(ovb, "openvino_available", lambda: False)
    reg = MeshRegressor(backend="auto")
    assert reg.backend == "torch" and reg.fallback_reason == "openvino is not installed"
    crops = _crops(2, reg.crop_size, seed=5)
    kp = np.zeros((2, 17, 2), np.float32)
    scores = np.ones((2, 17), np.float32)
    np.testing.assert_allclose(reg.single_frame(crops, kp, scores).theta,
                               regressors[0].single_frame(crops, kp, scores).theta, atol=1e-3)
