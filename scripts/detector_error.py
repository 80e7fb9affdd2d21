"""How far the detector's keypoints on rendered crops are from the exact ones.

    python scripts/detector_error.py data/cpu/heldout_seq data/heldout/bandai/heldout_seq

For every shard with a `.det.npz` beside it (`meshvid synth detect`): over the visible COCO-17
joints, the median distance of the confident (> 0.3) detections from the labels as a fraction of
the crop side, the share of those further than 10 % of the crop, and the share of visible joints
the detector missed (confidence <= 0.3).
"""

from __future__ import annotations

import argparse
import glob

import numpy as np

MIN_CONF = 0.3


def detector_error(root: str) -> dict[str, float]:
    dist, missed, visible = [], 0, 0
    for shard in sorted(glob.glob(f"{root}/shard-*[0-9].npz")):
        with np.load(shard) as z, np.load(shard.replace(".npz", ".det.npz")) as d:
            gt = z["joints2d_coco17"].reshape(-1, 17, 2)
            vis = z["vis_coco17"].reshape(-1, 17) > 0
            side = float(z["crop_size"]) if "crop_size" in z.files else 224.0
            kp = d["keypoints_coco17_det"].reshape(-1, 17, 3)
        conf = kp[..., 2] > MIN_CONF
        dist.append(np.linalg.norm(kp[..., :2] - gt, axis=-1)[vis & conf] / side)
        missed += int((vis & ~conf).sum())
        visible += int(vis.sum())
    e = np.concatenate(dist)
    return {"median": float(np.median(e)), "over_10pct": float(np.mean(e > 0.1)),
            "missed": missed / max(visible, 1), "joints": int(visible)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", nargs="+", help="synthetic set folders (shards + .det.npz)")
    args = ap.parse_args()
    for root in args.roots:
        r = detector_error(root)
        print(f"{root}: median {r['median']:.3f} of the crop, {r['over_10pct']:.1%} over 10 %, "
              f"{r['missed']:.1%} of {r['joints']} visible joints missed")


if __name__ == "__main__":
    main()
