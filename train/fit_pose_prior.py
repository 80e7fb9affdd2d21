"""Fit the pose prior of `meshvid infer --refine` (weights/pose_prior/) on the any-use motion corpora.

    python train/fit_pose_prior.py [--motions data/mocap/data/CMU data/mocap/cmu8] [--out weights/pose_prior]

Training split only (the held-out rule of meshvid/synth/sources.py: no held-out clip is seen),
DeepMimic clips shipped in pybullet and the anny walk included, every clip at 30 fps and
mirrored. Bandai Namco (CC BY-NC) is never used here: the prior ships with the default weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshvid.fitting.pose_prior import PRIOR_FILE, fit_gaussian, pose_range, save_prior  # noqa: E402
from meshvid.motion.corpus import training_frames  # noqa: E402

CARD = """# Model card: pose_prior

A Gaussian over the body pose (joints 1-23 of SMPL_24, axis-angle, 69 numbers: mean and the
Cholesky factor of the precision) plus the range of every component in the captures (0.1th to
99.9th percentile; leaving it is penalised, so a knee cannot bend backwards), used by `meshvid infer --refine` (meshvid/fitting/refine.py)
to keep the fitted pose among poses people make. 20 kB, float32, `pose_prior.npz`.

## How it was made

    {command}

## Data

{frames:,} frames ({clips} clips, training split only, 30 fps, each clip also mirrored), retargeted to
anny24's skeleton by meshvid.motion (docs/motion.md):

{corpora}

Licences: CMU Graphics Lab Motion Capture Database (free for any use; the CMU 8-action subset is
derived from it), DeepMimic motions shipped with pybullet (MIT-licensed pybullet_data), the anny
walk cycle (made by this project). No Bandai Namco data (non-commercial) is used. The held-out
clips (DeepMimic dance_b, cartwheel, getup_faceup; CMU subject 03; cmu8 test/) are excluded.

## Numbers

- Variance floor ("shrink"): {shrink} rad² added to every variance.
- Energy (squared Mahalanobis distance / 69) on the training frames: median {e_med:.2f}, 95th
  percentile {e_p95:.2f}; on the held-out clips of the same corpora: median {h_med:.2f}, 95th
  percentile {h_p95:.2f}; on the zero pose (T-pose): {e_zero:.2f}; the same with the left knee
  bent 1.5 rad backwards: {e_knee:.2f}.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--motions", nargs="*", default=["data/mocap/data/CMU", "data/mocap/cmu8"])
    ap.add_argument("--out", default="weights/pose_prior")
    ap.add_argument("--shrink", type=float, default=1e-3)
    args = ap.parse_args()
    import torch

    from meshvid.fitting.pose_prior import load_prior

    paths = [p for p in args.motions if Path(p).exists()]
    train = training_frames(paths, "train", fps=30.0, mirror=True, builtin=True)
    held = training_frames(paths, "heldout", fps=30.0, mirror=False, builtin=True)
    mean, factor = fit_gaussian(train["pose"][:, 1:], args.shrink)
    out = Path(args.out)
    corpora = {}
    for c in train["corpus"][train["clip"]]:
        corpora[str(c)] = corpora.get(str(c), 0) + 1
    meta = {"frames": int(len(train["pose"])), "clips": int(len(train["clip_ids"])), "corpora": corpora,
            "motions": paths, "shrink": args.shrink}
    low, high = pose_range(train["pose"][:, 1:])
    save_prior(out / PRIOR_FILE, mean, factor, low, high, meta)
    prior = load_prior(out / PRIOR_FILE)
    e = prior.energy(torch.from_numpy(train["pose"]).float()).numpy()
    h = prior.energy(torch.from_numpy(held["pose"]).float()).numpy() if len(held["pose"]) else np.array([np.nan])
    e_zero = float(prior.energy(torch.zeros(1, 24, 3))[0])
    knee = torch.zeros(1, 24, 3)
    knee[0, 4, 0] = -1.5  # SMPL_24 joint 4: left_knee
    e_knee = float(prior.energy(knee)[0])
    command = "python train/fit_pose_prior.py --motions " + " ".join(args.motions) + f" --out {args.out}"
    text = CARD.format(command=command, frames=meta["frames"], clips=meta["clips"],
                       corpora="\n".join(f"- {k}: {v:,} frames" for k, v in sorted(corpora.items())),
                       shrink=args.shrink, e_med=float(np.median(e)), e_p95=float(np.percentile(e, 95)),
                       h_med=float(np.median(h)), h_p95=float(np.percentile(h, 95)), e_zero=e_zero, e_knee=e_knee)
    from meshvid.export.atomic import write_text_atomic

    write_text_atomic(out / "MODEL_CARD.md", text)
    print(json.dumps({**meta, "energy_train_median": float(np.median(e)), "energy_heldout_median": float(np.median(h)),
                      "energy_zero": e_zero}))


if __name__ == "__main__":
    main()
