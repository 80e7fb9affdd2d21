"""The single-frame DSD network (section 3.2): backbone -> skeleton branch x_s + detail branch
x_d -> bilinear fusion y = x_s A x_d^T -> FC -> Θ.

Variants (the paper's Table 2 ablation, plus a skeleton-only control), by DSDConfig.variant:
* `dsd`      — y = bilinear(x_s, x_d): the full tensor A in R^{512 x |x_s| x 512}
               (`fusion_rank: 0`, torch.nn.Bilinear parameters) or its rank-r factorisation
               (`LowRankBilinear`); `fusion_affine` appends a constant 1 to both inputs;
* `concat`   — y = ReLU(FC([x_s, x_d])): the same inputs, concatenated instead of bilinear;
* `direct`   — no skeleton branch: y = x_d (HMR-style regression from the image feature);
* `skeleton` — no detail branch: y = FC(x_s), what the affine bilinear reduces to when x_d is
               absent. It measures what the image adds to the keypoints.

The per-frame feature SATN consumes is y (`DSDOutput.feature`).

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


class LowRankBilinear(nn.Module):
    """A bilinear layer whose tensor has rank <= r: y = P[(U x_s) ⊙ (V x_d)] + b, i.e.
    y_o = x_s^T A_o x_d + b_o with A_o = sum_k P_ok u_k v_k^T (low-rank bilinear pooling).

    Args:
        in1, in2: widths of x_s and x_d; out: width of y; rank: r.
    Shapes: x_s (B, in1), x_d (B, in2) -> y (B, out).

    The full tensor at 51 x 512 x 512 is 13.4 M parameters (27 MB in float16, most of the old
    shipped file); rank 512 keeps x_d and y 512-D in 0.55 M.
    """

    def __init__(self, in1: int, in2: int, out: int, rank: int) -> None:
        super().__init__()
        self.u = nn.Linear(in1, rank, bias=False)
        self.v = nn.Linear(in2, rank, bias=False)
        self.p = nn.Linear(rank, out)
        # Each factor starts at unit variance per rank component; with fusion_affine the
        # appended constant 1 gets weight 1 in both, so (1 + a)(1 + b) = 1 + a + b + ab: the two
        # linear paths exist from the first step instead of having to be learned.
        nn.init.normal_(self.u.weight, std=1.0 / in1 ** 0.5)
        nn.init.normal_(self.v.weight, std=1.0 / in2 ** 0.5)
        nn.init.normal_(self.p.weight, std=1.0 / (3.0 * rank) ** 0.5)
        nn.init.zeros_(self.p.bias)

    def set_constant_inputs(self) -> None:
        """The last input of each side is the constant 1 (fusion_affine): weight it 1."""
        with torch.no_grad():
            self.u.weight[:, -1] = 1.0
            self.v.weight[:, -1] = 1.0

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.p(self.u(x1) * self.v(x2))


def _with_one(x: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, D + 1), the constant 1 appended."""
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)


@dataclass
class DSDOutput:
    theta: Theta
    feature: torch.Tensor  # (B, feature_dim) y, the per-frame feature for SATN
    detail: torch.Tensor | None  # (B, detail_dim) x_d; None for the `skeleton` variant
    skeleton: SkeletonOutput | None  # None for the `direct` variant


