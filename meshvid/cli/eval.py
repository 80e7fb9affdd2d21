"""`meshvid eval --dataset synthetic|3dpw|h36m --weights DIR`: thin wrapper over meshvid.eval.run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def eval_cmd(
    dataset: str = typer.Option("synthetic", "--dataset", "-d", help="synthetic | 3dpw | h36m"),
    weights: list[str] = typer.Option(
        ..., "--weights", "-w",
        help="Weights folder or .safetensors; repeat to compare (label=path names a row)."),
    data: Optional[str] = typer.Option(None, "--data", help="Synthetic data root (default data/cpu; "
                                       "its held-out renders are made there when missing), "
                                       "3DPW root, or Human3.6M annotation .npz."),
    keypoints: str = typer.Option("detector", "--keypoints",
                                  help="Synthetic sets: detector (YOLO11n-pose on the renders, "
                                  "as inference) | simulated (drawn from the labels)."),
    image_root: Optional[str] = typer.Option(None, "--image-root", help="Images folder (h36m)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (report.md, PNGs, results.json)."),
    max_sequences: Optional[int] = typer.Option(None, "--max-sequences", help="Evaluate the first N sequences."),
    smooth: list[str] = typer.Option(
        [], "--smooth", help="Also score each model's single-frame output through a fixed filter "
        "(savgol | oneeuro, `meshvid smooth`'s defaults, or with parameters: "
        "savgol:window=11,order=2, oneeuro:min_cutoff=0.5,beta=0.3): the reference for SATN. "
        "Repeatable."),
    refine: bool = typer.Option(False, "--refine", help="Also score each model followed by "
                                "`meshvid infer --refine`'s keypoint fit (in each crop's camera)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
) -> None:
    """MPJPE, PA-MPJPE, PVE, MPJVE, MPJAE with per-sequence and per-group tables."""
    from meshvid.cli.common import console, emit_json, make_progress
    from meshvid.cli.train import _Progress
    from meshvid.errors import InputError
    from meshvid.eval.data import DATASETS
    from meshvid.eval.report import overall_table
    from meshvid.eval.run import run_eval

    if dataset not in DATASETS:
        raise InputError(f"--dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    with make_progress(quiet) as progress:
        summary = run_eval(dataset, weights, out, data, image_root,
                           max_sequences=max_sequences, progress=_Progress(progress),
                           smoothers=tuple(smooth), keypoints=keypoints, refine=refine)
    if json_out:
        emit_json(summary)
        return
    from meshvid.eval.evaluate import EvalResult

    console.print(overall_table(EvalResult(overall=summary["overall"])), highlight=False)
    if out:
        console.print(f"report: {summary['report']}")
