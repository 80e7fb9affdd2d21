"""Tune the fixed filters (Savitzky-Golay, One Euro) on DSD's single-frame output, on the SATN
VALIDATION sequences (whole training clips held out of SATN training; never the held-out set),
with YOLO11n-pose's keypoints on the renders as at inference.

    python train/tune_smoothers.py --config train/satn_seq.yaml --out runs/satn_seq/smoothers.json

Prints, per filter, the parameters with the lowest validation PA-MPJPE (ties: lower MPJAE) and
the `meshvid eval --smooth` flags that score them on the held-out set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshvid.model.checkpoint import atomic_write_bytes  # noqa: E402

SAVGOL = [{"window": w, "order": o} for w in (3, 5, 7, 9, 11, 13, 15) for o in (0, 1, 2, 3) if o < w]
ONEEURO = [{"min_cutoff": c, "beta": b} for c in (0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 2.0, 4.0)
           for b in (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)]


def spec(name: str, params: dict) -> str:
    return f"{name}:" + ",".join(f"{k}={v}" for k, v in params.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "train" / "satn_seq.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "satn_seq" / "smoothers.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from train_satn_seq import load_config, rendered_table

    from meshvid.body import load_body_model
    from meshvid.eval.evaluate import EVAL_SEED, Method, evaluate
    from meshvid.train.engine import validation_split
    from meshvid.train.export import load_model
    from meshvid.train.recipe import KeypointNoise

    recipe, seq = load_config(args.config, [])
    model = load_model(ROOT / seq["dsd_weights"])
    rend = rendered_table(seq["rendered"], model.dsd, ROOT / "runs" / "_cache" / "shards")
    _, val = validation_split(rend, recipe.satn.validation_fraction, recipe.seed)
    rows = torch.cat([rend.sequences()[i] for i in val])
    table = rend.subset(rows)
    body = load_body_model("anny24")
    methods = [Method("dsd", model, False)]
    methods += [Method(spec("savgol", p), model, False, "savgol", p) for p in SAVGOL]
    methods += [Method(spec("oneeuro", p), model, False, "oneeuro", p) for p in ONEEURO]
    res = evaluate(methods, table, KeypointNoise(kind="measured"), body, seed=EVAL_SEED)
    scores = {m: {k: round(v, 2) for k, v in r.items()} for m, r in res.overall.items()}
    best = {}
    for name in ("savgol", "oneeuro"):
        cands = [m for m in scores if m.startswith(name)]
        best[name] = min(cands, key=lambda m: (scores[m]["pa_mpjpe"], scores[m]["mpjae"]))
    out = {"validation_sequences": res.sequences, "frames": res.frames,
           "clips": sorted({rend.seq_groups[i] for i in val}), "best": best,
           "single_frame": scores["dsd"], "scores": scores}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, json.dumps(out, indent=1).encode())
    print(f"validation: {res.sequences} sequences, {res.frames} frames; single frame "
          f"{scores['dsd']}")
    for name, m in best.items():
        print(f"best {name}: {m} {scores[m]}")
    print("eval flags: " + " ".join(f"--smooth {m}" for m in best.values()))


if __name__ == "__main__":
    main()
