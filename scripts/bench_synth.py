"""Benchmark synthetic data generation: labelled crops/s and sequence frames/s with N worker
processes (steady state: from the first finished sample to the last, so start-up -- loading the
body, retargeting the clips, opening GL contexts -- is reported separately), plus a per-stage
breakdown of one crop in-process and the detector pass rate.

    .venv/bin/python scripts/bench_synth.py [--workers 2] [--crops 600] [--seq-frames 480] [--detect 256]

Prints a JSON summary (and writes nothing outside a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _run(root: Path, cfg, frames: int, workers: int) -> dict:
    from meshvid.synth.build import build

    marks: list[tuple[float, int]] = []

    def progress(done: int, total: int) -> None:
        marks.append((time.perf_counter(), done))

    t0 = time.perf_counter()
    result = build(root, cfg, frames, workers=workers, progress=progress)
    wall = time.perf_counter() - t0
    # Steady state: from the first sample any worker finished to the last one.
    first = next(m for m in marks if m[1] > 0)
    steady = (marks[-1][1] - first[1]) / max(marks[-1][0] - first[0], 1e-9)
    return {"frames": result.frames, "workers": workers, "wall_s": round(wall, 1),
            "startup_s": round(first[0] - t0, 1), "steady_frames_per_s": round(steady, 2),
            "overall_frames_per_s": round(result.frames / wall, 2),
            "bytes_per_frame": int(sum(p.stat().st_size for p in root.glob("shard-*.npz")) / result.frames)}


def _stages(n: int) -> dict:
    """Where one crop's time goes (in-process, one thread)."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from meshvid.synth import generate, shards

    maker = generate.SampleMaker("train")
    totals: dict[str, float] = {}
    wrapped = {
        "motion": (maker.library, "draw_frame"),
        "body (LBS)": (maker, "_pose_body"),
        "render (GL)": (maker.renderer, "render"),
        "background": (generate.bgs.FrameBackground, "crop"),
        "appearance": (generate, "sample_colors"),
    }
    originals = {}
    for name, (obj, attr) in wrapped.items():
        fn = getattr(obj, attr)
        originals[name] = (obj, attr, fn)

        def timed(*a, _fn=fn, _name=name, **k):
            t = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - t

        setattr(obj, attr, timed)
    for i in range(3):
        maker.crop(np.random.default_rng(10_000 + i))
    totals.clear()
    t = time.perf_counter()
    samples = [maker.crop(np.random.default_rng(i)) for i in range(n)]
    total = time.perf_counter() - t
    t = time.perf_counter()
    shards.pack_shard(samples, sequence=False)
    totals["jpeg + pack"] = time.perf_counter() - t
    for obj, attr, fn in originals.values():
        setattr(obj, attr, fn)
    maker.close()
    out = {k: round(1000 * v / n, 1) for k, v in totals.items()}
    out["total per crop"] = round(1000 * (total + totals["jpeg + pack"]) / n, 1)
    out["other (labels, compositing, occluders)"] = round(
        out["total per crop"] - sum(v for k, v in out.items() if k != "total per crop"), 1)
    return {"ms_per_crop": out, "crops": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--crops", type=int, default=600)
    ap.add_argument("--seq-frames", type=int, default=480)
    ap.add_argument("--stage-crops", type=int, default=60)
    ap.add_argument("--detect", type=int, default=256, help="crops for the detector pass (0: skip)")
    args = ap.parse_args()

    from meshvid.synth.build import SynthConfig

    report = {"machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": round(os.getloadavg()[0], 2)}}
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        tmp = Path(tmp)
        report["crops"] = _run(tmp / "crops", SynthConfig(kind="crops", seed=123, shard_size=50),
                               args.crops, args.workers)
        report["sequences"] = _run(tmp / "seq", SynthConfig(kind="sequences", seed=123, shard_size=4),
                                   args.seq_frames, args.workers)
        report["stages"] = _stages(args.stage_crops)
        if args.detect:
            from meshvid.synth.build import build
            from meshvid.synth.detect import detect_dataset

            build(tmp / "det", SynthConfig(kind="crops", seed=5, shard_size=64), args.detect, workers=args.workers)
            report["detector"] = detect_dataset(tmp / "det")
    report["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
