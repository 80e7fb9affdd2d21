"""Measure shipped weights on the accuracy regression set and write their bounds.

    python train/regression_bounds.py [--weights weights/dsd_satn_cpu] [--work DIR]

Runs meshvid.eval.regression (the function tests/test_regression.py runs) on the weights and on
their mean-pose copy, writes WEIGHTS/regression.json (measured values, bounds = measured x 1.05
+ 3 mm, the mean-pose numbers) and the model card's section that quotes it. Run it again after
re-shipping the weights (train/ship_cpu.py rewrites the card without the section).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--weights", default=str(ROOT / "weights" / "dsd_satn_cpu"))
    ap.add_argument("--work", default=None, help="folder for the rendered set (default: a temp dir)")
    args = ap.parse_args()

    from meshvid.eval import regression as R
    from meshvid.model.checkpoint import atomic_write_bytes
    from meshvid.train.export import load_model

    weights = Path(args.weights)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        t0 = time.perf_counter()
        root = R.make_regression_set(work / "set")
        model = load_model(weights)
        measured = R.regression_metrics(model, root, work / "cache")
        floor = R.regression_metrics(R.mean_pose_model(model), root, work / "cache")
        seconds = time.perf_counter() - t0
    doc = R.bounds_from(measured, floor)
    try:
        shown = weights.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        shown = weights.as_posix()
    doc["command"] = f"python train/regression_bounds.py --weights {shown}"
    for key, bound in doc["bounds"].items():  # the check must be able to fail
        for k, v in bound.items():
            if doc["mean_pose"][key][k] <= v:
                print(f"warning: the mean-pose model passes the {key} {k} bound "
                      f"({doc['mean_pose'][key][k]:.1f} <= {v:.1f} mm): these weights are no "
                      "better than their mean pose there", file=sys.stderr)
    atomic_write_bytes(weights / R.FILE_NAME, (json.dumps(doc, indent=1) + "\n").encode())
    card = weights / "MODEL_CARD.md"
    if card.is_file():
        R.write_card_section(card, doc)
    print(json.dumps({"measured": doc["measured"], "bounds": doc["bounds"],
                      "mean_pose": doc["mean_pose"], "seconds": round(seconds, 1)}, indent=1))


if __name__ == "__main__":
    main()
