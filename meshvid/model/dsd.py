"""The single-frame DSD network (section 3.2): backbone -> skeleton branch x_s + detail branch
x_d -> bilinear fusion y = x_s A x_d^T -> FC -> Θ.

Variants (the paper's Table 2 ablation), chosen by DSDConfig.variant:
* `dsd`    — y = Bilinear(x_s, x_d), A in R^{512 x |x_s| x 512} (torch.nn.Bilinear, with bias);
* `concat` — y = ReLU(FC([x_s, x_d])): the same inputs, concatenated instead of bilinear;
* `direct` — no skeleton branch: y = x_d (HMR-style regression from the image feature).

The per-frame feature SATN consumes is y (512-D), `DSDOutput.feature`.

For training with a frozen backbone, `encode` returns the backbone feature map and
`forward_features` runs everything after it; with an external or no skeleton, pooled features
(B, C) are enough, so a cache can hold 1280 floats per crop instead of the full map.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from meshvid.errors import InputError
from meshvid.model.backbones import Backbone, build_backbone
from meshvid.model.config import DSDConfig
from meshvid.model.skeleton import SkeletonBranch, SkeletonOutput, build_skeleton
from meshvid.model.theta import Theta, ThetaHead


class Bilinear(nn.Bilinear):
    """torch.nn.Bilinear (same parameters, y_o = x_s^T A_o x_d + b_o) computed as one matrix
    product of the flattened outer product x_s ⊗ x_d with A viewed as (out, in1 * in2).

    torch's own kernel (aten::_trilinear) issues thousands of tiny batched products on CPU and
    made a training step ~10x slower; this form is a single GEMM of the same arithmetic.
    """

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        outer = (x1.unsqueeze(-1) * x2.unsqueeze(-2)).flatten(-2)
        return nn.functional.linear(outer, self.weight.flatten(1), self.bias)


@dataclass
class DSDOutput:
    theta: Theta
    feature: torch.Tensor  # (B, 512) y, the per-frame feature for SATN
    detail: torch.Tensor  # (B, 512) x_d
    skeleton: SkeletonOutput | None  # None for the `direct` variant


class DSDNet(nn.Module):
    def __init__(self, cfg: DSDConfig, load_backbone_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone: Backbone = build_backbone(cfg.backbone, load_weights=load_backbone_weights)
        channels = self.backbone.out_channels
        detail_dim = cfg.feature_dim if cfg.variant == "direct" else cfg.detail_dim
        self.detail = nn.Sequential(nn.Linear(channels, detail_dim), nn.ReLU(inplace=True))
        self.skeleton: SkeletonBranch | None = None
        if cfg.variant != "direct":
            self.skeleton = build_skeleton(cfg.skeleton, channels)
        if cfg.variant == "dsd":
            assert self.skeleton is not None
            self.fuse: nn.Module = Bilinear(self.skeleton.out_dim, detail_dim, cfg.feature_dim)
            # nn.Bilinear's default bound 1/sqrt(|x_s|) ignores the 512 detail inputs summed
            # over; scale by both fan-ins (x2 because crop coordinates are small, |x| < 1) so
            # y starts at unit-ish variance.
            std = 2.0 / (self.skeleton.out_dim * detail_dim) ** 0.5
            nn.init.normal_(self.fuse.weight, std=std)
            nn.init.zeros_(self.fuse.bias)
        elif cfg.variant == "concat":
            assert self.skeleton is not None
            self.fuse = nn.Sequential(
                nn.Linear(self.skeleton.out_dim + detail_dim, cfg.feature_dim),
                nn.ReLU(inplace=True))
        else:
            self.fuse = nn.Identity()
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = ThetaHead(cfg.feature_dim, cfg.head_hidden)
        # Backbone in bfloat16 autocast (eval mode only; set by model.inference.optimize):
        # ~2.5x the float32 crops/s on CPUs with AVX512-BF16 (docs/model.md).
        self.bf16_inference = False

    @property
    def needs_feature_map(self) -> bool:
        """True when the heads need the spatial feature map (learned skeleton), not pooled."""
        return self.skeleton is not None and self.skeleton.needs_feature_map

    @property
    def needs_keypoints(self) -> bool:
        return self.skeleton is not None and not self.skeleton.needs_feature_map

    def encode(self, images: torch.Tensor, pooled: bool | None = None) -> torch.Tensor:
        """RGB crops in [0, 1] (B, 3, H, W) -> backbone features: the map (B, C, h, w), or pooled
        (B, C) when `pooled` (default: pooled unless the learned skeleton needs the map)."""
        with torch.autocast(images.device.type, dtype=torch.bfloat16,
                            enabled=self.bf16_inference and not self.training):
            fmap = self.backbone(images)
        fmap = fmap.float()  # the heads always run in float32
        if pooled is None:
            pooled = not self.needs_feature_map
        return fmap.mean(dim=(2, 3)) if pooled else fmap

    def forward_features(self, features: torch.Tensor, keypoints: torch.Tensor | None = None,
                         confidence: torch.Tensor | None = None) -> DSDOutput:
        if features.ndim == 4:
            fmap: torch.Tensor | None = features
            pooled = features.mean(dim=(2, 3))
        elif features.ndim == 2:
            fmap, pooled = None, features
        else:
            raise InputError(f"backbone features must be (B, C, h, w) or (B, C); got "
                             f"{tuple(features.shape)}")
        x_d = self.detail(pooled)
        skel = None
        if self.skeleton is None:
            y = self.fuse(x_d)
        else:
            skel = self.skeleton(fmap, keypoints, confidence)
            if isinstance(self.fuse, Bilinear):
                y = self.fuse(skel.x_s, x_d)
            else:
                y = self.fuse(torch.cat([skel.x_s, x_d], dim=1))
        theta = self.head(self.dropout(y))
        return DSDOutput(theta=theta, feature=y, detail=x_d, skeleton=skel)

    def forward(self, images: torch.Tensor, keypoints: torch.Tensor | None = None,
                confidence: torch.Tensor | None = None) -> DSDOutput:
        """images: RGB crops in [0, 1], (B, 3, H, W). keypoints/confidence: (B, K, 2)/(B, K) in
        crop-normalised coordinates, for the external skeleton source."""
        return self.forward_features(self.encode(images, pooled=False), keypoints, confidence)
