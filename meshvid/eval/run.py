"""The library side of `meshvid eval`: load weights, build the test table, evaluate, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshvid.errors import InputError
from meshvid.eval.evaluate import EVAL_SEED, evaluate, methods_for
from meshvid.eval.report import write_report
from meshvid.model.checkpoint import atomic_write_bytes
from meshvid.train.recipe import KeypointNoise


def parse_weights(items: list[str]) -> list[tuple[str, Path]]:
    """["label=path", "path"] -> [(label, path)]; a bare path is labelled by its folder/file."""
    out = []
    for item in items:
        label, sep, path = item.partition("=")
        if not sep:
            path, label = item, ""
        p = Path(path)
        if not p.exists():
            raise InputError(f"weights not found: {p}")
        if not label:
            label = "DSD+SATN" if p.is_dir() else p.parent.name
        out.append((label, p))
    return out


def run_eval(dataset: str, weights: list[str], out_dir: Path | None, data_path: str | None,
             image_root: str | None = None, cache_dir: Path | None = None,
             noise: KeypointNoise | None = None, max_sequences: int | None = None,
             seed: int = EVAL_SEED, progress=None, title: str | None = None,
             smoothers: tuple[str, ...] = ()) -> dict[str, Any]:
    from meshvid.body import load_body_model
    from meshvid.smoothing import METHODS as SMOOTHERS
    from meshvid.train.export import load_model

    for name in smoothers:
        if name not in SMOOTHERS:
            raise InputError(f"--smooth must be one of {', '.join(SMOOTHERS)}; got {name!r}")
    models = [(label, load_model(p)) for label, p in parse_weights(weights)]
    if not models:
        raise InputError("give at least one --weights")
    first = models[0][1]
    for label, m in models[1:]:
        if m.cfg.dsd.backbone != first.cfg.dsd.backbone:
            raise InputError(f"{label}: all compared models must share the backbone config")
    kp_set = first.cfg.dsd.skeleton.joints if first.cfg.dsd.skeleton.source == "external" else "coco17"
    from meshvid.eval.data import real_test_table, synthetic_test_table
    from meshvid.paths import cache_dir as default_cache

    cache = cache_dir or default_cache() / "features"
    # The first model's (frozen) backbone encodes the crops for all: compared models share it.
    if dataset == "synthetic":
        table = synthetic_test_table(data_path or "data/synth", first.dsd, kp_set, cache, progress,
                                     max_sequences)
    else:
        if not data_path:
            raise InputError(f"--data is required for {dataset} (the data set's root or annotation file)")
        table = real_test_table(dataset, data_path, first.dsd, kp_set, image_root, progress)
    methods = [m for label, model in models for m in methods_for(label, model, tuple(smoothers))]
    res = evaluate(methods, table, noise or KeypointNoise(), load_body_model("anny24"), seed=seed)
    summary = {"dataset": dataset, "sequences": res.sequences, "frames": res.frames,
               "overall": res.overall, "per_group": res.per_group,
               "weights": {label: str(p) for label, p in parse_weights(weights)}}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        notes = ("Keypoints for the external skeleton: " +
                 ("the data set's own 2D keypoints." if dataset != "synthetic" else
                  f"simulated detector output from the labels (fixed seed {seed}, noise "
                  f"{(noise or KeypointNoise()).__dict__})."))
        report = write_report(res, out_dir, title or f"meshvid eval: {dataset}", notes)
        summary["report"] = str(report)
        atomic_write_bytes(out_dir / "results.json",
                           json.dumps({**summary, "per_sequence": res.per_sequence}, indent=1).encode())
    return summary
