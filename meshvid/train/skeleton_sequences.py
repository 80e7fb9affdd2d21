"""Skeleton-only SEQUENCES for SATN: labelled motion windows that are never rendered, with
detector keypoints whose errors are correlated in time as YOLO11n-pose's are.

Why: SATN learns what a window of DSD features adds to its centre frame. 400 rendered
16-frame sequences were too few for that (docs/training.md), and rendering is what this CPU
cannot do at scale. A sequence here is made exactly as `meshvid synth --kind sequences` makes
one (`SampleMaker.sequence_labels`: the same motion windows of the training library, bodies,
static / panning / travelling cameras and per-frame crop boxes, sampled at the SATN training
rate), without the image. Its keypoints are the projected COCO-17 labels plus detector errors:

* per joint, the error is drawn from the measured single-frame model
  (meshvid.perception.noise_model: bootstrap banks of (dx, dy, confidence) per joint and
  visibility class), made temporal by two parts: a persistent offset per sequence and joint
  (fraction `persistent` of the variance) and a per-frame part that keeps the previous frame's
  bank draw with probability `stick` (its lag-L autocorrelation is stick^L), so
  corr(L) = persistent + (1 - persistent) * stick^L, fitted to the detector's measured
  autocorrelation on the rendered training sequences (`measure_temporal`);
* whole-body misses and left/right swaps are two-state Markov chains per sequence with the
  measured rates and frame-to-frame persistence.

The DSD feature of such a row needs an image for its detail branch x_d. The shipped weights'
detail branch has collapsed to one active unit (docs/model.md), so the mean x_d (`mean_detail`)
is a faithful stand-in for the DSD head; but that unit scales the bilinear feature, and SATN
learns from the feature itself, so training borrows real renders' x_d trajectories instead
(`borrowed_detail`; docs/training.md, "Issue 15").

    maker = SampleMaker("train", render=False, motions=motions)
    seqs = make_sequences(maker, 100, length=32, fps=10.0, seed=0)
    kp, conf = TemporalNoise().sample(torch.from_numpy(seqs["keypoints"]), noise_model, gen)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from meshvid.body.joints import COCO_17_FLIP
from meshvid.perception.noise_model import CLASSES, KeypointNoiseModel, _swap_flags, visibility_class

LAGS = (1, 2, 4, 8)
CLIP_ERROR = 0.2  # crop units: errors above this are gross errors, left out of correlations


@dataclass
class TemporalNoise:
    """Temporal structure of the detector's errors (defaults: measured on the rendered training
    sequences at 10 fps, `python train/train_satn_seq.py --measure-noise`; docs/training.md)."""

    persistent: float = 0.17  # fraction of the error variance constant through a sequence
    stick: float = 0.54  # P(the per-frame part keeps its previous draw)
    miss_rate: float = 0.0208  # frames with no detection of the person
    miss_stay: float = 0.42  # P(miss | previous frame missed)
    swap_rate: float = 0.0339  # frames whose keypoints are the mirrored body
    swap_stay: float = 0.32  # P(swap | previous frame swapped)

    def lag_correlation(self, lag: int) -> float:
        """The model's error autocorrelation at `lag` frames."""
        return self.persistent + (1.0 - self.persistent) * self.stick ** lag

    @staticmethod
    def _chain(n: int, t: int, rate: float, stay: float, gen: torch.Generator) -> torch.Tensor:
        """(n, t) bool two-state Markov chains with stationary rate `rate`, P(on|on) = stay."""
        enter = rate * (1.0 - stay) / max(1.0 - rate, 1e-9)
        u = torch.rand(n, t, generator=gen)
        out = torch.zeros(n, t, dtype=torch.bool)
        out[:, 0] = u[:, 0] < rate
        for k in range(1, t):
            out[:, k] = torch.where(out[:, k - 1], u[:, k] < stay, u[:, k] < enter)
        return out

    def sample(self, gt: torch.Tensor, model: KeypointNoiseModel, gen: torch.Generator,
               scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Simulated detections for labelled sequences.

        Args:
            gt: (S, T, 17, 3) crop-normalised x, y and label visibility, frames in time order.
            model: the single-frame noise model (per-joint error banks).
            gen: every draw comes from it.
            scale: the drawn offsets times this (the banks were measured on untextured renders,
                which the detector reads about twice as badly as people: issue 24).
        Returns:
            keypoints (S, T, 17, 2) crop-normalised, confidence (S, T, 17).
        """
        s, t, k, _ = gt.shape
        src = gt.clone()
        swap = self._chain(s, t, self.swap_rate, self.swap_stay, gen)
        if swap.any():
            src[swap] = src[swap][:, list(COCO_17_FLIP)]
        cls_idx = torch.from_numpy(visibility_class(gt.numpy()))  # (S, T, K)
        # Per-frame bank positions u_t in [0, 1): a sticky chain per (sequence, joint).
        fresh = torch.rand(s, t, k, generator=gen)
        keep = torch.rand(s, t, k, generator=gen) < self.stick
        u = fresh.clone()
        for f in range(1, t):
            u[:, f] = torch.where(keep[:, f], u[:, f - 1], fresh[:, f])
        u_off = torch.rand(s, 1, k, generator=gen).expand(s, t, k)  # the persistent draw
        a, b = (1.0 - self.persistent) ** 0.5, self.persistent ** 0.5
        delta = torch.zeros(s, t, k, 2)
        conf = torch.zeros(s, t, k)
        for j in range(k):
            for c in range(len(CLASSES)):
                sel = cls_idx[..., j] == c
                bank = model.bank[j][c]
                if not bool(sel.any()) or len(bank) == 0:  # never observed: a missed joint
                    continue
                bank_t = torch.from_numpy(bank)
                n = len(bank_t)
                pick = (u[..., j][sel] * n).long().clamp_max(n - 1)
                off = (u_off[..., j][sel] * n).long().clamp_max(n - 1)
                delta[..., j, :][sel] = a * bank_t[pick, :2] + b * bank_t[off, :2]
                conf[..., j][sel] = bank_t[pick, 2]
        kp = src[..., :2] + scale * delta
        miss = self._chain(s, t, self.miss_rate, self.miss_stay, gen)
        kp[miss] = 0.0
        conf[miss] = 0.0
        return kp, conf


def measure_temporal(det: np.ndarray, gt: np.ndarray, sequences: list[np.ndarray],
                     min_conf: float = 0.3) -> dict[str, float]:
    """The detector's error statistics over time, on rendered sequences with exact labels.

    Args:
        det: (N, 17, 3) detector keypoints + confidence (crop-normalised; all-zero = a miss).
        gt: (N, 17, 3) labels + visibility.
        sequences: row indices of each sequence in frame order.
        min_conf: a joint's error counts where the detector's confidence reaches this.
    Returns:
        miss_rate, miss_stay, swap_rate, swap_stay, corr_<L> (lag-L autocorrelation of the
        per-joint error, x and y averaged, gross errors > CLIP_ERROR left out), pairs_<L>.
    """
    miss_all, swap_all = [], []
    pairs: dict[int, list[np.ndarray]] = {lag: [] for lag in LAGS}
    for rows in sequences:
        d, g = det[rows], gt[rows]
        miss = d[..., 2].max(-1) <= 0
        swap = np.zeros(len(rows), bool)
        if (~miss).any():
            swap[~miss] = _swap_flags(d[~miss], g[~miss])
        miss_all.append(miss)
        swap_all.append(swap)
        err = d[..., :2] - g[..., :2]
        ok = ((~miss & ~swap)[:, None] & (g[..., 2] > 0) & (d[..., 2] >= min_conf)
              & (np.linalg.norm(err, axis=-1) < CLIP_ERROR))
        for lag in LAGS:
            if len(rows) <= lag:
                continue
            both = ok[:-lag] & ok[lag:]
            pairs[lag].append(np.stack([err[:-lag][both], err[lag:][both]], 1))

    def stay(chains: list[np.ndarray]) -> float:
        on = sum(int(c[:-1].sum()) for c in chains)
        return sum(int((c[:-1] & c[1:]).sum()) for c in chains) / max(on, 1)

    out = {"miss_rate": float(np.concatenate(miss_all).mean()), "miss_stay": stay(miss_all),
           "swap_rate": float(np.concatenate(swap_all).mean()), "swap_stay": stay(swap_all)}
    for lag in LAGS:
        p = np.concatenate(pairs[lag]) if pairs[lag] else np.zeros((0, 2, 2))
        cx = np.corrcoef(p[:, 0, 0], p[:, 1, 0])[0, 1] if len(p) > 2 else float("nan")
        cy = np.corrcoef(p[:, 0, 1], p[:, 1, 1])[0, 1] if len(p) > 2 else float("nan")
        out[f"corr_{lag}"] = float(0.5 * (cx + cy))
        out[f"pairs_{lag}"] = int(len(p))
    return out


def fit_temporal(stats: dict[str, float]) -> TemporalNoise:
    """TemporalNoise whose lag correlations best fit the measured ones (grid search, least
    squares over LAGS) and whose miss/swap chains have the measured rates and persistence."""
    best, best_err = (0.0, 0.0), float("inf")
    for p in np.linspace(0.0, 0.9, 91):
        for q in np.linspace(0.0, 0.98, 99):
            err = sum((p + (1 - p) * q ** lag - stats[f"corr_{lag}"]) ** 2 for lag in LAGS)
            if err < best_err:
                best, best_err = (float(p), float(q)), err
    return TemporalNoise(persistent=round(best[0], 3), stick=round(best[1], 3),
                         miss_rate=round(stats["miss_rate"], 4), miss_stay=round(stats["miss_stay"], 3),
                         swap_rate=round(stats["swap_rate"], 4), swap_stay=round(stats["swap_stay"], 3))


def make_sequences(maker, n: int, length: int, fps: float, seed: int,
                   exclude_clips: tuple[str, ...] = (),
                   progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """n labelled sequences of `length` frames at `fps` from the maker's (training) library.

    Args:
        maker: a SampleMaker (render=False) of the split to draw from.
        exclude_clips: clip base names (e.g. "humanoid3d_walk") kept out (validation clips);
            removed from the maker's library for the duration of the call.
    Returns:
        keypoints (n, T, 17, 3) crop-normalised COCO-17 + visibility, joints3d (n, T, 14, 3)
        LSP-14 camera-space metres, pose (n, T, 24, 3) axis-angle (root in camera axes),
        cam (n, T, 3) weak-perspective labels, betas (n, 10), static (n,) 1 for a fixed camera,
        clip (n,) the library clip names drawn (object array).
    """
    lib = maker.library
    clips, names = lib.clips, lib.clip_names
    if exclude_clips:
        keep = [i for i, c in enumerate(clips) if Path(c.name).name not in exclude_clips]
        lib.clips = [clips[i] for i in keep]
    rng = np.random.default_rng(seed)
    out = {"keypoints": np.zeros((n, length, 17, 3), np.float32),
           "joints3d": np.zeros((n, length, 14, 3), np.float32),
           "pose": np.zeros((n, length, 24, 3), np.float32),
           "cam": np.zeros((n, length, 3), np.float32),
           "betas": np.zeros((n, 10), np.float32), "static": np.zeros(n, np.int8),
           "clip": np.empty(n, object)}
    try:
        for i in range(n):
            smp = maker.sequence_labels(rng, length, fps)
            f = smp.frame
            out["keypoints"][i, :, :, :2] = f["joints2d_coco17_norm"]
            out["keypoints"][i, :, :, 2] = f["vis_coco17"]
            out["joints3d"][i] = f["joints3d_lsp14"]
            out["pose"][i] = f["pose"]
            out["cam"][i] = f["cam"]
            out["betas"][i] = smp.person["betas"]
            out["static"][i] = smp.person["camera"] == "static"
            out["clip"][i] = lib.clips[smp.person["clip_id"]].name
            if progress and (i + 1) % 50 == 0:
                progress(i + 1, n)
    finally:
        lib.clips, lib.clip_names = clips, names
    return out


def sequence_table(seqs: dict[str, np.ndarray], fps: float, prefix: str,
                   groups: list[str]):
    """`make_sequences`' output (S sequences of T frames) -> a FrameTable of S*T rows, each
    sequence's frames consecutive and in order (SATN's training layout): every LSP-14 joint
    labelled, names `prefix`0.., `groups` the sequences' clip groups (validation splits)."""
    from meshvid.train.tables import FrameTable

    n, t = seqs["keypoints"].shape[:2]
    j3 = np.concatenate([seqs["joints3d"], np.ones((n, t, 14, 1), np.float32)], -1)
    return FrameTable(
        keypoints=torch.from_numpy(seqs["keypoints"]).reshape(n * t, 17, 3),
        joints3d=torch.from_numpy(j3).reshape(n * t, 14, 4),
        pose=torch.from_numpy(seqs["pose"]).reshape(n * t, 24, 3),
        betas=torch.from_numpy(seqs["betas"])[:, None].expand(n, t, 10).reshape(n * t, 10),
        has_3d=torch.ones(n * t), has_smpl=torch.ones(n * t),
        seq=torch.arange(n)[:, None].expand(n, t).reshape(-1),
        frame=torch.arange(t)[None].expand(n, t).reshape(-1),
        keypoints_set="coco17", seq_names=[f"{prefix}{i}" for i in range(n)],
        seq_fps=[float(fps)] * n, seq_groups=list(groups))


