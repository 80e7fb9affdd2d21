"""Benchmark the body model's forward pass (LBS) on CPU: time per call and peak memory.

    .venv/bin/python scripts/bench_body.py [--model anny24] [--threads 2] [--repeats 50]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshvid.body import load_body_model  # noqa: E402


def bench(fn, repeats: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="anny24")
    ap.add_argument("--smpl-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    body = load_body_model(args.model, smpl_dir=args.smpl_dir)
    print(f"model {body.name}: {body.num_vertices} vertices, {len(body.faces)} faces, torch threads {args.threads}")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import os

    from meshvid.body.lbs import lbs
    from meshvid.geometry.rotations import axis_angle_to_matrix

    print(f"load average (other work on the machine skews the medians): {os.getloadavg()[0]:.2f}")
    for batch in (1, 64):
        torch.manual_seed(0)
        pose, betas = torch.randn(batch, 24, 3) * 0.3, torch.randn(batch, 10)
        with torch.no_grad():
            rest_v, rest_j = body.rest_shape(betas)
            rot = axis_angle_to_matrix(pose)
            med, best = bench(lambda: lbs(rot, rest_v, rest_j, body.lbs_weights, body.parents), args.repeats)
            print(f"LBS only (FK + skinning),               batch {batch:3d}, no grad: median {med:7.2f} ms, best {best:7.2f} ms")
            med, best = bench(lambda: body(pose, betas), args.repeats)
        print(f"forward (shape + FK + LBS + keypoints), batch {batch:3d}, no grad: median {med:7.2f} ms, best {best:7.2f} ms")
        pose.requires_grad_()
        med_g, best_g = bench(lambda: body(pose, betas).vertices.sum().backward(), max(5, args.repeats // 5))
        print(f"forward + backward,                     batch {batch:3d}:          median {med_g:7.2f} ms, best {best_g:7.2f} ms")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB (after loading the model: {rss0:.0f} MB)")


if __name__ == "__main__":
    main()
