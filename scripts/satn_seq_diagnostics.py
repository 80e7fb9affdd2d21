"""Where a SATN run of train/train_satn_seq.py gains and loses: validation PA-MPJPE (mm) of the
untrained start and of the last checkpoint on rendered training sequences, skeleton training
sequences and the validation clips, with the real detections (draw 0) and a simulated
temporal-noise draw (draw 1). docs/training.md ("Issue 15") quotes it.

    python scripts/satn_seq_diagnostics.py --config train/satn_seq_tcn.yaml [--run runs/satn_seq_tcn]
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--run", type=Path, default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(1)
    from safetensors.torch import load_file
    from train_satn_seq import build_training, load_config, make_model

    from meshvid.train.engine import validation_pa_mpjpe
    from meshvid.train.export import load_model
    from meshvid.train.run import _body

    recipe, seq = load_config(args.config, args.overrides)
    run = args.run or ROOT / "runs" / recipe.name
    dsd = load_model(ROOT / seq["dsd_weights"])
    table, feats, (train_ids, val_ids), info = build_training(recipe, seq, dsd, run)
    body = _body()
    seqs = table.sequences()
    nr = info["rendered_sequences"]
    groups = {"rendered train": [seqs[i] for i in train_ids if i < nr][:60],
              "skeleton train": [seqs[i] for i in train_ids if i >= nr][:100],
              "validation": [seqs[i] for i in val_ids]}
    start = make_model(recipe, dsd)
    trained = make_model(recipe, dsd)
    last = sorted(glob.glob(str(run / "stage3_satn" / "step-*[0-9].safetensors")))[-1]
    trained.load_state_dict({k: v for k, v in load_file(last).items() if k.startswith("satn.")},
                            strict=False)
    print(f"checkpoint: {last}")
    for label, m in (("start", start), ("trained", trained)):
        for name, rows in groups.items():
            errs = [validation_pa_mpjpe(m.satn, feats[d], table, rows, body) for d in (0, 1)]
            print(f"{label:8s} {name:15s} real/draw0 {errs[0]:.1f}  simulated/draw1 {errs[1]:.1f}")


if __name__ == "__main__":
    main()