@torch.no_grad()
def mean_detail(dsd, features: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """The mean detail-branch output x_d over rendered crops' backbone features (N, C) ->
    (detail_dim,): the stand-in for an image in skeleton-only rows."""
    dsd.eval()
    total = None
    for start in range(0, len(features), batch):
        x = dsd.detail(features[start:start + batch].float()).sum(0)
        total = x if total is None else total + x
    return total / max(len(features), 1)


@torch.no_grad()
def skeleton_features(dsd, keypoints: torch.Tensor, confidence: torch.Tensor,
                      x_d: torch.Tensor) -> torch.Tensor:
    """DSD's per-frame feature y for skeleton-only rows: the skeleton branch on the keypoints
    fused with a fixed detail vector.

    Args:
        keypoints: (B, 17, 2) crop-normalised; confidence: (B, 17).
        x_d: (detail_dim,) one vector for all rows (e.g. `mean_detail`), or (B, detail_dim)
            per row (e.g. `borrowed_detail`).
    Returns:
        y (B, feature_dim).
    """
    dsd.eval()
    skel = dsd.skeleton(None, keypoints, confidence)
    if x_d.ndim == 1:
        x_d = x_d[None].expand(len(keypoints), -1)
    return dsd.fuse_branches(skel.x_s, x_d)


def borrowed_detail(detail: torch.Tensor, sequences: list[torch.Tensor], n: int, length: int,
                    gen: torch.Generator) -> torch.Tensor:
    """Detail vectors for n skeleton sequences of `length` frames, borrowed from rendered
    sequences: each takes one rendered sequence's x_d trajectory (chosen by `gen`), played
    forwards and backwards (ping-pong) to the length needed.

    Args:
        detail: (N, detail_dim) x_d of rendered frames.
        sequences: row indices of each rendered sequence (in frame order) to borrow from.
    Returns:
        (n, length, detail_dim).
    """
    pick = torch.randint(0, len(sequences), (n,), generator=gen)
    out = torch.empty(n, length, detail.shape[1])
    for i, k in enumerate(pick.tolist()):
        rows = sequences[k]
        cycle = torch.cat([rows, rows.flip(0)[1:-1]]) if len(rows) > 2 else rows
        out[i] = detail[cycle[torch.arange(length) % len(cycle)]]
    return out
