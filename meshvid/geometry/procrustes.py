"""Similarity (Procrustes) alignment used by PA-MPJPE."""

from __future__ import annotations

import torch


def procrustes_align(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Align `source` (B, N, 3) onto `target` (B, N, 3) with the best scale, rotation and
    translation in the least-squares sense (Umeyama); returns the aligned source."""
    mu_s = source.mean(dim=1, keepdim=True)
    mu_t = target.mean(dim=1, keepdim=True)
    xs = source - mu_s
    xt = target - mu_t
    var_s = (xs**2).sum(dim=(1, 2))
    cov = xt.transpose(1, 2) @ xs  # (B, 3, 3)
    u, sing, vt = torch.linalg.svd(cov)
    # Reflection guard: flip the last axis when the best orthogonal map is a reflection.
    d = torch.sign(torch.linalg.det(u @ vt))
    sign = torch.ones_like(sing)
    sign[:, -1] = d
    rot = u @ torch.diag_embed(sign) @ vt
    scale = (sing * sign).sum(dim=1) / var_s.clamp(min=1e-12)
    return scale[:, None, None] * xs @ rot.transpose(1, 2) + mu_t
