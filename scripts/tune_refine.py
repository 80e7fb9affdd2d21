"""Choose the weights of `--refine` (meshvid/fitting/refine.py) on training-split sequences.

    python scripts/tune_refine.py [--data data/cpu] [--sequences 48] [--weights weights/dsd_satn_cpu]

Never on the held-out set: the rendered training sequences (data/cpu/train_seq, with the
detector's keypoints) stand in as validation. Prints one row per setting: PA-MPJPE, MPJPE and
MPJAE of DSD+SATN, and of DSD+SATN followed by the refinement.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/cpu")
    ap.add_argument("--weights", default="weights/dsd_satn_cpu")
    ap.add_argument("--sequences", type=int, default=48)
    ap.add_argument("--smooth", type=float, nargs="*", default=[2e-7, 2e-6, 2e-5])
    ap.add_argument("--init", type=float, nargs="*", default=[2e-2, 1e-1])
    ap.add_argument("--prior", type=float, nargs="*", default=[2e-3])
    args = ap.parse_args()

    from meshvid.body import load_body_model
    from meshvid.eval.evaluate import Method, evaluate
    from meshvid.fitting.refine import RefineOptions
    from meshvid.paths import cache_dir
    from meshvid.train.recipe import KeypointNoise
    from meshvid.train.export import load_model
    from meshvid.train.sources import encode_synthetic
    from meshvid.train.synthetic import SyntheticItems

    model = load_model(args.weights)
    ds = SyntheticItems(args.data, "train", model.cfg.dsd.backbone.image_size, "coco17",
                        max_sequences=args.sequences, max_crops=0)
    table = encode_synthetic(ds, model.dsd, cache_dir() / "features", None, label="validation")
    methods = [Method("DSD+SATN", model, True)]
    for w_s, w_i, w_p in itertools.product(args.smooth, args.init, args.prior):
        opts = replace(RefineOptions(), w_smooth=w_s, w_init=w_i, w_prior=w_p)
        methods.append(Method(f"refine smooth={w_s:g} init={w_i:g} prior={w_p:g}", model, True,
                              refine=True, refine_options=opts))
    res = evaluate(methods, table, KeypointNoise(kind="measured"), load_body_model("anny24"))
    print(f"{res.sequences} sequences, {res.frames} frames (training split, detector keypoints)")
    for name, r in res.overall.items():
        print(json.dumps({"method": name, **{k: round(v, 1) for k, v in r.items()}}))


if __name__ == "__main__":
    main()
