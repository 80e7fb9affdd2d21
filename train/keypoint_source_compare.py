"""Issue 24: 2D error of two keypoint sources and their blends against a multiview reference.

For every detected (not interpolated) track row matched to a reference person (the evaluator's
matching, on the tracker's keypoints), the body-12 joints' pixel error over the person's height
(%, as `meshvid eval --dataset multiview` reports the detector's), mean | median per camera and
person, for: the tracker's keypoints (`yolo`), BlazePose's (`train/blazepose_tracks.py`; the
tracker's where it found nobody), their mean, 0.3/0.7 blends and a confidence-weighted mean.

    python train/keypoint_source_compare.py ../shared/realbench/lab4cam out/mv_base/infer/tracks out/bp
"""
import json, sys
from pathlib import Path
from types import SimpleNamespace
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from meshvid.eval.multiview.dataset import load_multiview
from meshvid.eval.multiview.matching import match_people, MAX_MATCH_DISTANCE
from meshvid.eval.multiview.score import reference_view

root, tdir, bdir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
data = load_multiview(root)
B12 = list(range(5, 17))
def combos(yk, ys, bk, bv):
    out = {"yolo": yk}
    b = np.where(np.isfinite(bk), bk, yk)
    out["blazepose"] = b
    out["mean"] = (yk + b) / 2
    for wb in (0.3, 0.7):
        out[f"w{wb}"] = (1 - wb) * yk + wb * b
    # confidence weighted
    w1 = np.clip(ys, 1e-3, 1)[..., None]; w2 = np.clip(np.where(np.isfinite(bk[..., 0]), bv, 0), 1e-3, 1)[..., None]
    out["confw"] = (w1 * yk + w2 * b) / (w1 + w2)
    return out
tot = {}
for name, cam in data.cameras.items():
    tj = json.load(open(next(tdir.glob(f"{name}-*.tracks.json"))))
    bp = np.load(bdir / f"{name}.npz")
    view = reference_view(data.references, cam)
    proxies = [SimpleNamespace(frame_ids=np.asarray(t["frame_ids"]), track_id=t["id"],
                               keypoints2d=np.asarray(t["keypoints"], np.float64)) for t in tj["tracks"]]
    matches = match_people(proxies, view.pixels, view.visible, view.in_image, view.heights, MAX_MATCH_DISTANCE)
    for pi, m in enumerate(matches):
        errs = {}
        for f in np.nonzero((m.track >= 0) & m.in_image)[0]:
            t = tj["tracks"][m.track[f]]; r = m.row[f]
            if t["interpolated"][r]:
                continue
            yk = np.asarray(t["keypoints"][r]); ys = np.asarray(t["keypoint_scores"][r])
            bk = bp[f"kp{t['id']}"][r].astype(np.float64); bv = bp[f"vis{t['id']}"][r]
            vis = view.visible[pi][f]
            g = view.pixels[pi][f]; h = view.heights[pi][f]
            for k, v in combos(yk, ys, bk, bv).items():
                d = np.linalg.norm(v - g, axis=-1)[B12][vis[B12]] / h * 100
                errs.setdefault(k, []).append(d)
        line = f"{name} p{pi}: " + ", ".join(f"{k} {np.mean(np.concatenate(v)):.2f}|{np.median(np.concatenate(v)):.2f}" for k, v in errs.items())
        print(line)
        for k, v in errs.items():
            tot.setdefault(k, []).append(np.mean(np.concatenate(v)))
print("mean over pairs: " + ", ".join(f"{k} {np.mean(v):.2f}" for k, v in tot.items()))
