"""A small, exactly labelled FrameTable built from the body model alone (no images): smooth
random motions seen by a weak-perspective camera, with "backbone features" that are a fixed
random linear function of the pose plus noise. It exercises every stage of the engine in
seconds (tests, `meshvid train --toy` smoke runs); it says nothing about accuracy."""

from __future__ import annotations

import math

import torch

from meshvid.geometry.camera import project_weak_perspective
from meshvid.train.tables import FrameTable


@torch.no_grad()
def toy_table(sequences: int = 4, frames: int = 24, singles: int = 32, feature_dim: int = 1280,
              keypoints_set: str = "coco17", seed: int = 0) -> FrameTable:
    from meshvid.body import load_body_model
    from meshvid.model.losses import root_align

    g = torch.Generator().manual_seed(seed)
    body = load_body_model("anny24")
    n = sequences * frames + singles
    t = torch.arange(frames, dtype=torch.float32)
    pose = torch.zeros(n, 24, 3)
    for s in range(sequences):  # smooth sinusoidal joint motions
        amp = torch.randn(24, 3, generator=g) * 0.25
        freq = 0.1 + 0.2 * torch.rand(24, 3, generator=g)
        phase = 2 * math.pi * torch.rand(24, 3, generator=g)
        pose[s * frames:(s + 1) * frames] = amp * torch.sin(freq * t[:, None, None] + phase)
    pose[sequences * frames:] = torch.randn(singles, 24, 3, generator=g) * 0.25
    pose[:, 0] += torch.tensor([math.pi, 0.0, 0.0])  # upright, facing the camera
    betas = torch.randn(n, 10, generator=g) * 0.5
    out = body(pose, betas)
    cam = torch.tensor([[0.9, 0.0, 0.2]]).expand(n, 3)
    kp_joints = out.coco17 if keypoints_set == "coco17" else out.lsp14
    kp = torch.cat([project_weak_perspective(kp_joints, cam), torch.ones(n, kp_joints.shape[1], 1)], -1)
    j3 = torch.cat([root_align(out.lsp14, "lsp14"), torch.ones(n, 14, 1)], -1)
    proj = torch.randn(72 + 10, feature_dim, generator=g) / math.sqrt(82)
    feats = torch.cat([pose.flatten(1), betas], 1) @ proj
    feats = (feats + 0.05 * torch.randn(feats.shape, generator=g)).to(torch.float16)
    seq = torch.full((n,), -1, dtype=torch.long)
    frame = torch.zeros(n, dtype=torch.long)
    for s in range(sequences):
        seq[s * frames:(s + 1) * frames] = s
        frame[s * frames:(s + 1) * frames] = torch.arange(frames)
    return FrameTable(keypoints=kp, joints3d=j3, pose=pose, betas=betas, has_3d=torch.ones(n),
                      has_smpl=torch.ones(n), seq=seq, frame=frame, features=feats,
                      keypoints_set=keypoints_set, seq_names=[f"toy{s}" for s in range(sequences)],
                      seq_fps=[30.0] * sequences, seq_groups=["toy"] * sequences)


TINY_MODEL = {
    "dsd": {"variant": "dsd", "backbone": {"name": "efficientnet_lite0", "frozen_stages": 8},
            "skeleton": {"source": "external", "joints": "coco17"},
            "detail_dim": 32, "feature_dim": 64},
    "satn": {"variant": "satn", "feature_dim": 64, "heads": 4, "ff_dim": 64, "tcn_channels": 32,
             "sort_channels": 16, "sort_hidden": 32},
    "discriminator": {"joint_channels": 8, "pose_hidden": 32},
}


def toy_recipe_dict() -> dict:
    """The recipe of `meshvid train --toy` without --config: the tiny model, one short epoch
    per stage, on the toy table (no data needed)."""
    import copy

    return {"name": "toy", "seed": 0, "threads": 1, "model": copy.deepcopy(TINY_MODEL),
            "data": {"synthetic": None},
            "dsd": {"epochs": 1, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
                    "cache_features": True},
            "satn": {"epochs": 1, "batch_size": 16, "optimizer": "adam", "lr": 1e-3}}
