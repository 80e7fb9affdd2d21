"""Export a trained single-frame DSD run into a weights folder (dsd.safetensors + config.yaml).

    python train/ship_dsd.py --run runs/corpus_cmu --out weights/dsd_satn_cpu

The folder's satn.safetensors (if any) is removed: a SATN is trained on one DSD's features and
means nothing on another's. Train the SATN for the new DSD next (train/satn_seq_repaired.yaml,
`python train/train_satn_seq.py ... --ship OUT`), then evaluate and write the card
(train/reproduce_cpu.sh, step 7).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="a DSD run folder (model.safetensors, summary.json)")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()

    from meshvid.model import load_checkpoint
    from meshvid.train.export import export_shipped

    run = Path(args.run)
    model = load_checkpoint(run / "model.safetensors")
    model.satn = None
    model.cfg.satn = None
    summary = json.loads((run / "summary.json").read_text())
    stale = args.out / "satn.safetensors"
    if stale.is_file():
        stale.unlink()
    sizes = export_shipped(model, args.out, metadata={"run": str(run), "recipe": summary.get("recipe"),
                                                      "dsd": summary.get("dsd")})
    for name, size in sizes.items():
        assert size < 50 * 2**20, f"{name} is {size / 2**20:.1f} MB"
    print(json.dumps({"out": str(args.out), "sizes_mb": {k: round(v / 1e6, 1) for k, v in sizes.items()}}))


if __name__ == "__main__":
    main()
