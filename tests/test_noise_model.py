"""The keypoint-noise model measured on YOLO11n-pose: fitting recovers known statistics, samples
reproduce the measured ones, the shipped file loads."""

from __future__ import annotations

import numpy as np
import torch

from meshvid.body.joints import COCO_17_FLIP
from meshvid.perception.noise_model import KeypointNoiseModel, default_path, visibility_class


def fake_detector(n: int, seed: int = 0):
    """Labels and detections with known statistics: 10 % misses, 5 % mirrored bodies, visible
    joints N(0, 0.02), occluded N(0, 0.1) with low confidence."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((n, 17, 3), np.float32)
    gt[..., 0] = rng.uniform(-0.6, 0.6, (n, 17))
    gt[..., 1] = rng.uniform(-0.8, 0.8, (n, 17))
    gt[..., 2] = rng.random((n, 17)) > 0.2
    det = np.zeros_like(gt)
    vis = gt[..., 2] > 0
    sigma = np.where(vis, 0.02, 0.1)[..., None]
    det[..., :2] = gt[..., :2] + rng.normal(size=(n, 17, 2)) * sigma
    det[..., 2] = np.where(vis, rng.uniform(0.7, 1.0, (n, 17)), rng.uniform(0.0, 0.4, (n, 17)))
    swapped = rng.random(n) < 0.05
    det[swapped, :, :2] = det[swapped][:, list(COCO_17_FLIP), :2]
    score = np.where(rng.random(n) < 0.1, 0.0, 0.9).astype(np.float32)
    det[score == 0] = 0
    return det, gt, score


def test_fit_recovers_known_statistics() -> None:
    det, gt, score = fake_detector(6000)
    m = KeypointNoiseModel.fit(det, gt, score)
    assert abs(m.miss_rate - 0.10) < 0.015
    assert abs(m.swap_rate - 0.05) < 0.015
    st = m.joint_stats()
    # median of |N(0, s^2 I_2)| = s * sqrt(2 ln 2) = 1.177 s
    assert abs(st["left_knee"]["visible"]["median_error"] - 0.02 * 1.177) < 0.004
    assert st["left_knee"]["occluded"]["kept_rate"] < 0.35


def test_samples_reproduce_the_measured_statistics(tmp_path) -> None:
    det, gt, score = fake_detector(6000)
    m = KeypointNoiseModel.fit(det, gt, score)
    m.save(tmp_path / "m.npz")
    m = KeypointNoiseModel.load(tmp_path / "m.npz")
    det2, gt2, _ = fake_detector(6000, seed=1)
    kp, conf = m.sample(torch.from_numpy(gt2), torch.Generator().manual_seed(0))
    missed = (conf == 0).all(1)
    assert abs(float(missed.float().mean()) - m.miss_rate) < 0.015
    err = (kp - torch.from_numpy(gt2[..., :2])).norm(dim=-1)
    vis = torch.from_numpy(gt2[..., 2] > 0) & ~missed[:, None]
    # Visible joints: median error as measured (swaps add a few percent of large errors).
    assert abs(float(err[vis].median()) - 0.02 * 1.177) < 0.005
    occluded = torch.from_numpy(gt2[..., 2] == 0) & ~missed[:, None]
    assert float(conf[occluded].mean()) < 0.25 < float(conf[vis].mean())


def test_sampling_is_reproducible_and_classes_are_assigned() -> None:
    det, gt, score = fake_detector(500)
    m = KeypointNoiseModel.fit(det, gt, score)
    g = torch.from_numpy(gt[:50])
    a = m.sample(g, torch.Generator().manual_seed(3))
    b = m.sample(g, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    cls = visibility_class(np.array([[[0.0, 0.0, 1], [0.2, 0.1, 0], [1.4, 0.0, 0]]]))
    assert cls.tolist() == [[0, 1, 2]]


def test_shipped_noise_model_loads_and_is_detector_like() -> None:
    m = KeypointNoiseModel.load(default_path())
    assert 0.0 <= m.miss_rate < 0.2 and 0.0 <= m.swap_rate < 0.2
    assert m.meta["crops"] >= 1000
    st = m.joint_stats()
    # The detector is precise on visible faces, worse on wrists, unsure about occluded joints.
    assert st["nose"]["visible"]["median_error"] < st["left_wrist"]["visible"]["median_error"]
    assert st["nose"]["visible"]["kept_rate"] > st["nose"].get("occluded", {"kept_rate": 0})["kept_rate"]


def test_gaussian_noise_can_put_dropped_joints_on_another_keypoint() -> None:
    """Issue 24: a detector reports a joint it cannot see somewhere wrong, at low confidence;
    `misplace_prob` teaches that, and at 0 the draws are exactly the old ones."""
    from dataclasses import replace

    from meshvid.train.batch import simulate_detections
    from meshvid.train.recipe import KeypointNoise

    gt = torch.cat([torch.rand(64, 17, 2), torch.ones(64, 17, 1)], -1)
    base = KeypointNoise(sigma=0.0, outlier_prob=0.0, drop_prob=0.5)
    kp0, conf0 = simulate_detections(gt, base, torch.Generator().manual_seed(3))
    kp1, conf1 = simulate_detections(gt, replace(base, misplace_prob=0.0),
                                     torch.Generator().manual_seed(3))
    assert torch.equal(kp0, kp1) and torch.equal(conf0, conf1)
    assert torch.allclose(kp0, gt[..., :2])  # dropped joints stay where they are
    kp, conf = simulate_detections(gt, replace(base, misplace_prob=1.0),
                                   torch.Generator().manual_seed(3))
    moved = (kp - gt[..., :2]).norm(dim=-1) > 1e-6
    low = conf < 0.3
    assert not (moved & ~low).any()  # only low-confidence joints move
    assert moved[low].float().mean() > 0.8  # nearly all of them (1 in 17 lands on itself)
    # each moved joint sits on one of the same person's keypoints
    dist = (kp[:, :, None] - gt[:, None, :, :2]).norm(dim=-1).min(-1).values
    assert torch.all(dist[moved] < 1e-6)
