"""YOLO11n-pose per-frame time on OpenVINO and PyTorch, alternating rounds (issue 26).

    python scripts/bench_detector_backends.py [--frames 8] [--imgsz 928] [--rounds 3]

Prints the CPU (model, ISA flags), the precision each backend runs in, and ms per frame per
round with the median, on the first frames of the sports2d demo clip. Rounds alternate the
backends so that a load change on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--imgsz", type=int, default=928)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from meshvid import assets
    from meshvid.cpu import cpu_info
    from meshvid.io.video import open_source
    from meshvid.perception.detector import PoseDetector

    frames = [f.image for f in open_source(assets.sports2d_demo(), stop=args.frames)]
    detectors = {b: PoseDetector(backend=b) for b in ("openvino", "torch")}
    for d in detectors.values():
        d.detect(frames[:1], imgsz=args.imgsz)  # warm-up
    times: dict[str, list[float]] = {b: [] for b in detectors}
    for _ in range(args.rounds):
        for name, d in detectors.items():
            t = time.perf_counter()
            for image in frames:
                d.detect([image], imgsz=args.imgsz)
            times[name].append(1000 * (time.perf_counter() - t) / len(frames))
    print(f"CPU: {cpu_info().summary()}")
    for name, v in times.items():
        print(f"{name:9s} ({detectors[name].precision}) ms/frame at {args.imgsz} px: "
              f"{[round(x) for x in v]} median {statistics.median(v):.0f}")


if __name__ == "__main__":
    main()
