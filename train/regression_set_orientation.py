"""Issue 24: the root-orientation network on the synthetic regression set (meshvid/eval/
regression.py: 3 held-out DeepMimic clips x 16 frames, rendered, YOLO11n-pose keypoints), with
and without it, single-frame, SATN and SATN + the keypoint fit: the "no regression on the synthetic held-out sets" check.
`--shape-weight W ...` adds the same with the predicted shape shrunk towards the mean body;
`--body CKPT` (or a folder with body.safetensors) adds the articulation network.

    python train/regression_set_orientation.py --weights weights/dsd_satn_cpu --set runs/regression_set \
        --shape-weight 0 0.5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "dsd_satn_cpu")
    ap.add_argument("--set", type=Path, default=ROOT / "runs" / "regression_set")
    ap.add_argument("--shape-weight", type=float, nargs="*", default=[],
                    help="also score these shares of the predicted shape (infer --shape-weight)")
    ap.add_argument("--body", type=Path, default=None,
                    help="also score with this keypoints-only checkpoint as the articulation "
                    "network (default: the weights folder's body.safetensors, when it has one)")
    ap.add_argument("--trust", type=float, nargs=2, default=None,
                    help="the gate of regressor.gated_root, degrees (default its own)")
    a = ap.parse_args(argv)
    from meshvid.body import load_body_model
    from meshvid.eval.data import synthetic_test_table
    from meshvid.eval.evaluate import evaluate, methods_for
    from meshvid.eval.regression import make_regression_set
    from meshvid.eval.run import orientation_net
    from meshvid.train.export import load_model
    from meshvid.train.recipe import KeypointNoise

    if a.trust:
        import meshvid.pipeline.regressor as reg

        reg.gated_root.__defaults__ = (tuple(a.trust),)
    model, orient = load_model(a.weights), orientation_net(a.weights)
    if orient is None:
        raise SystemExit(f"{a.weights} has no orient.safetensors")
    make_regression_set(a.set)
    table = synthetic_test_table(a.set, model.dsd, "coco17", a.set / "_features")
    methods = (methods_for("main network", model, refine=True)
               + methods_for("+ orientation net", model, refine=True, orient=orient))
    from meshvid.eval.run import articulation_net

    body = load_model(a.body) if a.body else articulation_net(a.weights)
    if body is not None:
        methods += methods_for("+ orientation net + articulation net", model, refine=True,
                               orient=orient, body=body)
        for w in a.shape_weight:
            methods += methods_for(f"+ orientation net + articulation net, shape weight {w:g}",
                                   model, refine=True, orient=orient, body=body, shape_weight=w)
    for w in a.shape_weight:
        methods += methods_for(f"+ orientation net, shape weight {w:g}", model, refine=True,
                               orient=orient, shape_weight=w)
    res = evaluate(methods, table, KeypointNoise(), load_body_model("anny24"))
    out = {m.name: {k: round(float(res.overall[m.name][k]), 1) for k in ("mpjpe", "pa_mpjpe")}
           for m in methods}
    print(json.dumps({"frames": res.frames, "sequences": res.sequences, **out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
