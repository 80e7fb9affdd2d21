"""`meshvid bench infer CLIP`: end-to-end frames/s per stage and peak memory of `meshvid infer`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json


def bench_infer(
    input: Path | None = typer.Argument(None, help="Clip to measure (default: the sports2d "
                                        "demo clip)."),
    render: str = typer.Option("none", "--render", help="none, overlay or side."),
    weights: Path | None = typer.Option(None, "--weights", help="Regressor weights (default: "
                                        "the shipped ones)."),
    loop_minutes: float = typer.Option(0.0, "--loop-minutes", min=0.0, help="First loop the "
                                       "clip to this many minutes (memory must stay flat)."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1),
    mesh_rate: str = typer.Option("model", "--mesh-rate", help="model or every (meshvid infer)."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="The keypoint fit, as "
                                "meshvid infer (on by default; its time is the `refine` stage)."),
    flip_test: bool = typer.Option(True, "--flip-test/--no-flip-test", help="meshvid infer "
                                   "--flip-test (on by default, as infer; the dsd stage's cost)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", help="No table on stderr."),
) -> None:
    """Run the whole pipeline once and print each stage's time and rate, and peak memory."""
    from rich.table import Table

    from meshvid import assets
    from meshvid.cli.bench import peak_rss_mb
    from meshvid.cpu import cpu_info
    from meshvid.perception.detector import requested_precision
    from meshvid.pipeline.infer import InferOptions, run_infer

    cpu = cpu_info()
    # the DSD backbone always runs in float32; the detector as OpenVINO runs it on this CPU
    detector_precision = cpu.precision_for(requested_precision())

    clip = Path(input) if input else assets.sports2d_demo()
    with tempfile.TemporaryDirectory(prefix="meshvid-bench-") as tmp:
        if loop_minutes > 0:
            from meshvid.io.loop import write_looped

            looped = Path(tmp) / f"looped{clip.suffix or '.mp4'}"
            write_looped(clip, looped, loop_minutes * 60.0)
            clip = looped
        result = run_infer(clip, Path(tmp) / "out",
                           InferOptions(weights=weights, render=render, max_frames=max_frames,
                                        mesh_rate=mesh_rate, refine=refine,
                                        flip_test=flip_test))
    s = result.summary()
    n = result.num_frames
    stages = s["stage_seconds"]
    summary = {"clip": str(clip if loop_minutes <= 0 else input or "sports2d demo"),
               "loop_minutes": loop_minutes, "render": render, "mesh_rate": mesh_rate,
               "refine": refine, "flip_test": flip_test, "frames": n,
               "people": len(s["tracks"]),
               "person_frames": sum(t["num_frames"] for t in s["tracks"]),
               "wall_seconds": s["wall_seconds"], "end_to_end_fps": s["processing_fps"],
               "stage_seconds": stages,
               "stage_fps": {k: round(n / v, 1) for k, v in stages.items() if v > 0},
               "peak_rss_mb": round(peak_rss_mb(), 1),
               "cpu": cpu.as_dict(), "detector_precision": detector_precision}
    if not quiet:
        table = Table(title=f"meshvid infer: {n} frames, {summary['people']} people, "
                            f"render={render}")
        for col in ("stage", "seconds", "frames/s"):
            table.add_column(col)
        for k, v in stages.items():
            table.add_row(k, f"{v:.2f}", f"{summary['stage_fps'].get(k, 0):.1f}")
        table.add_row("[bold]end to end", f"{s['wall_seconds']:.2f}", f"{s['processing_fps']}")
        console.print(table)
        console.print(f"peak memory {summary['peak_rss_mb']:.0f} MB; CPU: {cpu.summary()}; "
                      f"detector in {detector_precision}", highlight=False)
    if json_out:
        emit_json(summary)
