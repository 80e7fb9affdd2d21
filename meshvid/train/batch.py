"""From a batch of table rows to the model's inputs and the losses' Targets.

The external skeleton reads a detector's keypoints; training simulates them from the ground
truth (KeypointNoise: jitter, outliers, drops, detector-like confidences) with a seeded
generator, so runs are reproducible and evaluation on synthetic data can use the same model of
a detector with a fixed seed.
"""

from __future__ import annotations

import functools

import torch

from meshvid.errors import InputError
from meshvid.geometry.rotations import axis_angle_to_matrix
from meshvid.model.losses import Targets
from meshvid.train.recipe import KeypointNoise


@functools.lru_cache(maxsize=4)
def _measured_model(path: str | None):
    from meshvid.perception.noise_model import KeypointNoiseModel, default_path

    return KeypointNoiseModel.load(path or default_path())


def simulate_detections(gt: torch.Tensor, noise: KeypointNoise,
                        gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """gt (B, K, 3) crop-normalised + visibility -> (keypoints (B, K, 2), confidence (B, K))."""
    if noise.kind == "measured":
        if gt.shape[1] != 17:
            raise InputError("the measured keypoint-noise model is for COCO-17 keypoints; use "
                             "data.keypoint_noise.kind: gaussian for other joint sets")
        return _measured_model(noise.path).sample(gt, gen, scale=noise.scale)
    b, k, _ = gt.shape
    jitter = torch.randn(b, k, 2, generator=gen) * noise.sigma
    outlier = torch.rand(b, k, generator=gen) < noise.outlier_prob
    jitter = torch.where(outlier[..., None], jitter * 10.0, jitter)
    kp = gt[..., :2] + jitter
    conf = noise.conf_low + (noise.conf_high - noise.conf_low) * torch.rand(b, k, generator=gen)
    dropped = (torch.rand(b, k, generator=gen) < noise.drop_prob) | (gt[..., 2] <= 0)
    conf = torch.where(dropped, conf * 0.25, conf)  # below the usual 0.3 threshold
    if noise.misplace_prob > 0:  # (drawn only then: the default's random stream is unchanged)
        wrong = dropped & (torch.rand(b, k, generator=gen) < noise.misplace_prob)
        other = torch.randint(0, k, (b, k), generator=gen)
        elsewhere = torch.gather(gt[..., :2], 1, other[..., None].expand(-1, -1, 2)) + jitter
        kp = torch.where(wrong[..., None], elsewhere, kp)
    return kp, conf


def model_keypoints(batch: dict[str, torch.Tensor], noise: KeypointNoise,
                    gen: torch.Generator, simulated_fraction: float = 0.0
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The external skeleton's input: real detections when the table has them, else simulated;
    with `simulated_fraction` > 0 that fraction of rows (drawn from `gen`) is simulated anyway.

    Returns keypoints (B, K, 2) crop-normalised and confidence (B, K)."""
    if "detections" not in batch:
        return simulate_detections(batch["keypoints"], noise, gen)
    det = batch["detections"]
    kp, conf = det[..., :2].clone(), det[..., 2].clone()
    draw = torch.rand(len(kp), generator=gen) < simulated_fraction
    if "has_image" in batch:  # skeleton-only rows have no detector output: always simulated
        draw |= batch["has_image"] <= 0
    if bool(draw.any()):
        sim = draw.nonzero().squeeze(1)
        if len(sim):
            kp[sim], conf[sim] = simulate_detections(batch["keypoints"][sim], noise, gen)
    return kp, conf


def targets(batch: dict[str, torch.Tensor], keypoints_set: str,
            skeleton_set: str | None = None) -> Targets:
    t = Targets(
        rotmat=axis_angle_to_matrix(batch["pose"]), betas=batch["betas"],
        has_params=batch["has_smpl"], joints3d=batch["joints3d"], has_3d=batch["has_3d"],
        joints3d_set="lsp14", keypoints2d=batch["keypoints"], keypoints2d_set=keypoints_set)
    if skeleton_set is not None and skeleton_set == keypoints_set:
        t.skeleton2d = batch["keypoints"]
    return t
