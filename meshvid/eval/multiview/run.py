"""`meshvid eval --dataset multiview DIR`: every camera's video through `meshvid infer`, scored
against the reference people (docs/eval-multiview.md).

Orchestration only: the folder (dataset.py), the cached pipeline runs (infer_cache.py), the
per-camera scores (score.py), the tables, JSON and plots (report.py).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from meshvid.errors import InputError
from meshvid.eval.multiview.dataset import MultiviewSet
from meshvid.eval.multiview.reference_keypoints import (KEYPOINT_SOURCES,
                                                       reference_keypoints_hook)
from meshvid.eval.multiview.infer_cache import (Variant, cached_infer, eval_options, options_key,
                                                resolved_weights)
from meshvid.eval.multiview.matching import MAX_MATCH_DISTANCE
from meshvid.eval.multiview.metrics import JOINT_SETS
from meshvid.eval.multiview.score import CONSTANT, METHODS, PairResult, score_camera
from meshvid.pipeline.infer import InferOptions, Progress

# Variant names (`--variants`) -> (label, temporal, refine)
VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "dsd": ("DSD", False, False),
    "dsd+satn": ("DSD+SATN", True, False),
    "dsd+satn+refine": ("DSD+SATN+refine", True, True),
    "dsd+refine": ("DSD+refine", False, True),
}
ALL_VARIANTS = ("dsd", "dsd+satn", "dsd+satn+refine")


class MultiviewProgress(Protocol):
    """What the evaluation reports: a camera run starts (label, index, total) and the pipeline's
    own stages (Progress) go on inside it."""

    def camera(self, label: str, done: int, total: int) -> None: ...

    @property
    def stages(self) -> Progress | None: ...


@dataclass
class MultiviewOptions:
    """How to score (the pipeline's options are the Variants').

    Attributes:
        joints: the joint set (`body12`: shoulders..ankles; `coco17`: all 17).
        max_distance: matching threshold, share of the person's height.
        axes: the reference files' axes (world | pose2sim | auto).
        cameras: only these cameras (default all with a video).
        refresh: rerun the pipeline even when its result is cached.
        main_track_only: score each person's most-matched track only (score.score_camera).
        calibrated_focal: give `infer` each camera's calibrated focal length (mean of fx, fy)
            instead of its default; lens distortion stays unmodelled.
        keypoints: what the networks see: `detector` (as `infer`) or `reference` (the
            matched tracks' keypoints replaced by the reference's projection:
            reference_keypoints.py; the lifting error without the 2D error).
    """

    joints: str = "body12"
    max_distance: float = MAX_MATCH_DISTANCE
    axes: str = "auto"
    cameras: list[str] | None = None
    refresh: bool = False
    calibrated_focal: bool = False
    main_track_only: bool = False
    keypoints: str = "detector"

    def validate(self) -> None:
        if self.joints not in JOINT_SETS:
            raise InputError(f"--joints must be one of {', '.join(JOINT_SETS)}; "
                             f"got {self.joints!r}")
        if self.keypoints not in KEYPOINT_SOURCES:
            raise InputError(f"--keypoints must be one of {', '.join(KEYPOINT_SOURCES)} for "
                             f"multiview; got {self.keypoints!r}")
        if not 0.0 < self.max_distance <= 2.0:
            raise InputError(f"--match-distance must be in (0, 2]; got {self.max_distance}")


@dataclass
class VariantResult:
    variant: Variant
    pairs: list[PairResult]
    cache_key: str
    infer_seconds: float = 0.0
    cached_cameras: int = 0
    npz: dict[str, str] = field(default_factory=dict)


def make_variants(names: list[str], base: InferOptions, weights: list[tuple[str, Path | None]],
                  flags: str = "") -> list[Variant]:
    """Variant records for `--variants` names x weights.

    Args:
        names: keys of VARIANTS ("all" expands to ALL_VARIANTS).
        base: the user's pipeline options (temporal/refine are set per variant).
        weights: (label, path or None for the shipped weights).
        flags: extra command-line flags the user gave (for the report's commands).
    """
    expanded: list[str] = []
    for n in names:
        expanded += list(ALL_VARIANTS) if n == "all" else [n]
    bad = [n for n in expanded if n not in VARIANTS]
    if bad:
        raise InputError(f"unknown variant {bad[0]!r}: use {', '.join(VARIANTS)} or all")
    out = []
    for wlabel, wpath in weights:
        for n in dict.fromkeys(expanded):
            label, temporal, refine = VARIANTS[n]
            opts = dataclasses.replace(base, temporal=temporal, refine=refine, weights=wpath)
            cmd = " ".join(x for x in (
                f"--weights {wpath}" if wpath else "", "" if temporal else "--no-temporal",
                "" if refine else "--no-refine", flags) if x)
            out.append(Variant(f"{wlabel}: {label}" if wlabel else label, opts, cmd))
    return out


def _mean(values: list[float | None]) -> float | None:
    v = np.asarray([x for x in values if x is not None], np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def summarize_pairs(pairs: list[PairResult], method: str) -> dict[str, Any]:
    """Means over the camera-person pairs with scored frames (each pair counts once)."""
    scored = [p for p in pairs if p.frames_scored > 0]
    ms = [p.methods[method] for p in scored]
    out: dict[str, Any] = {
        "pairs": len(scored),
        "frames": int(sum(p.frames_scored for p in scored)),
        "mpjpe": _mean([m.mpjpe for m in ms]),
        "pa_mpjpe": _mean([m.pa_mpjpe for m in ms]),
        "accel": _mean([m.accel for m in ms]),
        "trunk_pitch_deg": _mean([m.pitch for m in ms]),
        "overlay_px": _mean([m.overlay_px for m in ms]),
        "overlay_pct": _mean([m.overlay_pct for m in ms]),
        "detector_px": _mean([p.detector_px for p in scored]),
        "detector_pct": _mean([p.detector_pct for p in scored]),
        "coverage": _mean([p.coverage for p in pairs]),
        "main_track_coverage": _mean([p.main_track_coverage for p in pairs]),
    }
    if out["overlay_pct"] is not None and out["detector_pct"]:
        out["overlay_vs_detector"] = out["overlay_pct"] / out["detector_pct"]
    return out


def run_multiview(root: "str | Path | MultiviewSet", out_dir: Path, variants: list[Variant],
                  opts: MultiviewOptions | None = None,
                  progress: MultiviewProgress | None = None) -> dict[str, Any]:
    """Run and score every variant on every camera of an evaluation folder.

    Args:
        root: DIR (calibration.toml, videos/, reference/), or the folder already loaded
            (`load_multiview`, with the same axes and cameras as `opts`).
        out_dir: where the report, JSON, plots and the pipeline cache (`infer/`) go.
        variants: the pipeline variants to score (make_variants).
        opts: scoring options.
        progress: progress callbacks (None: silent).
    Returns:
        The summary (also written to `out_dir/results.json`).
    """
    from meshvid.eval.multiview.dataset import load_multiview
    from meshvid.eval.multiview.report import write_report
    from meshvid.export.npz import load_npz

    opts = opts or MultiviewOptions()
    opts.validate()
    if not variants:
        raise InputError("no variant to evaluate")
    data = root if isinstance(root, MultiviewSet) else load_multiview(root, opts.axes,
                                                                        opts.cameras)
    cache = Path(out_dir) / "infer"
    total = len(variants) * len(data.videos)
    results: list[VariantResult] = []
    done = 0
    started = time.perf_counter()
    for vi, v in enumerate(variants):
        vr = VariantResult(v, [], options_key(eval_options(v.options))[0])
        for name, video in data.videos.items():
            if progress is not None:
                progress.camera(f"{v.label} {name}", done, total)
            t0 = time.perf_counter()
            run_opts = (dataclasses.replace(v.options, focal=data.cameras[name].focal)
                        if opts.calibrated_focal else v.options)
            adjust = None
            if opts.keypoints == "reference":
                adjust = ("reference keypoints", reference_keypoints_hook(
                    data.cameras[name], data.references, opts.max_distance))
            # --rerun: the tracking stage once (the first variant), every variant's networks
            npz, cached = cached_infer(video, name, cache, run_opts,
                                       progress.stages if progress is not None else None,
                                       refresh=opts.refresh, adjust=adjust,
                                       refresh_tracks=opts.refresh and vi == 0)
            vr.infer_seconds += time.perf_counter() - t0
            vr.cached_cameras += int(cached)
            vr.npz[name] = str(npz)
            # the folder the run actually used: a keypoint adjustment (--keypoints reference)
            # keys its own cache beside the options' key
            vr.cache_key = Path(npz).parent.name
            pairs, _ = score_camera(load_npz(npz), data.cameras[name], data.references,
                                    opts.joints, opts.max_distance, opts.main_track_only)
            vr.pairs += pairs
            done += 1
        results.append(vr)
    if progress is not None:
        progress.camera("done", total, total)
    summary = build_summary(data, results, opts)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary.update(write_report(Path(out_dir), data, results, opts, summary))
    return summary


def build_summary(data, results: list[VariantResult], opts: MultiviewOptions) -> dict[str, Any]:
    """The JSON summary: per variant the means (mesh keypoints, joint centres) and the constant
    pose on the first variant's frames."""
    rows: dict[str, Any] = {}
    for vr in results:
        label = (vr.variant.label + (" (calibrated focal)" if opts.calibrated_focal else "")
                 + (" (reference 2D)" if opts.keypoints == "reference" else ""))
        rows[label] = {
            "command": vr.variant.command, "cache_key": vr.cache_key,
            "weights": str(resolved_weights(vr.variant.options)),
            "infer_seconds": round(vr.infer_seconds, 1), "cached_cameras": vr.cached_cameras,
            **{m: summarize_pairs(vr.pairs, m) for m in METHODS if m != CONSTANT}}
        if opts.keypoints == "reference":  # the networks saw the reference: no detector error
            for m in METHODS:
                if m != CONSTANT:
                    rows[label][m].pop("overlay_vs_detector", None)
    return {
        "dataset": "multiview", "root": str(data.root), "joints": opts.joints,
        "tracks_scored": "main" if opts.main_track_only else "all matched",
        "reference_axes": data.axes, "cameras": list(data.videos),
        "people": [r.name for r in data.references], "notes": data.notes,
        "variants": rows,
        CONSTANT: _constant_row(results[0].pairs) if results else None,
    }


def _constant_row(pairs: list[PairResult]) -> dict[str, Any]:
    """The constant pose's means; its 2D points sit at the true root, so no overlay ratio."""
    row = summarize_pairs(pairs, CONSTANT)
    row.pop("overlay_vs_detector", None)
    return row
