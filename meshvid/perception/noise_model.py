"""A model of YOLO11n-pose's keypoint errors, measured on rendered frames with exact labels.

Training the skeleton branch on keypoints jittered by a Gaussian taught it the wrong noise: the
real detector is far more accurate on most joints, misses and mislabels some in patterns
(occluded and out-of-crop joints, left/right swaps of a whole body seen from behind) and its
confidence says how much to trust each. This module fits those patterns on `meshvid synth
detect` output of the *training* renders and draws new detections from them.

What is measured (crop-normalised units, [-1, 1] over the crop, so errors are relative to the
person's size as at inference, where crops are scale-normalised around the detected box):

* `miss_rate`: the fraction of crops where no detection matched the labelled person;
* `swap_rate`: the fraction of matched crops whose keypoints fit the left/right-swapped labels
  clearly better than the labels (the whole body mirrored);
* per joint and visibility class (visible / occluded / outside the crop): a bank of observed
  (dx, dy, confidence) triples from the matched, unswapped crops. Sampling bootstraps from the
  bank, so each joint's error distribution, its tails and its confidence calibration (how error
  grows as confidence falls) are reproduced as measured, not through a fitted parametric form.

Not modelled: correlation between joints of one detection beyond the whole-body swap (each joint
is drawn independently given its class), and any dependence on the person's pose.

    model = KeypointNoiseModel.load(default_path())
    kp, conf = model.sample(gt, torch.Generator().manual_seed(0))   # gt (B, 17, 3)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from meshvid.body.joints import COCO_17, COCO_17_FLIP
from meshvid.errors import InputError

CLASSES = ("visible", "occluded", "outside")
BANK_SIZE = 2000  # samples kept per joint and class (bootstrap bank)
SWAP_RATIO = 0.5  # swapped if the swapped labels fit with under half the error ...
SWAP_MIN_ERROR = 0.08  # ... and the unswapped error is clearly large (crop-normalised)
MATCH_MIN_CONF = 0.0  # a detection with box score 0 is a miss (synth/detect.py)


def default_path() -> Path:
    from meshvid.paths import weights_dir

    return weights_dir() / "keypoint_noise" / "yolo11n_pose.npz"


def visibility_class(gt: np.ndarray) -> np.ndarray:
    """gt (..., K, 3): x, y crop-normalised, label visibility -> class index (..., K):
    0 visible, 1 occluded (in the crop, label not visible), 2 outside the crop."""
    outside = (np.abs(gt[..., :2]) > 1.0).any(-1)
    return np.where(gt[..., 2] > 0, 0, np.where(outside, 2, 1)).astype(np.int64)


def _swap_flags(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """det (N, K, 3), gt (N, K, 3) -> (N,) True where the detection is the mirrored body."""
    flip = np.asarray(COCO_17_FLIP)
    paired = flip != np.arange(len(flip))
    w = (gt[:, paired, 2] > 0) & (det[:, paired, 2] > 0.3)
    e_plain = np.linalg.norm(det[:, paired, :2] - gt[:, paired, :2], axis=-1)
    e_swap = np.linalg.norm(det[:, paired, :2] - gt[:, flip][:, paired, :2], axis=-1)
    n = w.sum(1).clip(min=1)
    mp, ms = (e_plain * w).sum(1) / n, (e_swap * w).sum(1) / n
    return (w.sum(1) >= 4) & (mp > SWAP_MIN_ERROR) & (ms < SWAP_RATIO * mp)


@dataclass
class KeypointNoiseModel:
    miss_rate: float
    swap_rate: float
    # bank[k][c]: (n, 3) float32 of dx, dy, confidence for joint k, class c (n may be 0)
    bank: list[list[np.ndarray]]
    meta: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, det: np.ndarray, gt: np.ndarray, det_score: np.ndarray,
            seed: int = 0, meta: dict | None = None) -> "KeypointNoiseModel":
        """Measure the model.

        Args:
            det: (N, 17, 3) detector keypoints, crop-normalised x, y and confidence.
            gt: (N, 17, 3) labels, crop-normalised x, y and visibility.
            det_score: (N,) box score of the matched detection, 0 = no match (a miss).
        Returns:
            The fitted model; `meta` gains the counts it was fitted on.
        """
        if det.shape != gt.shape or det.shape[1:] != (len(COCO_17), 3):
            raise InputError(f"det and gt must both be (N, 17, 3); got {det.shape}, {gt.shape}")
        matched = det_score > MATCH_MIN_CONF
        swapped = _swap_flags(det[matched], gt[matched])
        keep_det, keep_gt = det[matched][~swapped], gt[matched][~swapped]
        cls_idx = visibility_class(keep_gt)
        rng = np.random.default_rng(seed)
        bank: list[list[np.ndarray]] = []
        for k in range(len(COCO_17)):
            row = []
            for c in range(len(CLASSES)):
                sel = cls_idx[:, k] == c
                trip = np.concatenate([keep_det[sel, k, :2] - keep_gt[sel, k, :2],
                                       keep_det[sel, k, 2:3]], axis=1).astype(np.float32)
                if len(trip) > BANK_SIZE:
                    trip = trip[rng.choice(len(trip), BANK_SIZE, replace=False)]
                row.append(trip)
            bank.append(row)
        info = {"crops": int(len(det)), "matched": int(matched.sum()),
                "swapped": int(swapped.sum()), **(meta or {})}
        return cls(float(1.0 - matched.mean()), float(swapped.mean()) if len(swapped) else 0.0,
                   bank, info)

    # ---------------------------------------------------------------- storage
    def save(self, path: Path) -> None:
        from meshvid.model.checkpoint import atomic_write_bytes

        arrays = {f"bank_{k}_{c}": self.bank[k][c] for k in range(len(COCO_17))
                  for c in range(len(CLASSES))}
        header = {"format": "meshvid-keypoint-noise/1", "joints": list(COCO_17),
                  "classes": list(CLASSES), "miss_rate": self.miss_rate,
                  "swap_rate": self.swap_rate, "meta": self.meta}
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, header=np.array(json.dumps(header)), **arrays)
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "KeypointNoiseModel":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"keypoint noise model not found: {path}; make it with "
                             "`python train/fit_keypoint_noise.py`")
        try:
            z = np.load(path, allow_pickle=False)
            header = json.loads(str(z["header"]))
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{path} is not a meshvid keypoint noise model ({err})") from None
        if header.get("format") != "meshvid-keypoint-noise/1":
            raise InputError(f"{path} is not a meshvid keypoint noise model")
        bank = [[z[f"bank_{k}_{c}"] for c in range(len(CLASSES))] for k in range(len(COCO_17))]
        return cls(float(header["miss_rate"]), float(header["swap_rate"]), bank,
                   header.get("meta", {}))

    # ---------------------------------------------------------------- sampling
    def sample(self, gt: torch.Tensor, gen: torch.Generator,
               scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Simulated detections for labels.

        Args:
            gt: (B, 17, 3) crop-normalised x, y and label visibility.
            gen: the generator all draws come from (reproducible).
            scale: the drawn offsets are multiplied by it (swaps, misses and confidences are
                drawn as measured); 1 reproduces the measured errors.
        Returns:
            keypoints (B, 17, 2) crop-normalised, confidence (B, 17) in [0, 1].
        """
        b, k, _ = gt.shape
        src = gt.clone()
        swap = torch.rand(b, generator=gen) < self.swap_rate
        if swap.any():
            src[swap] = src[swap][:, list(COCO_17_FLIP)]
        cls_idx = torch.from_numpy(visibility_class(gt.numpy()))
        delta = torch.zeros(b, k, 2)
        conf = torch.zeros(b, k)
        u = torch.rand(b, k, generator=gen)
        for j in range(k):
            for c in range(len(CLASSES)):
                sel = (cls_idx[:, j] == c).nonzero().squeeze(1)
                if len(sel) == 0:
                    continue
                bank = self.bank[j][c]
                if len(bank) == 0:  # never observed: a missed joint
                    continue
                pick = (u[sel, j] * len(bank)).long().clamp_max(len(bank) - 1)
                trip = torch.from_numpy(bank)[pick]
                delta[sel, j] = trip[:, :2]
                conf[sel, j] = trip[:, 2]
        kp = src[..., :2] + scale * delta
        miss = torch.rand(b, generator=gen) < self.miss_rate
        kp[miss] = 0.0
        conf[miss] = 0.0
        return kp, conf

    # ---------------------------------------------------------------- summaries
    def joint_stats(self, min_conf: float = 0.3) -> dict[str, dict[str, dict[str, float]]]:
        """Per joint and class: samples, rate of confidence >= min_conf, median and 90th
        percentile error of those (crop-normalised)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for j, name in enumerate(COCO_17):
            out[name] = {}
            for c, cname in enumerate(CLASSES):
                bank = self.bank[j][c]
                if len(bank) == 0:
                    continue
                kept = bank[bank[:, 2] >= min_conf]
                err = np.linalg.norm(kept[:, :2], axis=1)
                out[name][cname] = {
                    "n": int(len(bank)), "kept_rate": float(len(kept) / len(bank)),
                    "median_error": float(np.median(err)) if len(err) else float("nan"),
                    "p90_error": float(np.percentile(err, 90)) if len(err) else float("nan")}
        return out
