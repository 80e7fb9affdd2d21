"""`meshvid bench ...`: throughput and memory measurements (printed, never asserted in tests).

`bench track` runs the perception stage (decode, detect, track, crop) on a clip, for every
combination of the given backends, sizes and strides, and prints frames/s per stage and peak
memory. `bench loop` makes a long clip by looping one (packets copied, not re-encoded) to show
that memory does not grow with clip length. Other stages add their own commands to `app`.
"""

from __future__ import annotations

import itertools
import os
import resource
import time
from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json

app = typer.Typer(help="Benchmarks: frames/s per stage and peak memory.", no_args_is_help=True)


def rss_mb() -> float:
    """Current resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _rate(n: int, seconds: float) -> float | None:
    return round(n / seconds, 1) if seconds > 0 else None


@app.command("track")
def bench_track(
    input: Path | None = typer.Argument(None, help="Clip to measure (default: the sports2d "
                                        "demo clip)."),
    backend: list[str] = typer.Option(["auto"], "--backend", help="auto, openvino or torch; "
                                      "repeat to compare."),
    imgsz: list[str] = typer.Option(["auto"], "--imgsz", help="Size or 'auto'; repeat to "
                                    "compare."),
    det_stride: list[str] = typer.Option(["auto"], "--det-stride", help="Stride or 'auto'; "
                                         "repeat to compare."),
    batch: int = typer.Option(1, "--batch", min=1, help="Detection frames per network call."),
    keypoint_crop: list[str] = typer.Option(["off"], "--keypoint-crop", help="Second detector "
                                            "pass on each tracked person's crop at this size, "
                                            "or 'off'; repeat to compare."),
    crop_size: int = typer.Option(224, "--crop-size", min=16, help="Crop every tracked person "
                                  "at this size (the crop stage)."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Only the first N "
                                          "frames."),
    baseline: bool = typer.Option(False, "--baseline", help="Also time plain ultralytics "
                                  "`model.track(persist=True)` (PyTorch, 640 px, every frame) "
                                  "for comparison."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", help="No table on stderr."),
) -> None:
    """Frames/s per stage (decode, detect, track, crop) and peak memory on a clip."""
    from rich.table import Table

    from meshvid import assets
    from meshvid.cli.track import parse_auto_int
    from meshvid.io.video import open_source
    from meshvid.cpu import cpu_info
    from meshvid.perception.detector import PoseDetector
    from meshvid.perception.run import TrackOptions, run_tracking

    path = input or assets.sports2d_demo()
    open_source(path, stop=max_frames)  # fail early on a bad input
    rows = []
    detectors: dict[str, PoseDetector] = {}
    for be, size, stride, second in itertools.product(backend, imgsz, det_stride, keypoint_crop):
        if be not in detectors:
            detectors[be] = PoseDetector(backend=be)
        det = detectors[be]
        source = open_source(path, stop=max_frames)
        rss_before = rss_mb()
        result = run_tracking(source, det, TrackOptions(
            imgsz=parse_auto_int(size, "--imgsz", 32), det_stride=parse_auto_int(stride,
                                                                                "--det-stride"),
            batch=batch, crop_size=crop_size,
            keypoint_crop=None if second == "off" else parse_auto_int(second, "--keypoint-crop")))
        t = result.times
        n = result.num_frames
        n_det = (n + result.det_stride - 1) // result.det_stride
        rows.append({
            "backend": det.backend, "precision": det.precision, "imgsz": result.imgsz, "det_stride": result.det_stride,
            "batch": batch, "keypoint_crop": second, "frames": n,
            "seconds": round(result.wall_time, 2),
            "fps": round(result.fps, 1),
            "cpu_seconds": round(result.cpu_time, 1),
            "decode_fps": _rate(n, t.decode), "detect_fps": _rate(n_det, t.detect),
            "track_fps": _rate(n_det, t.track), "crop_fps": _rate(n_det, t.crop),
            "keypoint_crop_fps": _rate(n_det, t.keypoint_crop),
            "imgsz_probe_s": round(t.imgsz_probe, 2),
            "tracks": len(result.tracks), "rss_before_mb": round(rss_before, 1),
            "rss_after_mb": round(rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1),
        })
    if baseline:
        rows.append(_baseline(path, max_frames))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if not quiet:
        table = Table(title=f"meshvid bench track: {Path(path).name} "
                            f"(load average {load:.1f}; {cpu_info().summary()})")
        cols = ["backend", "precision", "imgsz", "det_stride", "keypoint_crop", "frames", "fps",
                "decode_fps", "detect_fps", "track_fps", "crop_fps", "keypoint_crop_fps", "tracks",
                "peak_rss_mb"]
        for c in cols:
            table.add_column(c, justify="right")
        for r in rows:
            table.add_row(*(str(r.get(c, "")) for c in cols))
        from rich.console import Console

        Console(stderr=True, width=max(console.width, 150)).print(table)
        console.print("fps = wall-clock frames/s of the whole stage incl. decode; detect/track/"
                      "crop fps are per detection frame; peak RSS is the process's (models "
                      "included). Other jobs on the machine lower every number: see the load "
                      "average.", highlight=False)
    if json_out:
        emit_json({"input": str(path), "load_average": load, "cpus": os.cpu_count(),
                   "cpu": cpu_info().as_dict(), "runs": rows})


def _baseline(path: Path, max_frames: int | None) -> dict:
    """Plain ultralytics tracking, as its docs show it: model.track per frame, persist=True."""
    from meshvid import assets
    from meshvid.io.video import open_source
    from meshvid.perception import detector as _  # noqa: F401 - sets ultralytics' offline env

    import numpy as np
    from ultralytics import YOLO

    model = YOLO(str(assets.yolo_pose_weights()))
    n, tracks = 0, set()
    started, cpu = time.perf_counter(), time.process_time()
    for frame in open_source(path, stop=max_frames):
        r = model.track(np.ascontiguousarray(frame.image[..., ::-1]), persist=True,
                        tracker="bytetrack.yaml", imgsz=640, verbose=False)[0]
        if r.boxes is not None and r.boxes.id is not None:
            tracks.update(int(i) for i in r.boxes.id.tolist())
        n += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"backend": "ultralytics track (torch)", "imgsz": 640, "det_stride": 1, "batch": 1,
            "frames": n, "seconds": round(wall, 2), "fps": round(n / wall, 1),
            "cpu_seconds": round(cpu, 1),
            "tracks": len(tracks), "peak_rss_mb": round(peak_rss_mb(), 1)}


@app.command("loop")
def bench_loop(
    input: Path = typer.Argument(..., help="Clip to loop."),
    output: Path = typer.Option(..., "-o", "--output", help="The long clip to write (.mp4)."),
    minutes: float = typer.Option(10.0, "--minutes", min=0.01, help="Length to reach."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", help="No message on stderr."),
) -> None:
    """Make a long clip by looping one (stream copy, seconds to make), for memory tests."""
    from meshvid.io.loop import write_looped

    started = time.perf_counter()
    info = write_looped(input, output, minutes * 60.0)
    seconds = time.perf_counter() - started
    if not quiet:
        console.print(f"wrote {output}: {info['duration_s'] / 60:.1f} min, {info['loops']} "
                      f"loops in {seconds:.1f} s", highlight=False)
    if json_out:
        emit_json({"output": str(output), **info, "seconds": round(seconds, 2)})
