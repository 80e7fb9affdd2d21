"""Evaluation metrics as the paper uses them (sec. 4.1), in millimetres.

All functions take metres and return millimetres (MPJPE, PA-MPJPE, PVE), millimetres per
second (MPJVE) and millimetres per second squared (MPJAE).

* MPJPE: mean Euclidean joint error after aligning the roots (the pelvis for SMPL_24; the
  mid-hip for LSP_14, whose set has no pelvis), the standard protocol the paper follows.
* PA-MPJPE: MPJPE after a per-frame similarity (Procrustes) alignment.
* PVE: mean vertex error after root alignment.
* MPJVE / MPJAE: mean Euclidean error of joint velocities / accelerations computed by finite
  differences of the root-aligned joints, scaled by the frame rate so the units are physical.
  The paper reports them in "mm/s" and "mm/s^2" with magnitudes (~10) that match per-frame
  differences at 10 fps only if unscaled; we report physical units and also give per-frame
  values (`*_per_frame`) so both readings are available.
"""

from __future__ import annotations

import torch

from meshvid.body.joints import LSP_14, SMPL_24
from meshvid.geometry.procrustes import procrustes_align

_MM = 1000.0


def root_of(joints: torch.Tensor, layout: str = "smpl24") -> torch.Tensor:
    """(..., N, 3) -> (..., 1, 3) root position for root alignment."""
    if layout == "smpl24":
        return joints[..., SMPL_24.index("pelvis"): SMPL_24.index("pelvis") + 1, :]
    if layout == "lsp14":
        hips = [LSP_14.index("left_hip"), LSP_14.index("right_hip")]
        return joints[..., hips, :].mean(dim=-2, keepdim=True)
    raise ValueError(f"unknown joint layout {layout!r} (use 'smpl24' or 'lsp14')")


def _as_tensor(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def mpjpe(pred, target, layout: str = "smpl24") -> torch.Tensor:
    """Per-frame MPJPE in mm: pred, target (B, N, 3) metres -> (B,)."""
    pred, target = _as_tensor(pred), _as_tensor(target)
    p = pred - root_of(pred, layout)
    t = target - root_of(target, layout)
    return (p - t).norm(dim=-1).mean(dim=-1) * _MM


def pa_mpjpe(pred, target) -> torch.Tensor:
    """Per-frame Procrustes-aligned MPJPE in mm: (B, N, 3) metres -> (B,)."""
    pred, target = _as_tensor(pred), _as_tensor(target)
    aligned = procrustes_align(pred, target)
    return (aligned - target).norm(dim=-1).mean(dim=-1) * _MM


def pve(pred_vertices, target_vertices, pred_joints=None, target_joints=None) -> torch.Tensor:
    """Per-frame vertex error in mm after root alignment.

    The roots are the pelvis joints when joints are given, else the vertex centroids.
    """
    pv, tv = _as_tensor(pred_vertices), _as_tensor(target_vertices)
    if pred_joints is not None and target_joints is not None:
        pr = root_of(_as_tensor(pred_joints))
        tr = root_of(_as_tensor(target_joints))
    else:
        pr, tr = pv.mean(dim=-2, keepdim=True), tv.mean(dim=-2, keepdim=True)
    return ((pv - pr) - (tv - tr)).norm(dim=-1).mean(dim=-1) * _MM


def _finite_difference(x: torch.Tensor, order: int) -> torch.Tensor:
    for _ in range(order):
        x = x[1:] - x[:-1]
    return x


def _motion_error(pred, target, fps: float, order: int, layout: str) -> torch.Tensor:
    pred, target = _as_tensor(pred), _as_tensor(target)
    if pred.shape[0] <= order:
        raise ValueError(f"need more than {order} frames for a derivative of order {order}")
    p = pred - root_of(pred, layout)
    t = target - root_of(target, layout)
    diff = _finite_difference(p, order) - _finite_difference(t, order)
    return diff.norm(dim=-1).mean(dim=-1) * _MM * (fps**order)


def mpjve(pred, target, fps: float, layout: str = "smpl24") -> torch.Tensor:
    """Per-step velocity error in mm/s for a sequence (T, N, 3) metres -> (T-1,)."""
    return _motion_error(pred, target, fps, 1, layout)


def mpjae(pred, target, fps: float, layout: str = "smpl24") -> torch.Tensor:
    """Per-step acceleration error in mm/s^2 for a sequence (T, N, 3) metres -> (T-2,)."""
    return _motion_error(pred, target, fps, 2, layout)


def sequence_metrics(
    pred_joints, target_joints, fps: float, *, layout: str = "smpl24",
    pred_vertices=None, target_vertices=None,
) -> dict[str, float]:
    """All metrics for one sequence, as means over its frames."""
    out = {
        "mpjpe": float(mpjpe(pred_joints, target_joints, layout).mean()),
        "pa_mpjpe": float(pa_mpjpe(pred_joints, target_joints).mean()),
    }
    if pred_vertices is not None and target_vertices is not None:
        pj = pred_joints if layout == "smpl24" else None
        tj = target_joints if layout == "smpl24" else None
        out["pve"] = float(pve(pred_vertices, target_vertices, pj, tj).mean())
    n = _as_tensor(pred_joints).shape[0]
    if n >= 2:
        out["mpjve"] = float(mpjve(pred_joints, target_joints, fps, layout).mean())
        out["mpjve_per_frame"] = out["mpjve"] / fps
    if n >= 3:
        out["mpjae"] = float(mpjae(pred_joints, target_joints, fps, layout).mean())
        out["mpjae_per_frame"] = out["mpjae"] / fps**2
    return out
