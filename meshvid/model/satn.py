"""SATN, the self-attention temporal network (section 3.3, implementation in 4.2).

A window of W = 9 per-frame DSD features (B, 9, 512) centred at frame t -> Θ_t:

    + sinusoidal positional encoding (by slot)            [variants tcn+sa, satn]
    -> 2 transformer encoder blocks (8 heads x 64, FF 2048) [variants tcn+sa, satn]
    -> TCN: 2 blocks, filter width 3, dilations 1 and 3, valid convolutions, so the 9 inputs
       shrink to 1 output: the receptive field is exactly 9 frames (Pavllo et al.'s block:
       dilated conv -> BN -> ReLU -> dropout -> 1x1 conv -> BN -> ReLU -> dropout, + residual)
    -> FC -> Θ_t (ThetaHead, residual from mean parameters).

Variant `satn` adds order recovery in training (see sorting.py): the window is shuffled before
the positional encoding (which stays in slot order, so it discloses nothing), self-attention runs
on the shuffled frames, the sorting module predicts every slot's original index, and the known
permutation is undone before the TCN, which therefore always sees frames in temporal order.

`forward_sequence` is the sliding mode: every frame of a tracklet in one batched pass, ends
padded by replicating the first/last frame. Attention is restricted to each frame's own 9-frame
window (the windows are unfolded and batched), so the result equals running every window
separately — the receptive field stays 9 frames — while being one big batched computation.
The `tcn` variant has no attention, so its sliding mode convolves the padded sequence directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from meshvid.model.config import SATNConfig
from meshvid.model.sorting import SortingModule, shuffle, unshuffle
from meshvid.model.theta import Theta, ThetaHead


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """Vaswani et al.'s fixed encoding: (length, dim), sin on even and cos on odd channels."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class TCNBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.trim = (kernel - 1) * dilation // 2
        self.body = nn.Sequential(
            nn.Conv1d(cin, cout, kernel, dilation=dilation, bias=False),
            nn.BatchNorm1d(cout), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv1d(cout, cout, 1, bias=False),
            nn.BatchNorm1d(cout), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv1d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, C', T - 2 * trim): valid convolution, residual from the centre."""
        residual = self.skip(x[..., self.trim:x.shape[-1] - self.trim])
        return residual + self.body(x)


class TCN(nn.Module):
    def __init__(self, cin: int, channels: int, blocks: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[
            TCNBlock(cin if i == 0 else channels, channels, kernel, kernel**i, dropout)
            for i in range(blocks)])
        self.receptive_field = 1 + sum((kernel - 1) * kernel**i for i in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, C', T - receptive_field + 1)."""
        return self.blocks(x)


@dataclass
class SATNOutput:
    theta: Theta  # Θ_t for the centre frame of every window, batch shape (B,)
    sort_scores: torch.Tensor | None = None  # (B, W, W) when a permutation was given
    permutation: torch.Tensor | None = None  # (B, W)


class SATN(nn.Module):
    def __init__(self, cfg: SATNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.window = cfg.window
        self.use_attention = cfg.variant in ("tcn+sa", "satn")
        if self.use_attention:
            self.register_buffer("pos_enc", sinusoidal_encoding(cfg.window, cfg.feature_dim),
                                 persistent=False)
            layer = nn.TransformerEncoderLayer(
                d_model=cfg.feature_dim, nhead=cfg.heads, dim_feedforward=cfg.ff_dim,
                dropout=cfg.attn_dropout, activation="relu", batch_first=True,
                norm_first=False)  # post-norm, as in Vaswani et al.
            self.attention: nn.Module | None = nn.TransformerEncoder(
                layer, cfg.layers, enable_nested_tensor=False)
        else:
            self.attention = None
        self.tcn = TCN(cfg.feature_dim, cfg.tcn_channels, cfg.tcn_blocks, cfg.tcn_kernel,
                       cfg.tcn_dropout)
        if self.tcn.receptive_field != cfg.window:
            raise ValueError("TCN receptive field must equal the window")  # validated earlier
        self.refine: nn.Linear | None = None
        if cfg.residual:
            self.refine = nn.Linear(cfg.tcn_channels, cfg.feature_dim)
            nn.init.zeros_(self.refine.weight)
            nn.init.zeros_(self.refine.bias)
        if cfg.residual_base not in ("centre", "savgol"):
            raise ValueError(f"residual_base must be centre or savgol, not {cfg.residual_base!r}")
        kernel = torch.zeros(cfg.window)
        kernel[cfg.window // 2] = 1.0
        if cfg.residual_base == "savgol":
            from meshvid.smoothing import savgol_centre_kernel

            kernel = torch.from_numpy(savgol_centre_kernel(cfg.window, 2)).float()
        # (W,) weights over a window's features: the residual's base (a function of the config,
        # so not stored in checkpoints)
        self.register_buffer("base_kernel", kernel, persistent=False)
        self.head = ThetaHead(cfg.feature_dim if cfg.residual else cfg.tcn_channels,
                              cfg.head_hidden)
        # Inference in bfloat16 autocast (eval mode only; set by model.inference.optimize):
        # ~4x the float32 throughput on CPUs with AVX512-BF16, Θ within ~1e-2 (docs/model.md).
        self.bf16_inference = False
        self.sorter: SortingModule | None = None
        if cfg.variant == "satn":
            self.sorter = SortingModule(cfg.feature_dim, cfg.window, cfg.sort_channels,
                                        cfg.sort_hidden)

    def attend(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, W, D) -> (B, W, D): positional encoding by slot + self-attention."""
        if self.attention is None:
            return windows
        return self.attention(windows + self.pos_enc)

    def forward(self, windows: torch.Tensor, permutation: torch.Tensor | None = None
                ) -> SATNOutput:
        """windows: (B, W, D) features in temporal order. permutation: (B, W), training only
        (variant satn): shuffle before attention, predict the order, restore it for the TCN."""
        if windows.ndim != 3 or windows.shape[1] != self.window:
            raise ValueError(f"SATN expects (B, {self.window}, D) windows; got "
                             f"{tuple(windows.shape)}")
        scores = None
        with torch.autocast(windows.device.type, dtype=torch.bfloat16,
                            enabled=self.bf16_inference and not self.training):
            if permutation is not None:
                if self.sorter is None:
                    raise ValueError(
                        f"order recovery needs variant 'satn', not {self.cfg.variant!r}")
                attended = self.attend(shuffle(windows, permutation))
                scores = self.sorter(attended)
                attended = unshuffle(attended, permutation)
            else:
                attended = self.attend(windows)
            h = self.tcn(attended.transpose(1, 2)).squeeze(-1)
        # The head (tiny) always runs in float32: Θ's rotations go through Gram-Schmidt.
        h = self._refined(windows, h.float())
        return SATNOutput(self.head(h), scores, permutation)

    def _refined(self, windows: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The head's input: the TCN output, or (residual) the base — the centre frame's own
        feature, or the window's low-passed features — plus the refinement the window adds.
        windows (..., W, D) in temporal order, h (..., C)."""
        if self.refine is None:
            return h
        base = torch.einsum("...wd,w->...d", windows.float(), self.base_kernel)
        return base + self.refine(h)

    def forward_sequence(self, features: torch.Tensor, chunk: int = 512) -> Theta:
        """Sliding mode: (T, D) or (B, T, D) per-frame features -> Θ for every frame, shape (T,)
        or (B, T). Equal to `forward` on each replicate-padded 9-frame window."""
        squeeze = features.ndim == 2
        if squeeze:
            features = features[None]
        b, t, d = features.shape
        half = self.window // 2
        padded = torch.cat([features[:, :1].expand(b, half, d), features,
                            features[:, -1:].expand(b, half, d)], dim=1)
        if self.attention is None:
            # No attention: one convolution over the whole sequence is exactly the per-window
            # result, without recomputing the overlapping windows.
            with torch.autocast(features.device.type, dtype=torch.bfloat16,
                                enabled=self.bf16_inference and not self.training):
                h = self.tcn(padded.transpose(1, 2)).transpose(1, 2)  # (B, T, C)
            windows = padded.unfold(1, self.window, 1).transpose(-1, -2)  # (B, T, W, D)
            theta = self.head(self._refined(windows, h.float()))
        else:
            # (B, T, D, W) -> (B*T, W, D): every frame's own window, as one batch
            windows = padded.unfold(1, self.window, 1).permute(0, 1, 3, 2)
            windows = windows.reshape(-1, self.window, d)
            parts = [self.forward(windows[i:i + chunk]).theta
                     for i in range(0, len(windows), chunk)]
            theta = Theta(torch.cat([p.pose_6d for p in parts]),
                          torch.cat([p.betas for p in parts]),
                          torch.cat([p.cam for p in parts])).reshape(b, t)
        return theta.reshape(t) if squeeze else theta
