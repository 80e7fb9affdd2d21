"""`meshvid bench align RESULT.npz`: how far the mesh's keypoints land from the detector's
(meshvid/pipeline/alignment.py), and how much the root jumps between frames."""

from __future__ import annotations

from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json


def bench_align(
    result: Path = typer.Argument(..., help="An NPZ written by `meshvid infer`."),
    min_score: float = typer.Option(0.5, "--min-score", min=0.0, max=1.0,
                                    help="Compare detector keypoints above this confidence."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No output (use --json for numbers)."),
) -> None:
    """Real-clip alignment: projected mesh COCO keypoints vs detector keypoints, as a fraction
    of the box height (mean, fraction within 5 %), plus the largest root step."""
    from meshvid.export.npz import load_npz
    from meshvid.pipeline.alignment import measure_alignment, root_depth_jumps

    motion = load_npz(result)
    summary = measure_alignment(motion, min_score=min_score).summary()
    summary["root"] = root_depth_jumps(motion)
    summary["npz"] = str(result)
    if json_out:
        emit_json(summary)
        return
    if quiet:
        return
    console.print(f"{result}: {summary['person_frames']} person-frames, {summary['keypoints']} "
                  f"keypoints with score > {min_score}")
    console.print(f"  mesh keypoints vs detector: mean {summary['mean_pct']} % of box height, "
                  f"median {summary['median_pct']} %, within 5 %: "
                  f"{100 * (summary['within_5pct'] or 0):.1f} %")
    console.print(f"  largest root step between consecutive frames: "
                  f"{summary['root']['max_step_m']} m (depth {summary['root']['max_depth_step_m']} m)")
