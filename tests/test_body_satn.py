"""The articulation network's SATN: body_satn.safetensors beside body.safetensors in a weights
folder, run over each track's articulation-network features (MeshRegressor.body_temporal)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from meshvid.errors import MissingAssetError
from meshvid.pipeline.regressor import (BODY_FILE, BODY_SATN_FILE, MeshRegressor, average_thetas,
                                        mirror_theta)
from conftest import keypoint_batch

D = 64  # the tiny articulation network's feature width (the shipped main network's is 512)


def _tiny_body_model(seed: int = 0, residual: bool = False):
    """A random keypoints-only (skeleton variant) MeshNet with a small SATN (`residual`: its
    head reads the feature width, as DSD's does)."""
    from meshvid.model import build_model
    from meshvid.model.config import SATNConfig, cpu_config

    cfg = cpu_config()
    cfg.dsd.variant = "skeleton"
    cfg.dsd.feature_dim = D
    cfg.satn = SATNConfig(feature_dim=D, heads=4, layers=1, ff_dim=64, tcn_channels=32,
                          sort_channels=16, sort_hidden=32, residual=residual)
    torch.manual_seed(seed)
    model = build_model(cfg, load_backbone_weights=True).eval()
    with torch.no_grad():  # batch-norm statistics away from their defaults: folding must hold
        for m in model.satn.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model


def _pose(theta) -> np.ndarray:
    return theta.pose_6d.reshape(len(theta.pose_6d), -1).float().numpy()


@pytest.fixture(scope="module")
def body_model():
    return _tiny_body_model()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, body_model):
    """The shipped DSD-SATN plus the tiny network as body.safetensors + body_satn.safetensors."""
    from meshvid.paths import weights_dir
    from meshvid.train.export import write_dsd, write_satn

    out = tmp_path_factory.mktemp("weights")
    for file in ("dsd.safetensors", "satn.safetensors", "config.yaml"):
        shutil.copy(weights_dir() / "dsd_satn_cpu" / file, out / file)
    write_dsd(body_model, out / BODY_FILE)
    write_satn(body_model, out / BODY_SATN_FILE, {"role": "test"})
    return out


@pytest.fixture(scope="module")
def regressor(folder):
    return MeshRegressor(folder, backend="torch", orientation=False)


def test_load_pair_round_trips_the_satn_in_float16(folder, body_model):
    from meshvid.train.export import load_pair

    pair = load_pair(folder / BODY_FILE, folder / BODY_SATN_FILE)
    assert pair.cfg.to_dict()["satn"] == body_model.cfg.to_dict()["satn"] and not pair.training
    mine = pair.satn.state_dict()
    ref = {k: v for k, v in body_model.satn.state_dict().items() if not k.startswith("sorter.")}
    assert ref.keys() <= mine.keys()
    for k, v in ref.items():
        want = v.half().float() if v.is_floating_point() else v
        assert torch.equal(mine[k], want), k
    dsd = pair.dsd.state_dict()
    assert all(torch.equal(dsd[k], v.half().float()) for k, v in
               body_model.dsd.state_dict().items() if v.is_floating_point()
               and not k.startswith("backbone."))


def test_a_satn_head_equal_to_the_dsd_head_is_stored_once(tmp_path, body_model):
    from safetensors import safe_open

    from meshvid.train.export import load_pair, write_dsd, write_satn

    model = _tiny_body_model(seed=1, residual=True)
    with torch.no_grad():  # a refinement that is not zero, so the SATN is not DSD's head alone
        model.satn.refine.weight.normal_(0.0, 0.05)
    model.satn.head.load_state_dict(model.dsd.head.state_dict())
    write_dsd(model, tmp_path / BODY_FILE)
    write_satn(model, tmp_path / BODY_SATN_FILE)
    with safe_open(str(tmp_path / BODY_SATN_FILE), framework="pt") as f:
        assert json.loads(f.metadata()["metadata"])["satn_head"] == "dsd"
        assert not any(k.startswith("satn.head.") for k in f.keys())
    pair = load_pair(tmp_path / BODY_FILE, tmp_path / BODY_SATN_FILE)
    feats = torch.randn(7, D)
    with torch.no_grad():
        got, want = pair.satn.forward_sequence(feats), model.satn.forward_sequence(feats)
    assert np.allclose(_pose(got), _pose(want), atol=2e-2)


def test_load_model_of_a_folder_is_load_pair(folder):
    from meshvid.train.export import load_model, load_pair

    a = load_model(folder)
    b = load_pair(folder / "dsd.safetensors", folder / "satn.safetensors")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    # the sorting module is not shipped: random in both
    assert all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith("satn.sorter."))


def test_regressor_runs_the_body_satn_with_strides(regressor, folder):
    from meshvid.train.export import load_pair

    assert regressor.body_satn is not None and regressor.body_net is not None
    assert regressor.body_feature_width == D
    feats = np.random.default_rng(0).normal(size=(11, D)).astype(np.float32)
    reference = load_pair(folder / BODY_FILE, folder / BODY_SATN_FILE).satn  # not optimised
    with torch.no_grad():
        want = _pose(reference.forward_sequence(torch.from_numpy(feats)))
    got = regressor.body_temporal(feats)
    assert got.shape == (11, 144) and np.allclose(got, want, atol=1e-4)
    strided = regressor.body_temporal(feats, stride=2)
    assert np.allclose(strided[0::2], regressor.body_temporal(feats[0::2]), atol=1e-6)
    assert np.allclose(strided[1::2], regressor.body_temporal(feats[1::2]), atol=1e-6)
    assert not np.allclose(strided, got, atol=1e-3)  # the phases really are separate passes


