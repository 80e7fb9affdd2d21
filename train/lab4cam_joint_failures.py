"""Issue 24: where one joint's large errors come from, per camera and person: the detector's 2D
or the lifting.

For a variant of a `meshvid eval --dataset multiview` run (its cached NPZs), matched with the
evaluator's own matching, it prints for the chosen COCO-17 joint: the mean error after a
per-frame Procrustes alignment (body-12 mesh keypoints, as PA-MPJPE), the share of frames where
that error is above --bad mm, and on all / those frames the detector's 2D error and the mesh's
overlay error (% of the person's height in the image, against the reference projected through
the calibrated camera) and the detector's confidence. A large 2D error on the bad frames means
one view's keypoint failed (and the fit followed it); a small one means the depth is wrong.
Last, how the detector's failures (2D error above 15 %) run in time: the longest runs of
consecutive frames, and the mean 2D error after a 5-frame temporal median of the keypoint
(whether a filter could remove them).

    python train/lab4cam_joint_failures.py ../shared/realbench/lab4cam out/mv_base "DSD+SATN+refine" --joint 10
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("out", type=Path, help="the eval's --out folder")
    ap.add_argument("variant", help='a variant name of its results.json, e.g. "DSD+SATN+refine"')
    ap.add_argument("--joint", type=int, default=10, help="COCO-17 index (10: right wrist)")
    ap.add_argument("--bad", type=float, default=150.0, help="mm after Procrustes")
    a = ap.parse_args(argv)
    from lab4cam_joint_bias import matched_pairs, procrustes_errors

    from meshvid.body.joints import COCO_17
    from meshvid.eval.multiview.score import overlay_points

    if not 5 <= a.joint <= 16:
        raise SystemExit("--joint must be a body joint (COCO-17 index 5-16)")
    j = a.joint
    print(f"{COCO_17[j]}, {a.variant}: PA error, frames > {a.bad:g} mm; detector 2D / mesh 2D "
          "(% of height) and confidence, all frames | bad frames")
    for name, _, pi, ref, result, view, m, got, ok in matched_pairs(a.root, a.out, a.variant):
        g = view.joints[pi][ok][:, 5:]
        p = got["keypoints3d"][ok][:, 5:]
        pa = 1000.0 * procrustes_errors(p - p[:, [6, 7]].mean(1, keepdims=True),
                                        g - g[:, [6, 7]].mean(1, keepdims=True))[:, j - 5]
        conf = np.full(len(ok), np.nan)
        for f in np.flatnonzero(m.matched):
            person = result.persons[int(m.track[f])]
            if person.keypoint_scores is not None:
                conf[f] = person.keypoint_scores[int(m.row[f]), j]
        conf = conf[ok]
        h = view.heights[pi][ok]
        ref2d = view.pixels[pi][ok][:, j]
        det = 100.0 * np.linalg.norm(got["keypoints2d"][ok][:, j] - ref2d, axis=-1) / h
        mesh = 100.0 * np.linalg.norm(overlay_points(got["keypoints3d"][ok], result)[:, j]
                                      - ref2d, axis=-1) / h
        bad = pa > a.bad

        def stat(x, sel, digits=1):
            return f"{np.nanmean(x[sel]):5.{digits}f}" if sel.any() else "    -"

        every = np.ones(len(pa), bool)
        kp = got["keypoints2d"][:, j]  # every frame, NaN where unmatched
        with warnings.catch_warnings():  # (windows with no matched frame stay NaN)
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.stack([np.nanmedian(kp[max(0, f - 2):f + 3], axis=0)
                               for f in range(len(kp))])[ok]
        det_median = 100.0 * np.linalg.norm(median - ref2d, axis=-1) / h
        runs = [len(r) for r in "".join("x" if f else "." for f in det > 15.0).split(".") if r]
        print(f"{name} {ref.name}: {np.nanmean(pa):5.0f} mm, {100 * bad.mean():3.0f} % bad; "
              f"detector {stat(det, every)} | {stat(det, bad)}, mesh {stat(mesh, every)} | "
              f"{stat(mesh, bad)}, confidence {stat(conf, every, 2)} | {stat(conf, bad, 2)}; "
              f"detector failures in runs of {sorted(runs, reverse=True)[:5]} frames, "
              f"5-frame median {stat(det_median, every)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
