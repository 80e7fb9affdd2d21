"""How much can 9 frames of context add over one frame? A probe for issue 15's targets.

SATN refines DSD's features over a 9-frame window. Whether any temporal model can reach 5 %
lower PA-MPJPE than single-frame on the held-out renders is a property of the data as much as
of the network, so this probe takes the network out: two MLPs lifting YOLO11n-pose-like COCO-17
keypoints to root-relative LSP-14 joints, one fed the centre frame, one the 9 frames around it
(10 fps, edges replicated as SATN pads), trained on the same skeleton sequences (never rendered;
meshvid.train.skeleton_sequences, with the detector's temporal error model) for the same steps,
and scored on every held-out set with the detector's own keypoints on the renders. A
Savitzky-Golay filter of the single-frame joints (window 5, order 2, the tuned fixed filter of
issue 15) is scored too.

    python train/temporal_probe.py --sequences 2000 --out runs/temporal_probe.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from train.lift_probe import HELDOUT, fit_l1, lifter_input, make_lifter, root_relative

WINDOW = 9


def windows(x: torch.Tensor, half: int = WINDOW // 2) -> torch.Tensor:
    """(S, T, ...) per-frame inputs -> (S, T, 2*half+1, ...) windows, edges replicated."""
    t = x.shape[1]
    idx = (torch.arange(t)[:, None] + torch.arange(-half, half + 1)[None]).clamp(0, t - 1)
    return x[:, idx]


def encode(kp: torch.Tensor, conf: torch.Tensor, frames: int) -> torch.Tensor:
    """(S, T, 17, 2), (S, T, 17) -> (S*T, 51*frames) inputs for the centre frame or its window."""
    s, t = kp.shape[:2]
    per_frame = lifter_input(kp.reshape(-1, 17, 2), conf.reshape(-1, 17)).view(s, t, 51)
    if frames == 1:
        return per_frame.reshape(s * t, 51)
    return windows(per_frame).reshape(s * t, 51 * frames)


def heldout_sequences() -> dict:
    """{set: (detections (S, T, 17, 3), joints3d (S, T, 14, 3))} from the held-out renders."""
    from meshvid.train.synthetic import SyntheticItems

    out = {}
    for name, root in HELDOUT.items():
        if not (Path(root) / "heldout_seq").is_dir():
            continue
        ds = SyntheticItems(root, "heldout", 224, "coco17", max_crops=0)
        by_seq: dict[int, list] = {}
        for i in range(len(ds)):
            e = ds.index[i]
            lab = ds.labels_of(e)
            by_seq.setdefault(int(lab["seq"]), []).append((int(lab["frame"]), lab))
        det, j3d = [], []
        for rows in by_seq.values():
            rows.sort(key=lambda r: r[0])
            det.append(torch.stack([torch.as_tensor(r[1]["detections"]) for r in rows]).float())
            j3d.append(torch.stack([torch.as_tensor(r[1]["joints3d"]) for r in rows]).float())
        out[name] = (torch.stack(det), torch.stack(j3d))
    return out


def savgol_joints(pred: torch.Tensor, window: int = 5, order: int = 2) -> torch.Tensor:
    from scipy.signal import savgol_filter

    return torch.from_numpy(savgol_filter(pred.numpy(), window, order, axis=1, mode="nearest")).float()


def evaluate(nets: dict, sets: dict) -> dict:
    from meshvid import metrics as M

    res = {}
    with torch.no_grad():
        for name, (det, j3d) in sets.items():
            s, t = det.shape[:2]
            gt = root_relative(j3d.reshape(-1, 14, 4))
            row = {}
            for kind, net in nets.items():
                frames = 1 if kind == "single" else WINDOW
                pred = net(encode(det[..., :2], det[..., 2], frames)).view(s * t, 14, 3)
                row[kind] = round(float(M.pa_mpjpe(pred, gt).mean()), 1)
                if kind == "single":
                    smooth = savgol_joints(pred.view(s, t, 14, 3)).view(s * t, 14, 3)
                    row["single+savgol"] = round(float(M.pa_mpjpe(smooth, gt).mean()), 1)
            res[name] = row
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sequences", type=int, default=2000)
    ap.add_argument("--length", type=int, default=32)
    ap.add_argument("--draws", type=int, default=4, help="noise draws of every sequence")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", default="runs/_cache/temporal_probe")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    from meshvid.perception.noise_model import KeypointNoiseModel, default_path
    from meshvid.synth.generate import SampleMaker
    from meshvid.train.skeleton_sequences import TemporalNoise, make_sequences

    torch.set_num_threads(2)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    seq_path = cache / f"seq-{args.sequences}-{args.length}-{args.seed}.npz"
    t0 = time.time()
    if seq_path.is_file():
        seqs = dict(np.load(seq_path, allow_pickle=True))
    else:  # the training library (DeepMimic training clips + the anny walk), 10 fps
        seqs = make_sequences(SampleMaker("train", render=False), args.sequences, args.length, 10.0,
                              args.seed, progress=lambda i, n: print(f"sequences {i}/{n}", flush=True)
                              if i % 250 == 0 else None)
        np.savez(seq_path, **seqs)
    print(f"{args.sequences} sequences in {time.time() - t0:.0f}s", flush=True)
    gt_kp = torch.from_numpy(seqs["keypoints"])  # (S, T, 17, 3)
    target = root_relative(torch.from_numpy(seqs["joints3d"]).reshape(-1, 14, 3))
    # Temporal noise as calibrated on the rendered training sequences (docs/training.md, issue 15).
    noise = TemporalNoise(persistent=0.06, stick=0.50)
    model = KeypointNoiseModel.load(default_path())
    gen = torch.Generator().manual_seed(args.seed)
    draws = [noise.sample(gt_kp, model, gen) for _ in range(args.draws)]
    inputs = {kind: torch.stack([encode(kp, conf, f) for kp, conf in draws])
              for kind, f in (("single", 1), ("window", WINDOW))}  # (draws, S*T, D)
    y = target.reshape(-1, 42)
    sets = heldout_sequences()
    results = {}
    for kind, x in inputs.items():
        torch.manual_seed(args.seed)
        net = make_lifter(51 * (1 if kind == "single" else WINDOW))
        g = torch.Generator().manual_seed(args.seed)

        def next_batch(x=x, g=g):
            d = torch.randint(args.draws, (256,), generator=g)
            r = torch.randint(len(y), (256,), generator=g)
            return x[d, r], y[r]

        t1 = time.time()
        loss = fit_l1(net, next_batch, args.steps)
        net.eval()
        results[kind] = net
        print(f"{kind}: trained in {time.time() - t1:.0f}s, last loss {loss:.4f}", flush=True)
    res = {"sequences": args.sequences, "length": args.length, "draws": args.draws,
           "steps": args.steps, "window": WINDOW, "heldout_pa_mpjpe": evaluate(results, sets)}
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
