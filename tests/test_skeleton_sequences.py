"""SATN's skeleton sequences (meshvid.train.skeleton_sequences): labels of unrendered motion
windows with a fixed or following camera, and detector noise with the measured temporal
statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshvid.synth.sources import held_out
from meshvid.train.skeleton_sequences import (TemporalNoise, fit_temporal, make_sequences,
                                              measure_temporal)


@pytest.fixture(scope="module")
def maker():
    from meshvid.synth.generate import SampleMaker

    m = SampleMaker("train", render=False)
    yield m
    m.close()


@pytest.fixture(scope="module")
def noise_model():
    from meshvid.perception.noise_model import KeypointNoiseModel, default_path

    return KeypointNoiseModel.load(default_path())


def test_sequence_labels_fixed_camera_and_projected_keypoints(maker) -> None:
    seen = set()
    for seed in range(8):
        smp = maker.sequence_labels(np.random.default_rng(seed), 10, 10.0)
        f = smp.frame
        assert f["pose"].shape == (10, 24, 3) and smp.images.shape[0] == 10
        seen.add(smp.person["camera"])
        if smp.person["camera"] == "static":  # one camera for the whole sequence
            assert np.allclose(f["cam_R"], f["cam_R"][:1]) and np.allclose(f["cam_t"], f["cam_t"][:1])
        # the 2D keypoints are the 3D labels projected through each frame's crop camera
        p = f["joints3d_coco17"]
        uv = np.stack([f["crop_focal"][:, None] * p[..., 0] / p[..., 2] + f["crop_center"][:, None, 0],
                       f["crop_focal"][:, None] * p[..., 1] / p[..., 2] + f["crop_center"][:, None, 1]], -1)
        assert np.allclose(uv * (2.0 / maker.size) - 1.0, f["joints2d_coco17_norm"], atol=1e-3)
        # the body moves smoothly (10 fps): no frame jumps across the crop
        step = np.abs(np.diff(f["joints3d_lsp14"], axis=0)).max()
        assert step < 1.0
    assert "static" in seen


def test_make_sequences_never_draws_held_out_or_excluded_clips(maker) -> None:
    out = make_sequences(maker, 12, 6, 10.0, seed=3, exclude_clips=("humanoid3d_walk",))
    assert out["keypoints"].shape == (12, 6, 17, 3) and out["joints3d"].shape == (12, 6, 14, 3)
    assert not any(held_out(str(c)) for c in out["clip"])
    assert not any(str(c).endswith("/humanoid3d_walk") for c in out["clip"])
    assert "deepmimic/humanoid3d_walk" in maker.library.clip_names  # the library is restored
    assert all(not held_out(n) for n in maker.library.clip_names)


def test_noise_has_the_calibrated_temporal_statistics(noise_model) -> None:
    # Labels: 300 sequences of 16 frames of a person standing still, every joint visible.
    rng = np.random.default_rng(0)
    gt = np.zeros((300, 16, 17, 3), np.float32)
    gt[..., :2] = rng.uniform(-0.6, 0.6, (300, 1, 17, 2))
    gt[..., 2] = 1.0
    tn = TemporalNoise(persistent=0.1, stick=0.6, miss_rate=0.05, miss_stay=0.5,
                       swap_rate=0.0, swap_stay=0.0)
    kp, conf = tn.sample(torch.from_numpy(gt), noise_model, torch.Generator().manual_seed(1))
    assert kp.shape == (300, 16, 17, 2) and conf.shape == (300, 16, 17)
    det = torch.cat([kp, conf[..., None]], -1).reshape(-1, 17, 3).numpy()
    seqs = [np.arange(i * 16, (i + 1) * 16) for i in range(300)]
    st = measure_temporal(det, gt.reshape(-1, 17, 3), seqs)
    assert abs(st["miss_rate"] - 0.05) < 0.015 and abs(st["miss_stay"] - 0.5) < 0.12
    # errors are the measured single-frame model's: the median matches its bank
    hit = conf.numpy() > 0.3
    err = np.linalg.norm(kp.numpy() - gt[..., :2], axis=-1)[hit]
    bank = np.concatenate([noise_model.bank[j][0] for j in range(17)])
    ref = np.linalg.norm(bank[bank[:, 2] > 0.3, :2], axis=1)
    assert 0.7 < np.median(err) / np.median(ref) < 1.3
    # correlated in time, decaying with the lag, not white and not constant
    assert 0.45 < st["corr_1"] < 0.85 and st["corr_1"] > st["corr_2"] > st["corr_4"] > 0.05
    fitted = fit_temporal(st)
    assert abs(fitted.lag_correlation(1) - st["corr_1"]) < 0.08
    # independent sequences: a white-noise model measures no correlation
    white = TemporalNoise(persistent=0.0, stick=0.0, miss_rate=0.0, swap_rate=0.0)
    kp, conf = white.sample(torch.from_numpy(gt), noise_model, torch.Generator().manual_seed(2))
    det = torch.cat([kp, conf[..., None]], -1).reshape(-1, 17, 3).numpy()
    assert abs(measure_temporal(det, gt.reshape(-1, 17, 3), seqs)["corr_1"]) < 0.1


def test_noise_scale_shrinks_the_drawn_offsets_only(noise_model) -> None:
    rng = np.random.default_rng(4)
    gt = np.zeros((20, 8, 17, 3), np.float32)
    gt[..., :2] = rng.uniform(-0.6, 0.6, (20, 1, 17, 2))
    gt[..., 2] = 1.0
    tn = TemporalNoise(swap_rate=0.0, miss_rate=0.0)
    full, conf = tn.sample(torch.from_numpy(gt), noise_model, torch.Generator().manual_seed(3))
    half, conf2 = tn.sample(torch.from_numpy(gt), noise_model, torch.Generator().manual_seed(3),
                            scale=0.5)
    offsets = full - torch.from_numpy(gt[..., :2])
    assert float(offsets.abs().mean()) > 1e-3
    assert torch.allclose(half - torch.from_numpy(gt[..., :2]), 0.5 * offsets, atol=1e-6)
    assert torch.equal(conf, conf2)  # same draws, same confidences


def test_raised_sequence_cameras_look_down(maker) -> None:
    from meshvid.synth.scene import RaisedCameras, camera_pitch_deg

    maker.raised = RaisedCameras(1.0, (25.0, 35.0))
    try:
        pitches = []
        for seed in range(6):
            f = maker.sequence_labels(np.random.default_rng(seed), 4, 10.0).frame
            r, t = f["cam_R"][0].astype(np.float64), f["cam_t"][0].astype(np.float64)
            eye = -r.T @ t
            # the camera's optical axis (+z in the camera) in the world, against the horizontal
            axis = r.T @ np.array([0.0, 0.0, 1.0])
            pitches.append(camera_pitch_deg(eye, eye + axis))
    finally:
        maker.raised = None
    # every view looks down by about the drawn pitch (the framing offsets it by a few degrees)
    assert min(pitches) > 12.0 and np.median(pitches) > 20.0
