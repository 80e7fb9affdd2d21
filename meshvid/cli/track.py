"""`meshvid track INPUT -o OUTDIR`: people detected, tracked and written as tracklets."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json, make_progress
from meshvid.errors import InputError

TRACKS_FILE = "tracks.json"
VIDEO_FILE = "tracks.mp4"


def parse_auto_int(value: str | int | None, name: str, minimum: int = 1) -> int | None:
    """'auto' (or None) -> None, else a positive int; a clear error otherwise."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        raise InputError(f"{name} must be 'auto' or an integer, not {value!r}") from None
    if n < minimum:
        raise InputError(f"{name} must be at least {minimum}, not {n}")
    return n


def prepare_output_dir(outdir: Path) -> Path:
    """Create OUTDIR and prove it is writable before any long work starts."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        probe = outdir / f".meshvid-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InputError(f"cannot write to output folder {outdir} ({reason}): choose another "
                         "folder with -o") from None
    return outdir


def track(
    input: Path = typer.Argument(..., help="Video file, image folder or single image."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for tracks.json "
                                "(and tracks.mp4 with --render)."),
    render: bool = typer.Option(False, "--render", help="Also write tracks.mp4: boxes, ids and "
                                "skeletons over the video (with its audio)."),
    detector: Path | None = typer.Option(None, "--detector", help="An ultralytics pose or "
                                         "detect checkpoint (default: YOLO11n-pose)."),
    imgsz: str = typer.Option("auto", "--imgsz", help="Detector input size in pixels, or "
                              "'auto' (chosen from the people in the first frame)."),
    det_stride: str = typer.Option("auto", "--det-stride", help="Detect every N-th frame and "
                                   "interpolate between; 'auto' = about 15 detections per "
                                   "second of video."),
    max_people: int | None = typer.Option(None, "--max-people", min=1, help="Keep only the N "
                                          "most prominent people (box area x duration)."),
    min_track_len: int = typer.Option(10, "--min-track-len", min=1, help="Drop tracks shorter "
                                      "than this many frames."),
    max_gap: int = typer.Option(15, "--max-gap", min=0, help="Bridge gaps of up to this many "
                                "frames by interpolation (flagged in the output)."),
    tracker: str = typer.Option("bytetrack", "--tracker", help="bytetrack or botsort "
                                "(ultralytics)."),
    backend: str = typer.Option("auto", "--backend", help="Detector runtime: auto (OpenVINO "
                                "when installed), openvino or torch."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Only the first N "
                                          "frames."),
    image_fps: float = typer.Option(30.0, "--image-fps", min=0.001, help="Frame rate given to "
                                    "image folders."),
    keep_partial: bool = typer.Option(False, "--keep-partial", help="A truncated or damaged "
                                      "video: use the frames before the damage (with a "
                                      "warning) instead of refusing it."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Detect and track every person; write tracks.json (docs/tracks-format.md)."""
    from meshvid.io.video import open_source
    from meshvid.perception.detector import PoseDetector, needs_export
    from meshvid.perception.run import TrackOptions, run_tracking
    from meshvid.perception.tracker import TRACKERS, TrackerConfig
    from meshvid.perception.tracks_io import save_tracks, tracks_document

    size = parse_auto_int(imgsz, "--imgsz", minimum=32)
    stride = parse_auto_int(det_stride, "--det-stride")
    if tracker not in TRACKERS:
        raise InputError(f"--tracker must be one of {', '.join(TRACKERS)}, not {tracker!r}")
    source = open_source(input, image_fps=image_fps, stop=max_frames, keep_partial=keep_partial)
    outdir = prepare_output_dir(output)
    if not quiet and needs_export(detector, backend):
        console.print("first run: exporting the detector to OpenVINO into meshvid's cache "
                      "(once, about 10 s)", highlight=False)
    det = PoseDetector(detector, backend=backend)
    options = TrackOptions(imgsz=size, det_stride=stride,
                           tracker=TrackerConfig(kind=tracker, max_gap=max_gap,
                                                 min_len=min_track_len, max_people=max_people))
    started = time.perf_counter()
    with make_progress(quiet) as progress:
        task = progress.add_task("tracking", total=source.info.num_frames, rate="")

        def tick(n: int) -> None:
            dt = time.perf_counter() - started
            progress.update(task, completed=n, rate=f"{n / dt:5.1f} fps" if dt > 0 else "")

        result = run_tracking(source, det, options, on_frame=tick)
        progress.update(task, total=result.num_frames, completed=result.num_frames)

    meta = {"detector": str(det.weights), "backend": det.backend, "precision": det.precision, "imgsz": result.imgsz,
            "det_stride": result.det_stride, "tracker": tracker, "max_gap": max_gap,
            "min_track_len": min_track_len, "max_people": max_people,
            "processing_fps": round(result.fps, 2),
            # every decision to bridge a gap (or not): frames, evidence, the tracks either side
            "bridges": [b.as_dict() for b in result.bridges]}
    doc = tracks_document(source.info, result.tracks, num_frames=result.num_frames,
                          timestamps=result.timestamps, meta=meta)
    tracks_path = save_tracks(outdir / TRACKS_FILE, doc)
    if not result.tracks:
        console.print(f"[yellow]warning:[/] no people found in {input}; wrote an empty "
                      f"{tracks_path}", highlight=False)

    video_path = None
    if render:
        from meshvid.perception.draw import render_tracking_video

        with make_progress(quiet) as progress:
            task = progress.add_task("rendering", total=result.num_frames, rate="")
            video_path = render_tracking_video(
                source, result.tracks, outdir / VIDEO_FILE,
                audio=max_frames is None,  # a cut clip's audio would not line up
                on_frame=lambda n: progress.update(task, completed=n))

    if not quiet:
        console.print(f"{len(result.tracks)} tracks in {result.num_frames} frames "
                      f"({result.fps:.1f} fps, imgsz {result.imgsz}, stride {result.det_stride}, "
                      f"{det.backend}) -> {tracks_path}"
                      + (f", {video_path}" if video_path else ""), highlight=False)
    if json_out:
        emit_json({
            "input": str(input), "tracks_file": str(tracks_path),
            "video_file": str(video_path) if video_path else None,
            "num_frames": result.num_frames, "fps": round(result.fps, 2),
            **{k: meta[k] for k in ("backend", "imgsz", "det_stride", "tracker")},
            "stage_seconds": result.times.as_dict(),
            "tracks": [{"id": t.track_id, "first_frame": int(t.frame_ids[0]),
                        "last_frame": int(t.frame_ids[-1]), "num_frames": len(t),
                        "interpolated": int(t.interpolated.sum())} for t in result.tracks],
        })