class DSDNet(nn.Module):
    def __init__(self, cfg: DSDConfig, load_backbone_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone: Backbone = build_backbone(cfg.backbone, load_weights=load_backbone_weights)
        channels = self.backbone.out_channels
        detail_dim = cfg.feature_dim if cfg.variant == "direct" else cfg.detail_dim
        self.detail: nn.Module | None = None
        if cfg.variant != "skeleton":
            layers: list[nn.Module] = [nn.Linear(channels, detail_dim)]
            if cfg.detail_norm == "batch":
                layers.append(nn.BatchNorm1d(detail_dim))
            layers.append(nn.ReLU(inplace=True))
            self.detail = nn.Sequential(*layers)
        self.skeleton: SkeletonBranch | None = None
        if cfg.variant != "direct":
            self.skeleton = build_skeleton(cfg.skeleton, channels)
        self.affine = cfg.fusion_affine and cfg.variant == "dsd"
        if cfg.variant == "dsd":
            assert self.skeleton is not None
            in1 = self.skeleton.out_dim + int(self.affine)
            in2 = detail_dim + int(self.affine)
            if cfg.fusion_rank > 0:
                self.fuse: nn.Module = LowRankBilinear(in1, in2, cfg.feature_dim, cfg.fusion_rank)
                if self.affine:
                    self.fuse.set_constant_inputs()
            else:
                self.fuse = Bilinear(in1, in2, cfg.feature_dim)
                # nn.Bilinear's default bound 1/sqrt(|x_s|) ignores the detail inputs summed
                # over; scale by both fan-ins (x2 because crop coordinates are small, |x| < 1)
                # so y starts at unit-ish variance.
                nn.init.normal_(self.fuse.weight, std=2.0 / (in1 * in2) ** 0.5)
                nn.init.zeros_(self.fuse.bias)
        elif cfg.variant == "concat":
            assert self.skeleton is not None
            self.fuse = nn.Sequential(
                nn.Linear(self.skeleton.out_dim + detail_dim, cfg.feature_dim),
                nn.ReLU(inplace=True))
        elif cfg.variant == "skeleton":
            assert self.skeleton is not None
            self.fuse = nn.Linear(self.skeleton.out_dim, cfg.feature_dim)
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

    @property
    def uses_image(self) -> bool:
        """False for the skeleton-only variant: its output ignores the crop's pixels."""
        return self.detail is not None or self.needs_feature_map

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

    def fuse_branches(self, x_s: torch.Tensor | None, x_d: torch.Tensor | None) -> torch.Tensor:
        """The fusion layer alone: x_s (B, |x_s|), x_d (B, detail_dim) -> y (B, feature_dim).
        Public so diagnostics can feed it altered branch outputs."""
        if x_s is None:
            return self.fuse(x_d)
        if x_d is None:
            return self.fuse(x_s)
        if isinstance(self.fuse, (Bilinear, LowRankBilinear)):
            if self.affine:
                x_s, x_d = _with_one(x_s), _with_one(x_d)
            return self.fuse(x_s, x_d)
        return self.fuse(torch.cat([x_s, x_d], dim=1))

    def forward_features(self, features: torch.Tensor, keypoints: torch.Tensor | None = None,
                         confidence: torch.Tensor | None = None,
                         has_image: torch.Tensor | None = None) -> DSDOutput:
        """Everything after the backbone.

        Args:
            features: the backbone's map (B, C, h, w) or its pooled (B, C) form.
            keypoints, confidence: (B, K, 2) crop-normalised and (B, K), for the external
                skeleton source.
            has_image: optional (B,) 0/1; rows with 0 are skeleton-only training samples: their
                x_d is 0 (with the affine fusion only the skeleton's linear path remains) and
                they do not enter the detail branch's batch statistics.
        Returns:
            DSDOutput with Θ, y (B, feature_dim), x_d and the skeleton branch's output.
        """
        if features.ndim == 4:
            fmap: torch.Tensor | None = features
            pooled = features.mean(dim=(2, 3))
        elif features.ndim == 2:
            fmap, pooled = None, features
        else:
            raise InputError(f"backbone features must be (B, C, h, w) or (B, C); got "
                             f"{tuple(features.shape)}")
        x_d = None
        if self.detail is not None:
            if has_image is None or bool((has_image > 0).all()):
                x_d = self.detail(pooled)
            else:
                rows = (has_image > 0).nonzero().squeeze(1)
                x_d = pooled.new_zeros(len(pooled), self.cfg.detail_dim if self.cfg.variant != "direct"
                                       else self.cfg.feature_dim)
                if len(rows) > 1 or (len(rows) == 1 and not self.training):
                    x_d = x_d.index_put((rows,), self.detail(pooled[rows]))
        skel = None
        if self.skeleton is not None:
            skel = self.skeleton(fmap, keypoints, confidence)
        y = self.fuse_branches(skel.x_s if skel is not None else None, x_d)
        theta = self.head(self.dropout(y))
        return DSDOutput(theta=theta, feature=y, detail=x_d, skeleton=skel)

    def forward(self, images: torch.Tensor, keypoints: torch.Tensor | None = None,
                confidence: torch.Tensor | None = None) -> DSDOutput:
        """images: RGB crops in [0, 1], (B, 3, H, W). keypoints/confidence: (B, K, 2)/(B, K) in
        crop-normalised coordinates, for the external skeleton source."""
        return self.forward_features(self.encode(images, pooled=False), keypoints, confidence)
