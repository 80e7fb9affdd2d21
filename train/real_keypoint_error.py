"""Issue 24: the detector's keypoint error on real footage beside the noise model we train with.

Reads the tracking results `meshvid eval --dataset multiview` keeps (OUT/infer/tracks/<camera>-<key>
.tracks.json), matches tracks to the reference people as the scorer does, and measures
detector - reference projection per COCO-17 joint in the crop-normalised units the networks
see (the pipeline's square crop around each tracked box: [-1, 1] over the crop side). Prints,
per joint, the median and 90th percentile of the error on confident joints (conf >= 0.3) next
to the same figures of the measured noise model's "visible" bank (weights/keypoint_noise,
measured on untextured renders), and the ratio of medians: the `data.keypoint_noise.scale`
that would make training noise match this footage.

    python train/real_keypoint_error.py ../shared/realbench/lab4cam out/mv_shipped/infer/tracks

The reference is itself triangulated from YOLO11n-pose (1280 px): the error is the detector at
pipeline resolution against a multi-view average of the same detector, so a floor, not the
error against anatomy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(root: Path, tracks_dir: Path) -> dict:
    from meshvid.body.joints import COCO_17
    from meshvid.eval.multiview.dataset import load_multiview
    from meshvid.eval.multiview.reference_keypoints import with_reference_keypoints
    from meshvid.perception.crops import make_crops
    from meshvid.perception.noise_model import KeypointNoiseModel, default_path
    from meshvid.perception.tracks_io import load_tracks

    data = load_multiview(root)
    errs: list[np.ndarray] = []
    for name in data.videos:
        paths = sorted(tracks_dir.glob(f"{name}-*.tracks.json"))
        if not paths:
            continue
        _, tracks, _ = load_tracks(paths[0])
        exact = with_reference_keypoints(tracks, data.cameras[name], data.references)
        for t, e in zip(tracks, exact):
            det = make_crops(None, t.boxes, t.keypoints).keypoints_norm
            ref = make_crops(None, t.boxes, e.keypoints).keypoints_norm
            # matched rows: the hook set every confidence to exactly 0 or 1
            matched = np.isin(e.keypoint_scores, (0.0, 1.0)).all(1) & (e.keypoint_scores > 0).any(1)
            matched &= ~np.asarray(t.interpolated, bool)
            ok = matched[:, None] & (e.keypoint_scores > 0) & (np.asarray(t.keypoint_scores) >= 0.3)
            d = np.linalg.norm(det - ref, axis=-1)
            errs.append(np.where(ok, d, np.nan))
    err = np.concatenate(errs)
    model = KeypointNoiseModel.load(default_path())
    rows, ratios = {}, []
    for j, name in enumerate(COCO_17):
        bank = model.bank[j][0]
        bank = bank[bank[:, 2] >= 0.3]
        be = np.linalg.norm(bank[:, :2], axis=1)
        e = err[:, j][np.isfinite(err[:, j])]
        rows[name] = {"n": int(e.size), "real_median": float(np.median(e)),
                      "real_p90": float(np.percentile(e, 90)),
                      "model_median": float(np.median(be)), "model_p90": float(np.percentile(be, 90))}
        if j >= 5:
            ratios.append(rows[name]["real_median"] / rows[name]["model_median"])
    body = err[:, 5:]
    return {"joints": rows, "body_median_ratio": float(np.median(ratios)),
            "body_real_median": float(np.nanmedian(body)),
            "body_real_p90": float(np.nanpercentile(body, 90))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("tracks", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    out = measure(a.root, a.tracks)
    print(f"{'joint':16s} {'n':>6s} {'real med':>9s} {'real p90':>9s} {'model med':>10s} "
          f"{'model p90':>10s}")
    for name, r in out["joints"].items():
        print(f"{name:16s} {r['n']:6d} {r['real_median']:9.4f} {r['real_p90']:9.4f} "
              f"{r['model_median']:10.4f} {r['model_p90']:10.4f}")
    print(f"body joints: real median {out['body_real_median']:.4f}, p90 {out['body_real_p90']:.4f}; "
          f"median ratio real/model {out['body_median_ratio']:.2f}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
