"""How much of a model's held-out PA-MPJPE comes from its betas: its single-frame rotations posed
with its own betas, with the true betas, and with zero betas.

    python scripts/pose_vs_betas.py runs/corpus_dm/dsd.safetensors weights/dsd_satn_cpu

Held-out DeepMimic renders (data/cpu), YOLO11n-pose's keypoints on them, LSP-14 joints.
"""

from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--data", default="data/cpu")
    args = ap.parse_args()

    import torch

    from meshvid import metrics
    from meshvid.body import load_body_model
    from meshvid.eval.data import synthetic_test_table
    from meshvid.paths import cache_dir
    from meshvid.train.export import load_model

    torch.set_num_threads(1)
    body = load_body_model("anny24")
    for w in args.weights:
        model = load_model(w).eval()
        table = synthetic_test_table(args.data, model.dsd, "coco17", cache_dir() / "features")
        det = table.detections
        with torch.no_grad():
            theta = model.dsd.forward_features(table.features.float(), det[..., :2], det[..., 2]).theta
            gt = table.joints3d[..., :3]
            res = {}
            for name, betas in (("own betas", theta.betas), ("true betas", table.betas),
                                ("zero betas", torch.zeros_like(theta.betas))):
                joints = body.forward_rotmat(theta.rotmat, betas).lsp14
                res[name] = float(metrics.pa_mpjpe(joints, gt).mean())
        print(w + ": " + ", ".join(f"{k} {v:.1f} mm" for k, v in res.items()))


if __name__ == "__main__":
    main()
