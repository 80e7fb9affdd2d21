"""The skeleton branch of DSD: where x_s, the 2D skeleton, comes from.

Two sources behind one interface (`SkeletonBranch.forward(fmap, keypoints, confidence)`):

* `LearnedSkeleton` — the paper (section 3.2, after Integral Human Pose Regression): three
  deconvolution layers on the backbone's last feature map, a 1x1 conv to K heatmaps, a softmax
  over each heatmap (the "normalised heatmaps" H) and the differentiable integral regression
  J_k = sum_p p H_k(p) (eq. 2, D = 1). x_s = the K joints flattened, in R^{2K}.
* `ExternalSkeleton` — the paper's "plug DSD into an existing 2D pose network": the detector's
  keypoints for this crop. Joints under the confidence threshold are masked: their coordinates
  are zeroed and their visibility input is 0, so nothing about them reaches the network.
  x_s = [K joints (2K), K visibilities] in R^{3K}: the extra K inputs tell the bilinear layer
  which joints are known (a zero coordinate alone would read as "at the crop centre").

All 2D coordinates are crop-normalised ([-1, 1], meshvid.geometry.camera). A heatmap cell's
coordinate is its centre: cell i of W maps to (2 i + 1) / W - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from meshvid.body import joints as J
from meshvid.errors import InputError
from meshvid.model.config import SkeletonConfig

JOINT_SETS: dict[str, tuple[str, ...]] = {"lsp14": J.LSP_14, "coco17": J.COCO_17,
                                          "smpl24": J.SMPL_24}


@dataclass
class SkeletonOutput:
    x_s: torch.Tensor  # (B, D): the vector the fusion layer sees (D = 2K or 3K)
    joints2d: torch.Tensor  # (B, K, 2) crop-normalised
    visibility: torch.Tensor  # (B, K) in [0, 1]; 0 = masked
    heatmaps: torch.Tensor | None = None  # (B, K, h, w) normalised (learned source only)


def soft_argmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Integral regression: (B, K, h, w) logits -> (B, K, 2) crop-normalised (x, y), heatmaps."""
    b, k, h, w = logits.shape
    heat = logits.flatten(2).softmax(-1).view(b, k, h, w)
    xs = (2.0 * torch.arange(w, dtype=heat.dtype, device=heat.device) + 1.0) / w - 1.0
    ys = (2.0 * torch.arange(h, dtype=heat.dtype, device=heat.device) + 1.0) / h - 1.0
    x = (heat.sum(2) * xs).sum(-1)  # marginal over rows, then expectation over columns
    y = (heat.sum(3) * ys).sum(-1)
    return torch.stack([x, y], dim=-1), heat


class SkeletonBranch(nn.Module):
    num_joints: int
    out_dim: int
    joint_names: tuple[str, ...]
    needs_feature_map: bool

    def forward(self, fmap: torch.Tensor | None, keypoints: torch.Tensor | None = None,
                confidence: torch.Tensor | None = None) -> SkeletonOutput:
        raise NotImplementedError


class LearnedSkeleton(SkeletonBranch):
    needs_feature_map = True

    def __init__(self, in_channels: int, cfg: SkeletonConfig) -> None:
        super().__init__()
        self.joint_names = JOINT_SETS[cfg.joints]
        self.num_joints = len(self.joint_names)
        self.out_dim = 2 * self.num_joints
        if cfg.deconv_kernel not in (2, 3, 4):
            raise InputError("skeleton.deconv_kernel must be 2, 3 or 4")
        padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[cfg.deconv_kernel]
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(cfg.deconv_layers):  # each doubles the resolution (stride 32 -> 4)
            layers += [
                nn.ConvTranspose2d(channels, cfg.deconv_channels, cfg.deconv_kernel, stride=2,
                                   padding=padding, output_padding=output_padding, bias=False),
                nn.BatchNorm2d(cfg.deconv_channels),
                nn.ReLU(inplace=True),
            ]
            channels = cfg.deconv_channels
        self.deconv = nn.Sequential(*layers)
        self.to_heatmaps = nn.Conv2d(channels, self.num_joints, kernel_size=1)
        for m in self.deconv.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)  # as Simple Baselines / Integral
        # The heatmap layer keeps PyTorch's default (fan-in) init, not the 0.001 used for
        # MSE-heatmap training: with soft-argmax, near-zero logits give a flat softmax whose
        # coordinate gradient is ~1/(h*w), and the branch then sat on a long plateau
        # (measured: L_2DJ flat for ~200 steps in the overfit test; with this init it falls
        # from the first steps).

    def forward(self, fmap: torch.Tensor | None, keypoints: torch.Tensor | None = None,
                confidence: torch.Tensor | None = None) -> SkeletonOutput:
        if fmap is None or fmap.ndim != 4:
            raise InputError("the learned skeleton branch needs the backbone's feature map "
                             "(B, C, h, w), not pooled features")
        joints2d, heat = soft_argmax(self.to_heatmaps(self.deconv(fmap)))
        visibility = torch.ones(joints2d.shape[:2], dtype=joints2d.dtype, device=joints2d.device)
        return SkeletonOutput(joints2d.flatten(1), joints2d, visibility, heat)


class ExternalSkeleton(SkeletonBranch):
    needs_feature_map = False

    def __init__(self, cfg: SkeletonConfig) -> None:
        super().__init__()
        self.joint_names = JOINT_SETS[cfg.joints]
        self.num_joints = len(self.joint_names)
        self.out_dim = 3 * self.num_joints
        self.min_confidence = cfg.min_confidence

    def forward(self, fmap: torch.Tensor | None, keypoints: torch.Tensor | None = None,
                confidence: torch.Tensor | None = None) -> SkeletonOutput:
        if keypoints is None:
            raise InputError("the external skeleton branch needs the detector's keypoints")
        k = self.num_joints
        if keypoints.ndim != 3 or keypoints.shape[1:] != (k, 2):
            raise InputError(f"keypoints must be (B, {k}, 2) crop-normalised "
                             f"({'/'.join(self.joint_names[:3])}/... order); got "
                             f"{tuple(keypoints.shape)}")
        if confidence is None:
            confidence = torch.ones(keypoints.shape[:2], dtype=keypoints.dtype,
                                    device=keypoints.device)
        mask = confidence >= self.min_confidence
        # torch.where (not multiplication) so even NaN/inf coordinates of masked joints vanish.
        joints2d = torch.where(mask[..., None], keypoints, torch.zeros_like(keypoints))
        visibility = torch.where(mask, confidence, torch.zeros_like(confidence))
        x_s = torch.cat([joints2d.flatten(1), visibility], dim=1)
        return SkeletonOutput(x_s, joints2d, visibility, None)


def build_skeleton(cfg: SkeletonConfig, in_channels: int) -> SkeletonBranch:
    if cfg.source == "learned":
        return LearnedSkeleton(in_channels, cfg)
    return ExternalSkeleton(cfg)
