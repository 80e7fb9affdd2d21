"""Is each DSD branch alive, and does the output depend on both? (issue 12's diagnostics)

Prints, on the held-out synthetic crops (the real detector's keypoints when the set has them):
the fraction of x_d (detail) and x_s-side units that are ever / on average active, and
PA-MPJPE with each branch's input replaced by its data-set mean (a "knock-out"): a branch
whose knock-out changes nothing is dead.

    python scripts/dsd_diagnostics.py --weights weights/dsd_satn_cpu --data data/cpu
"""

from __future__ import annotations

import argparse
import json

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="weights/dsd_satn_cpu")
    ap.add_argument("--data", default="data/cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from meshvid.eval.data import synthetic_test_table
    from meshvid.model.diagnostics import knockout_pa_mpjpe, table_branch_stats
    from meshvid.paths import cache_dir
    from meshvid.train.export import load_model

    torch.set_num_threads(2)
    model = load_model(args.weights)
    table = synthetic_test_table(args.data, model.dsd, model.cfg.dsd.skeleton.joints,
                                 cache_dir() / "features")
    res = {"frames": len(table), **table_branch_stats(model.dsd, table, batch=len(table)),
           **knockout_pa_mpjpe(model.dsd, table)}
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")


if __name__ == "__main__":
    main()
