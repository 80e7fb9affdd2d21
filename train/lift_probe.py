"""Measure a motion mix before paying for a DSD run: a keypoint-to-3D lifter on skeleton rows.

The skeleton side of the DSD learns from skeleton-only rows (meshvid.train.skeleton_samples), so
which motion corpora those rows come from, and in what shares, is the main data choice of issue
13. A DSD run costs ~10 minutes of this CPU; this probe trains a plain MLP (the detector's COCO-17
keypoints -> root-relative LSP-14 joints; keypoints drawn from the noise model measured on
YOLO11n-pose) on the same rows in ~2 minutes and scores it on every held-out set, fed the
detector's own keypoints on the held-out renders and, as a ceiling, the exact keypoints.

    python train/lift_probe.py --mix deepmimic=1,anny-walkcycle=0.1 --rows 65536
    python train/lift_probe.py --mix deepmimic=1,cmu=1,cmu8=1 --motions data/mocap/data/CMU \
        --motions data/mocap/cmu8 --out runs/probe_cmu.json

Held-out sets: data/cpu/heldout_seq (DeepMimic) and data/heldout/<corpus>/heldout_seq
(train/reproduce_cpu.sh makes them; `meshvid synth --only-motions --split heldout`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

HELDOUT = {"deepmimic": "data/cpu", "cmu": "data/heldout/cmu", "cmu8": "data/heldout/cmu8",
           "bandai": "data/heldout/bandai"}
MIN_CONF = 0.3


def parse_mix(text: str) -> dict[str, float] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        k, v = part.split("=")
        out[k.strip()] = float(v)
    return out


def lifter_input(kp: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Crop-normalised keypoints (B, 17, 2) + confidences (B, 17) -> (B, 51); joints under the
    confidence threshold are zeroed, as the DSD's skeleton branch does."""
    mask = conf >= MIN_CONF
    kp = torch.where(mask[..., None], kp, torch.zeros_like(kp))
    return torch.cat([kp.flatten(1), torch.where(mask, conf, torch.zeros_like(conf))], 1)


def root_relative(j: torch.Tensor) -> torch.Tensor:
    return j[..., :3] - j[:, 2:4, :3].mean(1, keepdim=True)  # LSP-14 hips are 2, 3


def make_lifter(inputs: int = 51) -> nn.Module:
    return nn.Sequential(nn.Linear(inputs, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 42))


def fit_l1(net: nn.Module, next_batch, steps: int, log_every: int = 0) -> float:
    """Adam 1e-3 on the L1 loss, 1e-4 for the last 20 % of the steps; `next_batch()` ->
    (inputs, targets). Returns the last batch's loss."""
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t0 = time.time()
    for step in range(steps):
        x, y = next_batch()
        loss = (net(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == int(steps * 0.8):
            for g in opt.param_groups:
                g["lr"] = 1e-4
        if log_every and step % log_every == 0:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    return loss.item()


def heldout_tables(model_path: str) -> dict:
    from meshvid.eval.data import synthetic_test_table
    from meshvid.paths import cache_dir
    from meshvid.train.export import load_model

    model = load_model(model_path)
    out = {}
    for name, root in HELDOUT.items():
        if (Path(root) / "heldout_seq").is_dir():
            out[name] = synthetic_test_table(root, model.dsd, "coco17", cache_dir() / "features")
    return out


def evaluate(net: nn.Module, tables: dict) -> dict:
    from meshvid import metrics as M

    res = {}
    with torch.no_grad():
        for name, te in tables.items():
            gt = root_relative(te.joints3d)
            det = te.detections
            p = net(lifter_input(det[..., :2], det[..., 2])).view(-1, 14, 3)
            vis = te.keypoints[..., 2]
            q = net(lifter_input(te.keypoints[..., :2], torch.where(vis > 0, 1.0, 0.0))).view(-1, 14, 3)
            res[name] = {"frames": len(gt),
                         "pa_mpjpe_detector": float(M.pa_mpjpe(p, gt).mean()),
                         "mpjpe_detector": float(M.mpjpe(p, gt, "lsp14").mean()),
                         "pa_mpjpe_exact": float(M.pa_mpjpe(q, gt).mean())}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mix", default="", help="corpus=share,... (empty: uniform over clips)")
    ap.add_argument("--motions", action="append", default=[], help="corpus folder (repeatable)")
    ap.add_argument("--rows", type=int, default=65536)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="weights/dsd_satn_cpu/dsd.safetensors",
                    help="only its frozen backbone is used (the held-out tables' cache)")
    ap.add_argument("--out", default="", help="write the result as JSON here")
    args = ap.parse_args()

    from meshvid.train.batch import model_keypoints
    from meshvid.train.recipe import KeypointNoise
    from meshvid.train.skeleton_samples import skeleton_table

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    mix = parse_mix(args.mix)
    t0 = time.time()
    table = skeleton_table(args.rows, args.seed, 224, Path("runs/_cache"),
                           motions=tuple(str(Path(m).resolve()) for m in args.motions),
                           corpus_mix=mix, workers=args.workers,
                           progress=lambda d, n: print(f"rows {d}/{n} {time.time() - t0:.0f}s", flush=True))
    t_rows = time.time() - t0
    tables = heldout_tables(args.model)
    net = make_lifter()
    gen = torch.Generator().manual_seed(args.seed)
    noise = KeypointNoise(kind="measured")
    n = len(table)

    def next_batch():
        b = table.batch(torch.randint(n, (256,), generator=gen))
        kp, conf = model_keypoints(b, noise, gen, 1.0)
        return lifter_input(kp, conf), root_relative(b["joints3d"]).flatten(1)

    t1 = time.time()
    fit_l1(net, next_batch, args.steps, log_every=1000)
    result = {"mix": mix, "motions": args.motions, "rows": n, "steps": args.steps,
              "seconds_rows": round(t_rows, 1), "seconds_train": round(time.time() - t1, 1),
              "heldout": evaluate(net, tables)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
