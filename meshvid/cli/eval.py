"""`meshvid eval --dataset synthetic|3dpw|h36m --weights DIR` and `meshvid eval --dataset
multiview DIR`: thin wrappers over meshvid.eval.run and meshvid.eval.multiview."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def eval_cmd(
    folder: Optional[Path] = typer.Argument(
        None, metavar="[DIR]", help="multiview: the evaluation folder (calibration.toml, "
        "videos/, reference/; docs/eval-multiview.md)."),
    dataset: str = typer.Option("synthetic", "--dataset", "-d",
                                help="synthetic | 3dpw | h36m | multiview"),
    weights: list[str] = typer.Option(
        [], "--weights", "-w",
        help="Weights folder or .safetensors; repeat to compare (label=path names a row). "
        "Required except for multiview (default: the shipped weights)."),
    data: Optional[str] = typer.Option(None, "--data", help="Synthetic data root (default data/cpu; "
                                       "its held-out renders are made there when missing), "
                                       "3DPW root, or Human3.6M annotation .npz."),
    keypoints: str = typer.Option("detector", "--keypoints",
                                  help="Synthetic sets: detector (YOLO11n-pose on the renders, "
                                  "as inference) | simulated (drawn from the labels). multiview: "
                                  "detector | reference (the reference joints projected into "
                                  "each camera in the detector's place: the lifting error "
                                  "alone)."),
    image_root: Optional[str] = typer.Option(None, "--image-root", help="Images folder (h36m)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (report.md, PNGs, results.json)."),
    max_sequences: Optional[int] = typer.Option(None, "--max-sequences", help="Evaluate the first N sequences."),
    smooth: list[str] = typer.Option(
        [], "--smooth", help="Also score each model's single-frame output through a fixed filter "
        "(savgol | oneeuro, `meshvid smooth`'s defaults, or with parameters: "
        "savgol:window=11,order=2, oneeuro:min_cutoff=0.5,beta=0.3): the reference for SATN. "
        "Repeatable."),
    refine: Optional[bool] = typer.Option(
        None, "--refine/--no-refine", help="Synthetic sets: also score each model followed by "
        "`meshvid infer --refine`'s keypoint fit (in each crop's camera). multiview: run infer "
        "with (default) or without the fit."),
    no_temporal: bool = typer.Option(False, "--no-temporal", help="multiview: DSD only (infer "
                                     "--no-temporal)."),
    no_crop_ray: bool = typer.Option(False, "--no-crop-ray", help="multiview: infer "
                                     "--no-crop-ray (the orientation as the network gives it)."),
    flip_test: Optional[bool] = typer.Option(None, "--flip-test/--no-flip-test", help="multiview: "
                                             "infer --flip-test/--no-flip-test (default: "
                                             "infer's, on)."),
    no_orientation_net: bool = typer.Option(False, "--no-orientation-net", help="multiview: "
                                            "infer --no-orientation-net."),
    root_anchor: bool = typer.Option(False, "--root-anchor", help="multiview: infer "
                                     "--root-anchor."),
    no_body_net: bool = typer.Option(False, "--no-body-net", help="multiview: infer "
                                     "--no-body-net."),
    no_body_temporal: bool = typer.Option(False, "--no-body-temporal", help="multiview: infer "
                                          "--no-body-temporal."),
    shape_weight: Optional[float] = typer.Option(None, "--shape-weight", min=0.0, max=1.0,
                                                 help="multiview: infer --shape-weight."),
    keypoint_crop: Optional[int] = typer.Option(None, "--keypoint-crop", min=64, max=1280,
                                                help="multiview: infer --keypoint-crop."),
    keypoint_flip: bool = typer.Option(False, "--keypoint-flip",
                                       help="multiview: infer --keypoint-flip."),
    variants: list[str] = typer.Option(
        [], "--variants", help="multiview: pipeline variants to score, comma-separated or "
        "repeated: dsd, dsd+satn, dsd+satn+refine, dsd+refine, all (= the first three); "
        "overrides --no-refine/--no-temporal."),
    joints: str = typer.Option("body12", "--joints", help="multiview: joints scored, body12 "
                               "(shoulders..ankles) or coco17."),
    reference_axes: str = typer.Option("auto", "--reference-axes", help="multiview: axes of "
                                       "the reference files: world | pose2sim (Y-up) | auto."),
    camera: list[str] = typer.Option([], "--camera", help="multiview: only this camera "
                                     "(repeatable)."),
    rerun: bool = typer.Option(False, "--rerun", help="multiview: run infer again even when "
                               "its result is cached in the output folder."),
    match_distance: Optional[float] = typer.Option(
        None, "--match-distance", help="multiview: largest median keypoint distance for a "
        "track to be a reference person, as a share of their height (default 0.3)."),
    detector: Optional[Path] = typer.Option(None, "--detector", help="multiview: infer "
                                            "--detector."),
    focal: Optional[float] = typer.Option(None, "--focal", min=1.0, help="multiview: infer "
                                          "--focal (default: infer's own)."),
    main_track_only: bool = typer.Option(False, "--main-track-only", help="multiview: score "
                                         "only each person's most-matched track."),
    calibrated_focal: bool = typer.Option(False, "--calibrated-focal", help="multiview: give "
                                          "infer each camera's calibrated focal length."),
    device: Optional[str] = typer.Option(None, "--device", help="multiview: infer --device."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="multiview: "
                                             "infer --max-frames (quick checks)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
) -> None:
    """MPJPE, PA-MPJPE, PVE, MPJVE, MPJAE with per-sequence and per-group tables; with
    `--dataset multiview DIR`, the whole `infer` pipeline scored on calibrated real footage."""
    from meshvid.cli.common import console, emit_json, make_progress
    from meshvid.cli.train import _Progress
    from meshvid.errors import InputError
    from meshvid.eval.data import DATASETS
    from meshvid.eval.report import overall_table
    from meshvid.eval.run import run_eval

    if dataset == "multiview":
        from meshvid.cli.eval_multiview import run_multiview_cli
        from meshvid.devices import check_device

        run_multiview_cli(folder or (Path(data) if data else None), out, weights,
                          [n.strip() for v in variants for n in v.split(",") if n.strip()],
                          temporal=not no_temporal, refine=refine is not False, joints=joints,
                          reference_axes=reference_axes, cameras=camera, rerun=rerun,
                          match_distance=match_distance,
                          infer_overrides={"detector": detector, "focal": focal,
                                           "device": check_device(device) if device else None,
                                           "max_frames": max_frames,
                                           "crop_ray": False if no_crop_ray else None,
                                           "flip_test": flip_test,
                                           "orientation_net": False if no_orientation_net else None,
                                           "body_net": False if no_body_net else None,
                                           "body_temporal":
                                               False if no_body_temporal else None,
                                           "root_anchor": True if root_anchor else None,
                                           "shape_weight": shape_weight,
                                           "keypoint_crop": keypoint_crop,
                                           "keypoint_flip": True if keypoint_flip else None},
                          quiet=quiet, json_out=json_out, calibrated_focal=calibrated_focal,
                          main_track_only=main_track_only, keypoints=keypoints)
        return
    if dataset not in DATASETS:
        raise InputError(f"--dataset must be one of {', '.join(DATASETS)}, multiview; got "
                         f"{dataset!r}")
    if folder is not None:
        raise InputError(f"DIR is for --dataset multiview; give the {dataset} data with --data")
    with make_progress(quiet) as progress:
        summary = run_eval(dataset, weights, out, data, image_root,
                           max_sequences=max_sequences, progress=_Progress(progress),
                           smoothers=tuple(smooth), keypoints=keypoints, refine=bool(refine))
    if json_out:
        emit_json(summary)
        return
    from meshvid.eval.evaluate import EvalResult

    console.print(overall_table(EvalResult(overall=summary["overall"])), highlight=False)
    if out:
        console.print(f"report: {summary['report']}")
