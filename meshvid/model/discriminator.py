"""The HMR-style discriminator behind the rationality loss L_r (section 3.4, after [15]).

It judges whether a body is plausible, from three views of Θ:
* per joint: each of the 23 body joints' rotation matrix (the root is excluded: the global
  orientation depends on the camera, not on plausibility) through a small 1x1 convolution
  shared by all joints (9 -> 32 -> 32), then one linear output per joint;
* whole pose: the 23 shared embeddings together -> FC 1024 -> FC 1024 -> 1;
* shape: betas -> FC 10 -> FC 5 -> 1.
So it outputs 23 + 1 + 1 = 25 logits. Training is least-squares GAN, as HMR: the regressor
minimises sum_k mean_b (D_k(fake) - 1)^2 and the discriminator minimises
sum_k mean_b [(D_k(real) - 1)^2 + D_k(fake)^2]. Real poses come from motion data.
"""

from __future__ import annotations

import torch
from torch import nn

from meshvid.body.joints import NUM_BETAS, NUM_JOINTS
from meshvid.model.config import DiscriminatorConfig

BODY_JOINTS = NUM_JOINTS - 1  # the root is not judged


class Discriminator(nn.Module):
    num_outputs = BODY_JOINTS + 2

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DiscriminatorConfig()
        c = cfg.joint_channels
        self.joint_embed = nn.Sequential(
            nn.Conv1d(9, c, 1), nn.ReLU(inplace=True), nn.Conv1d(c, c, 1), nn.ReLU(inplace=True))
        # One linear unit per joint, applied to that joint's shared embedding.
        self.joint_weight = nn.Parameter(torch.empty(BODY_JOINTS, c))
        self.joint_bias = nn.Parameter(torch.zeros(BODY_JOINTS))
        nn.init.uniform_(self.joint_weight, -1.0 / c**0.5, 1.0 / c**0.5)
        self.pose = nn.Sequential(
            nn.Linear(c * BODY_JOINTS, cfg.pose_hidden), nn.ReLU(inplace=True),
            nn.Linear(cfg.pose_hidden, cfg.pose_hidden), nn.ReLU(inplace=True),
            nn.Linear(cfg.pose_hidden, 1))
        h1, h2 = cfg.shape_hidden
        self.shape = nn.Sequential(
            nn.Linear(NUM_BETAS, h1), nn.ReLU(inplace=True), nn.Linear(h1, h2),
            nn.ReLU(inplace=True), nn.Linear(h2, 1))

    def forward(self, rotmat: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """rotmat (B, 24, 3, 3) (root ignored) or (B, 23, 3, 3); betas (B, 10) -> (B, 25)."""
        if rotmat.shape[1] == NUM_JOINTS:
            rotmat = rotmat[:, 1:]
        b = rotmat.shape[0]
        emb = self.joint_embed(rotmat.reshape(b, BODY_JOINTS, 9).transpose(1, 2))  # (B, c, 23)
        per_joint = (emb.transpose(1, 2) * self.joint_weight).sum(-1) + self.joint_bias
        whole = self.pose(emb.transpose(1, 2).reshape(b, -1))
        shape = self.shape(betas)
        return torch.cat([per_joint, whole, shape], dim=1)


def generator_adversarial_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """L_r for the regressor: sum over the 25 outputs of the batch mean of (D(fake) - 1)^2."""
    return ((fake_scores - 1.0) ** 2).mean(dim=0).sum()


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The discriminator's LSGAN loss (fake scores must come from detached predictions)."""
    return ((real_scores - 1.0) ** 2).mean(dim=0).sum() + (fake_scores**2).mean(dim=0).sum()
