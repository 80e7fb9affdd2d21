"""train/train_body_satn.py: the table its SATN trains on keeps each sequence's frames together
and in order, and the features are the shipped articulation network's on noisy keypoints."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("train_body_satn", ROOT / "train" / "train_body_satn.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sequences(n: int, t: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    kp = np.zeros((n, t, 17, 3), np.float32)
    kp[..., :2] = rng.uniform(-0.5, 0.5, (n, 1, 17, 2)) + 0.01 * np.arange(t)[None, :, None, None]
    kp[..., 2] = 1.0
    return {"keypoints": kp, "joints3d": rng.normal(size=(n, t, 14, 3)).astype(np.float32),
            "pose": rng.normal(scale=0.1, size=(n, t, 24, 3)).astype(np.float32),
            "betas": rng.normal(size=(n, 10)).astype(np.float32), "static": np.ones(n, np.int8),
            "clip": np.array([f"cmu/01/01_{i:02d}" for i in range(n)], object)}


def test_frame_table_keeps_sequences_whole_and_ordered():
    mod = _script()
    a, b = _sequences(3, 5, 0), _sequences(2, 5, 1)
    table = mod.frame_table([a, b], 10.0)
    assert len(table) == 25 and len(table.seq_names) == 5
    seqs = table.sequences()
    assert [len(r) for r in seqs] == [5] * 5
    # sequence 3 is b's first: its rows are b's frames in order
    rows = seqs[3]
    assert torch.equal(table.frame[rows], torch.arange(5))
    assert torch.allclose(table.keypoints[rows], torch.from_numpy(b["keypoints"][0]))
    assert torch.allclose(table.betas[rows], torch.from_numpy(b["betas"][0]).expand(5, 10))
    assert bool((table.joints3d[..., 3] == 1).all())


def test_body_features_are_the_networks_on_noisy_keypoints():
    from meshvid.pipeline.regressor import BODY_FILE
    from meshvid.train.export import load_model

    mod = _script()
    dsd = load_model(ROOT / "weights" / "dsd_satn_cpu" / BODY_FILE).dsd
    table = mod.frame_table([_sequences(4, 6, 2)], 10.0)
    feats = mod.body_features(dsd, table, 6, draws=2, noise_scale=0.6, seed=0)
    assert feats.shape == (2, 24, dsd.cfg.feature_dim) and feats.dtype == torch.float16
    again = mod.body_features(dsd, table, 6, draws=2, noise_scale=0.6, seed=0)
    assert torch.equal(feats, again)  # seeded
    assert not torch.equal(feats[0], feats[1])  # each draw its own noise
    # near the clean keypoints' features, not equal to them
    with torch.no_grad():
        clean = dsd.forward_features(torch.zeros(24, 1), table.keypoints[:, :, :2],
                                     table.keypoints[:, :, 2]).feature
    d_noisy = (feats[0].float() - clean).norm(dim=1).mean()
    d_other = (clean - clean.roll(6, 0)).norm(dim=1).mean()  # another sequence's features
    assert 0 < float(d_noisy) < float(d_other)


def test_gaussian_sequence_noise_has_the_jitter_and_its_correlation():
    mod = _script()
    gt = torch.zeros(400, 12, 17, 3)
    gt[..., 2] = 1.0
    kp, conf = mod.gaussian_sequence_noise(gt, 0.02, torch.Generator().manual_seed(0),
                                           persistent=0.2, stick=0.5)
    err = kp - gt[..., :2]
    assert abs(float(err.std()) - 0.02) < 0.002  # the network's training jitter
    x = err[..., 0]
    lag1 = float((x[:, 1:] * x[:, :-1]).mean() / x.var())
    lag8 = float((x[:, 8:] * x[:, :-8]).mean() / x.var())
    # persistent + (1 - persistent) * stick^lag: 0.6 at lag 1, ~0.2 at lag 8
    assert abs(lag1 - 0.6) < 0.06 and abs(lag8 - 0.2) < 0.06
    assert float(conf.min()) >= 0.5 * 0.25 and float(conf.max()) <= 1.0
    assert 0.05 < float((conf < 0.3).float().mean()) < 0.11  # ~8 % dropped
