"""A full-perspective camera fitted to the detector's keypoints, and depth smoothed over time.

The network predicts a weak-perspective camera per crop (meshvid/geometry/camera.py). Turned
into a full-frame translation it puts the mesh roughly on the person, but its depth is only as
good as the network's scale estimate: on real clips the mesh lands beside or larger/smaller
than the person, and the depth jumps when the pose changes its apparent size (a tucked jump).

`fit_translation` solves, for every person-frame at once, the camera-space translation `t` that
makes the mesh's COCO-17 keypoints `P` (posed body, no translation) project onto the detector's
keypoints `x` under the frame's pinhole camera (focal f, principal point c):

    minimise  sum_k  w_k rho(|| f (P_k + t)_xy / (P_k + t)_z + c - x_k ||)  +  prior(t - t0)

The projection is linear in `t` once multiplied by the depth: for each keypoint
`f (P_x + t_x) - (u - c_x)(P_z + t_z) = 0` (same for y). Dividing each such row by the current
depth `P_z + t_z` makes its residual the reprojection error in pixels, so a few iteratively
reweighted least-squares steps (each a batched 3 x 3 solve) minimise the true pixel error, with
Cauchy weights `1 / (1 + (r / delta)^2)` (delta = 5 % of the box height) against wrong
keypoints. The weights are the detector's confidences (keypoints under `min_score` count 0).
The network's translation `t0` is the start, a weak prior (so a frame with two usable
keypoints stays put instead of sliding along the viewing ray) and the fallback: a frame with
fewer than `min_points` usable keypoints, or whose solution is not in front of the camera,
keeps `t0`.

No scale correction: under perspective a bigger body further away projects almost exactly like
a smaller one nearer (they differ only by the body's own depth relief), so a per-frame scale
would be fitted from noise. The body's size comes from its shape (betas) and the depth follows.

`smooth_depth` then smooths the root depth along each track (a person cannot move 1.8 m in
1/30 s): a running median against outliers, a Gaussian in time, and a speed limit, and moves
the root along its own viewing ray so the body stays where it is in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class CameraFit:
    transl: torch.Tensor  # (B, 3) fitted camera-space translation, metres
    fitted: torch.Tensor  # (B,) bool: True where the fit was used, False where t0 was kept
    residual_px: torch.Tensor  # (B,) confidence-weighted mean reprojection error, pixels
    num_points: torch.Tensor  # (B,) usable keypoints


def project(points: torch.Tensor, transl: torch.Tensor, focal: float,
            center: torch.Tensor) -> torch.Tensor:
    """(B, K, 3) points + (B, 3) translation -> (B, K, 2) pixels (pinhole, OpenCV axes)."""
    p = points + transl[:, None, :]
    return focal * p[..., :2] / p[..., 2:3].clamp(min=1e-3) + center


def fit_translation(points: torch.Tensor, keypoints: torch.Tensor, scores: torch.Tensor,
                    t0: torch.Tensor, focal: float, image_size: tuple[int, int], *,
                    box_height: torch.Tensor | None = None, min_score: float = 0.3,
                    min_points: int = 4, iterations: int = 8, robust: float = 0.05,
                    prior: float = 1e-3) -> CameraFit:
    """Per person-frame perspective translation from 3D-2D keypoint pairs (see module doc).

    Args:
        points: (B, K, 3) the mesh's keypoints in camera axes, without translation.
        keypoints: (B, K, 2) detector keypoints, frame pixels.
        scores: (B, K) detector confidences in [0, 1].
        t0: (B, 3) the network's translation: start, prior and fallback.
        focal: focal length, pixels; the principal point is the image centre.
        image_size: (width, height).
        box_height: (B,) person box height in pixels (robust scale); default: keypoint extent.
        min_score: keypoints below this confidence are ignored.
        min_points: fewer usable keypoints than this -> keep t0.
        iterations: IRLS steps.
        robust: Cauchy scale as a fraction of the box height.
        prior: weight of the pull towards t0, as a fraction of the keypoints' total weight.

    Returns:
        CameraFit with transl (B, 3), fitted (B,), residual_px (B,), num_points (B,).
    """
    dtype = torch.float64
    P = points.to(dtype)
    x = keypoints.to(dtype)
    t0 = t0.to(dtype)
    w = torch.where(scores.to(dtype) >= min_score, scores.to(dtype), torch.zeros((), dtype=dtype))
    w = torch.where(torch.isfinite(x).all(-1), w, torch.zeros((), dtype=dtype))
    x = torch.nan_to_num(x)
    b, k = w.shape
    center = torch.tensor([image_size[0] / 2.0, image_size[1] / 2.0], dtype=dtype)
    uv = x - center  # (B, K, 2) observed, relative to the principal point
    if box_height is None:
        valid = w > 0
        big = torch.finfo(dtype).max
        lo = torch.where(valid, x[..., 1], torch.full_like(x[..., 1], big)).amin(1)
        hi = torch.where(valid, x[..., 1], torch.full_like(x[..., 1], -big)).amax(1)
        box_height = (hi - lo).clamp(min=20.0)
    delta = (robust * box_height.to(dtype)).clamp(min=2.0)  # (B,) pixels
    n_points = (w > 0).sum(1)
    # Rows of A t = y, for x and y of every keypoint: (B, K, 2, 3) and (B, K, 2).
    A = torch.zeros(b, k, 2, 3, dtype=dtype)
    A[..., 0, 0] = focal
    A[..., 1, 1] = focal
    A[..., :, 2] = -uv
    y = uv * P[..., 2:3] - focal * P[..., :2]
    # prior rows: metres -> pixels at the start depth (lateral: f/z; depth: box height/z)
    z0 = t0[:, 2].clamp(min=0.1)
    prior_scale = torch.stack([focal / z0, focal / z0, box_height.to(dtype) / z0], -1)  # (B, 3)
    t = t0.clone()
    robust_w = torch.ones_like(w)
    for it in range(iterations):
        depth = (P[..., 2] + t[:, None, 2]).clamp(min=0.05)  # (B, K)
        row_w = w * robust_w / depth ** 2  # squared 1/depth: rows become pixel residuals
        M = torch.einsum("bk,bkri,bkrj->bij", row_w, A, A)
        v = torch.einsum("bk,bkri,bkr->bi", row_w, A, y)
        lam = prior * w.sum(1).clamp(min=1e-6)  # (B,)
        pw = lam[:, None] * prior_scale ** 2  # (B, 3): prior residuals in pixels too
        M = M + torch.diag_embed(pw)
        v = v + pw * t0
        t = torch.linalg.solve(M, v[..., None])[..., 0]
        r = (project(P, t, focal, center) - x).norm(dim=-1)  # (B, K) pixels
        # graduated: a wide kernel first (the start may be far off), the final one at the end
        anneal = max(1.0, 8.0 / 2 ** it)
        robust_w = 1.0 / (1.0 + (r / (anneal * delta[:, None])) ** 2)
    r = (project(P, t, focal, center) - x).norm(dim=-1)
    residual = (w * r).sum(1) / w.sum(1).clamp(min=1e-9)
    min_depth = (P[..., 2] + t[:, None, 2]).amin(1)
    ok = (n_points >= min_points) & torch.isfinite(t).all(1) & (min_depth > 0.1)
    t = torch.where(ok[:, None], t, t0)
    return CameraFit(transl=t.to(points.dtype), fitted=ok, residual_px=residual.to(points.dtype),
                     num_points=n_points)


def _segments(frame_ids: np.ndarray, max_gap: int) -> list[slice]:
    cuts = np.flatnonzero(np.diff(frame_ids) > max_gap) + 1
    edges = [0, *cuts.tolist(), len(frame_ids)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def smooth_depth(root: np.ndarray, times: np.ndarray, frame_ids: np.ndarray,
                 reliable: np.ndarray | None = None, *, median_s: float = 0.3,
                 sigma_s: float = 0.12, max_speed: float = 4.0, max_gap: int = 1,
                 image_median: bool = True
                 ) -> np.ndarray:
    """Smooth one track's root depth over time; move the root along its viewing ray.

    Args:
        root: (T, 3) camera-space root positions (joint 0 + translation), metres.
        times: (T,) seconds.
        frame_ids: (T,) frame indices; a jump of more than `max_gap` splits the track.
        reliable: (T,) bool, frames whose depth came from the keypoint fit; the others take the
            depth interpolated from their reliable neighbours (when a segment has any).
        median_s: running-median window (seconds) against single-frame outliers.
        sigma_s: Gaussian smoothing in time (seconds).
        max_speed: depth speed limit, metres per second.
        max_gap: see frame_ids.

    Returns:
        (T, 3) roots with the smoothed depth, each on the same pixel as before.
    """
    root = np.asarray(root, np.float64)
    times = np.asarray(times, np.float64)
    out = root.copy()
    reliable = np.ones(len(root), bool) if reliable is None else np.asarray(reliable, bool)
    for seg in _segments(np.asarray(frame_ids), max_gap):
        z = root[seg, 2].copy()
        t = times[seg]
        good = reliable[seg]
        if good.any() and not good.all():
            z = np.interp(t, t[good], z[good])
        n = len(z)
        if n > 2:
            zm = z.copy()
            for i in range(n):  # running median
                sel = np.abs(t - t[i]) <= median_s / 2
                zm[i] = np.median(z[sel])
            wts = np.exp(-0.5 * ((t[:, None] - t[None, :]) / sigma_s) ** 2)
            z = (wts @ zm) / wts.sum(1)
            if max_speed > 0:  # forward then backward pass: limit the speed, keep it centred
                for order in (range(1, n), range(n - 2, -1, -1)):
                    for i in order:
                        j = i - 1 if order.step == 1 else i + 1
                        lim = max_speed * abs(t[i] - t[j])
                        z[i] = np.clip(z[i], z[j] - lim, z[j] + lim)
        # the root's image position: a 3-sample running median removes single-frame glitches
        # (a keypoint swap moving the fit sideways) without lagging real motion
        ray = root[seg, :2] / np.clip(root[seg, 2:3], 1e-3, None)
        if n > 2 and image_median:
            ray_m = ray.copy()
            ray_m[1:-1] = np.median(np.stack([ray[:-2], ray[1:-1], ray[2:]]), axis=0)
            ray = ray_m
        out[seg] = np.concatenate([ray * z[:, None], z[:, None]], axis=1)
    return out
