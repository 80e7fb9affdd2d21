"""Order recovery (section 3.3, "temporal shuffles and order recovery").

Conventions (owned here): a permutation `perm` (B, W) says which original frame sits in each
slot after shuffling: shuffled[:, i] = x[:, perm[:, i]]. The sorting module predicts, for every
slot i, scores over the W original positions; its target is a soft Gaussian-like label centred
on perm[:, i] (peak 1, width `sigma` frames), because adjacent frames are near-identical and
confusing them should cost less than confusing distant ones. Motions can be reversible, so the
loss is the smaller of the L2 losses against the forward and the backward (W - 1 - perm) orders.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def shuffle(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """(B, W, D) frames, (B, W) perm -> (B, W, D) with slot i holding frame perm[:, i]."""
    return x.gather(1, perm[..., None].expand(-1, -1, x.shape[-1]))


def unshuffle(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Inverse of `shuffle`: put every slot's frame back at its original index."""
    return shuffle(x, torch.argsort(perm, dim=1))


def random_permutations(batch: int, window: int, shuffle_prob: float = 1.0,
                        generator: torch.Generator | None = None,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """(B, W) permutations: uniformly random with probability `shuffle_prob`, else identity."""
    perm = torch.argsort(torch.rand(batch, window, generator=generator), dim=1)
    keep = torch.rand(batch, generator=generator) >= shuffle_prob
    perm[keep] = torch.arange(window)
    return perm.to(device) if device is not None else perm


def sorting_targets(perm: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, W) perm -> (B, W, W) soft labels: row i is a Gaussian over positions around perm[i]."""
    window = perm.shape[-1]
    pos = torch.arange(window, dtype=torch.float32, device=perm.device)
    return torch.exp(-((pos - perm[..., None].float()) ** 2) / (2.0 * sigma**2))


def sorting_loss(scores: torch.Tensor, perm: torch.Tensor, sigma: float,
                 reduce: bool = True) -> torch.Tensor:
    """L_s: L2 to the soft labels, the smaller of the forward- and backward-order losses."""
    window = perm.shape[-1]
    forward = ((scores - sorting_targets(perm, sigma)) ** 2).mean(dim=(1, 2))
    backward = ((scores - sorting_targets(window - 1 - perm, sigma)) ** 2).mean(dim=(1, 2))
    loss = torch.minimum(forward, backward)
    return loss.mean() if reduce else loss


def decode_order(scores: torch.Tensor) -> torch.Tensor:
    """(B, W, W) scores -> (B, W) predicted original index of every slot, as a permutation
    (the assignment of slots to positions with the highest total score, Hungarian method)."""
    from scipy.optimize import linear_sum_assignment

    out = np.empty(scores.shape[:2], dtype=np.int64)
    for b, s in enumerate(scores.detach().cpu().float().numpy()):
        rows, cols = linear_sum_assignment(-s)
        out[b, rows] = cols
    return torch.from_numpy(out).to(scores.device)


class SortingModule(nn.Module):
    """3 convolution blocks over the (shuffled) window, then 3 FC layers -> (B, W, W) scores."""

    def __init__(self, dim: int, window: int, channels: int = 256, hidden: int = 512) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c = dim
        for _ in range(3):
            blocks += [nn.Conv1d(c, channels, kernel_size=3, padding=1, bias=False),
                       nn.BatchNorm1d(channels), nn.ReLU(inplace=True)]
            c = channels
        self.conv = nn.Sequential(*blocks)
        self.window = window
        self.fc = nn.Sequential(
            nn.Linear(channels * window, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, window * window),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, D) self-attention outputs in shuffled order -> (B, W, W) scores."""
        h = self.conv(x.transpose(1, 2)).flatten(1)
        return self.fc(h).view(-1, self.window, self.window)
