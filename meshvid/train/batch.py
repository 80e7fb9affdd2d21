"""From a batch of table rows to the model's inputs and the losses' Targets.

The external skeleton reads a detector's keypoints; training simulates them from the ground
truth (KeypointNoise: jitter, outliers, drops, detector-like confidences) with a seeded
generator, so runs are reproducible and evaluation on synthetic data can use the same model of
a detector with a fixed seed.
"""

from __future__ import annotations

import torch

from meshvid.geometry.rotations import axis_angle_to_matrix
from meshvid.model.losses import Targets
from meshvid.train.recipe import KeypointNoise


def simulate_detections(gt: torch.Tensor, noise: KeypointNoise,
                        gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """gt (B, K, 3) crop-normalised + visibility -> (keypoints (B, K, 2), confidence (B, K))."""
    b, k, _ = gt.shape
    jitter = torch.randn(b, k, 2, generator=gen) * noise.sigma
    outlier = torch.rand(b, k, generator=gen) < noise.outlier_prob
    jitter = torch.where(outlier[..., None], jitter * 10.0, jitter)
    kp = gt[..., :2] + jitter
    conf = noise.conf_low + (noise.conf_high - noise.conf_low) * torch.rand(b, k, generator=gen)
    dropped = (torch.rand(b, k, generator=gen) < noise.drop_prob) | (gt[..., 2] <= 0)
    conf = torch.where(dropped, conf * 0.25, conf)  # below the usual 0.3 threshold
    return kp, conf


def model_keypoints(batch: dict[str, torch.Tensor], noise: KeypointNoise,
                    gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The external skeleton's input: real detections when the table has them, else simulated."""
    if "detections" in batch:
        det = batch["detections"]
        return det[..., :2], det[..., 2]
    return simulate_detections(batch["keypoints"], noise, gen)


def targets(batch: dict[str, torch.Tensor], keypoints_set: str,
            skeleton_set: str | None = None) -> Targets:
    t = Targets(
        rotmat=axis_angle_to_matrix(batch["pose"]), betas=batch["betas"],
        has_params=batch["has_smpl"], joints3d=batch["joints3d"], has_3d=batch["has_3d"],
        joints3d_set="lsp14", keypoints2d=batch["keypoints"], keypoints2d_set=keypoints_set)
    if skeleton_set is not None and skeleton_set == keypoints_set:
        t.skeleton2d = batch["keypoints"]
    return t