def test_single_frame_keeps_the_body_features_from_the_same_pass(regressor):
    crops, kp, conf = keypoint_batch()
    out = regressor.single_frame(crops, kp, conf)
    with torch.no_grad():
        ref = regressor.body_net.forward_features(torch.zeros(3, 1), torch.from_numpy(kp),
                                                  torch.from_numpy(conf))
    assert out.body_features.shape == (3, D)
    assert np.allclose(out.body_features, ref.feature.numpy(), atol=1e-5)
    assert np.allclose(out.body, _pose(ref.theta), atol=1e-5)


def test_flip_test_keeps_both_views_and_averages_the_two_passes(folder, regressor):
    from meshvid.model.theta import Theta
    from meshvid.pipeline.regressor import flip_inputs

    flip = MeshRegressor(folder, backend="torch", orientation=False, flip_test=True)
    assert flip.body_feature_width == 2 * D
    crops, kp, conf = keypoint_batch()
    out = flip.single_frame(crops, kp, conf)
    assert out.body_features.shape == (3, 2 * D)
    _, fk, fs = flip_inputs(crops, kp, conf)
    assert np.allclose(out.body_features[:, :D], regressor.single_frame(crops, kp, conf)
                       .body_features, atol=1e-5)
    assert np.allclose(out.body_features[:, D:], regressor.single_frame(crops, fk, fs)
                       .body_features, atol=1e-5)
    feats = np.random.default_rng(1).normal(size=(9, 2 * D)).astype(np.float32)
    got = flip.body_temporal(feats)
    assert got.shape == (9, 144) and np.isfinite(got).all()

    def theta(pose: np.ndarray) -> Theta:
        return Theta(torch.from_numpy(pose).reshape(-1, 24, 6), torch.zeros(len(pose), 10),
                     torch.zeros(len(pose), 3))

    a, b = regressor.body_temporal(feats[:, :D]), regressor.body_temporal(feats[:, D:])
    want = _pose(average_thetas(theta(a), mirror_theta(theta(b))))
    assert np.allclose(got, want, atol=1e-4)


def test_body_temporal_off_leaves_the_per_frame_articulation_network(folder):
    off = MeshRegressor(folder, backend="torch", orientation=False, body_temporal=False)
    assert off.body_net is not None and off.body_satn is None
    out = off.single_frame(*keypoint_batch())
    assert out.body is not None and out.body_features is None
    with pytest.raises(MissingAssetError):
        off.body_temporal(np.zeros((5, D), np.float32))
    none = MeshRegressor(folder, backend="torch", orientation=False, articulation=False)
    assert none.body_net is None and none.body_satn is None


def test_a_body_satn_that_does_not_load_is_one_line(folder, tmp_path):
    for file in ("dsd.safetensors", "satn.safetensors", "config.yaml", BODY_FILE):
        shutil.copy(folder / file, tmp_path / file)
    (tmp_path / BODY_SATN_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(MissingAssetError, match=BODY_SATN_FILE) as err:
        MeshRegressor(tmp_path, backend="torch", orientation=False)
    assert "\n" not in str(err.value)
    shutil.copy(folder / "satn.safetensors", tmp_path / BODY_SATN_FILE)  # another model's SATN
    with pytest.raises(MissingAssetError, match="different models"):
        MeshRegressor(tmp_path, backend="torch", orientation=False)


def _short_track(n: int = 6):
    """One person in `n` frames of noise: frames and a Track for estimate_frames."""
    from meshvid.records import Frame, Track

    rng = np.random.default_rng(3)
    frames = [Frame(i, i / 30.0, rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
              for i in range(n)]
    boxes = np.tile(np.array([110.0, 40.0, 210.0, 220.0]), (n, 1)) + rng.normal(0, 2, (n, 4))
    kp = np.stack([rng.uniform([115, 45], [205, 215], (17, 2)) for _ in range(n)])
    track = Track(track_id=1, frame_ids=np.arange(n), timestamps=np.arange(n) / 30.0,
                  boxes=boxes, scores=np.ones(n), keypoints=kp.astype(np.float32),
                  keypoint_scores=np.full((n, 17), 0.9, np.float32),
                  interpolated=np.zeros(n, bool), gap=np.zeros(n, bool))
    return frames, track


def test_people_motion_runs_the_body_satn_over_the_track(regressor, monkeypatch):
    from meshvid.body import load_body_model
    from meshvid.pipeline import infer

    frames, track = _short_track()
    est = infer.estimate_frames(frames, [track], regressor)[0]
    assert est.body_features.shape == (6, D) and np.abs(est.body_features).sum(1).all()
    calls = []

    def spy(features, stride=1):
        calls.append((np.array(features), stride))
        return MeshRegressor.body_temporal(regressor, features, stride)

    monkeypatch.setattr(regressor, "body_temporal", spy)
    body = load_body_model("anny24", device="cpu")

    def run(estimate):
        return infer.people_motion([estimate], regressor, body, fps=10.0, image_size=(320, 240),
                                   focal=300.0, camera_fit=False, crop_ray=False)[0].pose

    with_satn = run(est)
    assert len(calls) == 1 and calls[0][1] == 1
    assert np.array_equal(calls[0][0], est.body_features[est.key])
    without = run(infer.TrackEstimate(**{**est.__dict__, "body_features": None}))
    assert len(calls) == 1 and not np.allclose(with_satn, without, atol=1e-4)
    monkeypatch.setattr(infer, "BODY_SATN_SMOOTH", False)
    assert not np.allclose(run(est), with_satn, atol=1e-4)  # the constant decides the smoothing
    single = run(infer.TrackEstimate(**{**est.__dict__, "key": np.eye(6, dtype=bool)[0]}))
    assert len(calls) == 2 and np.isfinite(single).all()  # one key row: no SATN
