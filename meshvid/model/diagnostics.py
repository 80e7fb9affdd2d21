"""Is each DSD branch alive, and does the output depend on both? (issue 12)

The detail branch of the round-2 weights had collapsed (1 of 512 units ever active), which no
loss curve showed. These measures make such a collapse visible: training logs them every epoch
(log.csv, curves.png) and `scripts/dsd_diagnostics.py` prints them for any weights.

* activity: the fraction of x_d activations > 0, and of x_d units "alive" (> 0 on at least 1 %
  of the crops); for the skeleton branch, the fraction of x_s inputs that are non-zero (a masked
  joint's inputs are zero).
* dependence: how much y (the fused feature) moves when one branch's input is replaced by its
  mean over the batch, relative to how much y varies: 0 = the branch is ignored.
"""

from __future__ import annotations

import torch

from meshvid.model.dsd import DSDNet

ALIVE_MIN_FRACTION = 0.01  # a unit counts as alive if active on at least 1 % of crops


@torch.no_grad()
def branch_outputs(dsd: DSDNet, features: torch.Tensor, keypoints: torch.Tensor | None,
                   confidence: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(x_s (B, |x_s|) or None, x_d (B, detail_dim) or None) for pooled features (B, C)."""
    x_d = dsd.detail(features) if dsd.detail is not None else None
    x_s = None
    if dsd.skeleton is not None:
        x_s = dsd.skeleton(None if features.ndim == 2 else features, keypoints, confidence).x_s
    return x_s, x_d


@torch.no_grad()
def branch_stats(dsd: DSDNet, features: torch.Tensor, keypoints: torch.Tensor | None,
                 confidence: torch.Tensor | None) -> dict[str, float]:
    """Activity and dependence of both branches on one batch.

    Args:
        features: pooled backbone features (B, C); keypoints (B, K, 2), confidence (B, K).
    Returns:
        detail_active, detail_alive, skeleton_active, detail_dependence, skeleton_dependence
        (keys present only for the branches the variant has).
    """
    was_training = dsd.training
    dsd.eval()
    try:
        x_s, x_d = branch_outputs(dsd, features, keypoints, confidence)
        out: dict[str, float] = {}
        if x_d is not None:
            active = x_d > 0
            out["detail_active"] = float(active.float().mean())
            out["detail_alive"] = float((active.float().mean(0) >= ALIVE_MIN_FRACTION).float().mean())
        if x_s is not None:
            out["skeleton_active"] = float((x_s != 0).float().mean())
        y = dsd.fuse_branches(x_s, x_d)
        spread = (y - y.mean(0)).norm(dim=1).mean().clamp_min(1e-12)
        if x_d is not None and x_s is not None:
            y_no_d = dsd.fuse_branches(x_s, x_d.mean(0, keepdim=True).expand_as(x_d))
            y_no_s = dsd.fuse_branches(x_s.mean(0, keepdim=True).expand_as(x_s), x_d)
            out["detail_dependence"] = float((y - y_no_d).norm(dim=1).mean() / spread)
            out["skeleton_dependence"] = float((y - y_no_s).norm(dim=1).mean() / spread)
        return out
    finally:
        dsd.train(was_training)


@torch.no_grad()
def table_branch_stats(dsd: DSDNet, table, rows: torch.Tensor | None = None,
                       batch: int = 1024) -> dict[str, float]:
    """branch_stats over (a sample of) a FrameTable with cached features; the keypoints are the
    table's detector keypoints (or its labels when it has none)."""
    if rows is None:
        rows = torch.arange(len(table))
    if getattr(table, "has_image", None) is not None:  # rendered rows only: skeleton-only rows
        rows = rows[table.has_image[rows] > 0]          # have neither an image nor detections
    rows = rows[:batch]
    b = table.batch(rows)
    kp = conf = None
    if dsd.needs_keypoints:
        src = b.get("detections", b["keypoints"])
        kp, conf = src[..., :2], src[..., 2]
    return branch_stats(dsd, b["features"], kp, conf)


@torch.no_grad()
def knockout_pa_mpjpe(dsd: DSDNet, table, body=None, batch: int = 512) -> dict[str, float]:
    """PA-MPJPE (mm, LSP-14) on a table with every input, then with x_d and with x_s replaced
    by their mean over the table: what each branch is worth to the result."""
    from meshvid import metrics as M
    from meshvid.body import load_body_model
    from meshvid.geometry.rotations import axis_angle_to_matrix

    body = body or load_body_model("anny24")
    dsd.eval()
    xs_all, xd_all = [], []
    for start in range(0, len(table), batch):
        b = table.batch(torch.arange(start, min(start + batch, len(table))))
        kp = conf = None
        if dsd.needs_keypoints:
            src = b.get("detections", b["keypoints"])
            kp, conf = src[..., :2], src[..., 2]
        x_s, x_d = branch_outputs(dsd, b["features"], kp, conf)
        xs_all.append(x_s)
        xd_all.append(x_d)
    x_s = torch.cat(xs_all) if xs_all[0] is not None else None
    x_d = torch.cat(xd_all) if xd_all[0] is not None else None
    gt = body.forward_rotmat(axis_angle_to_matrix(table.pose), table.betas).lsp14

    def score(xs, xd) -> float:
        theta = dsd.head(dsd.fuse_branches(xs, xd))
        pred = body.forward_rotmat(theta.rotmat, theta.betas).lsp14
        return float(M.pa_mpjpe(pred, gt).mean())

    out = {"pa_mpjpe_mm": score(x_s, x_d)}
    if x_d is not None and x_s is not None:
        out["pa_mpjpe_mm_detail_at_mean"] = score(x_s, x_d.mean(0, keepdim=True).expand_as(x_d))
        out["pa_mpjpe_mm_skeleton_at_mean"] = score(x_s.mean(0, keepdim=True).expand_as(x_s), x_d)
    return out
