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


# The held-out set the README's eval command scores (train/reproduce_cpu.sh makes the same one):
# 640 frames of 16-frame sequences at 10 fps, seed 2, of the held-out motions only.
DEFAULT_DATA = "data/cpu"
HELDOUT_SUBDIR = "heldout_seq"
HELDOUT_FRAMES, HELDOUT_SEED, HELDOUT_SEQ_LEN, HELDOUT_FPS = 640, 2, 16, 10.0
KEYPOINT_SOURCES = ("detector", "simulated")


def heldout_command(root: Path) -> str:
    return (f"meshvid synth --kind sequences --split heldout --frames {HELDOUT_FRAMES} "
            f"--seq-len {HELDOUT_SEQ_LEN} --fps {HELDOUT_FPS:g} --seed {HELDOUT_SEED} "
            f"--out {root / HELDOUT_SUBDIR} && meshvid synth detect {root / HELDOUT_SUBDIR}")


def _stage(progress, name: str):
    """A (done, total) callback feeding the eval's (stage, step, total, info) progress."""
    if progress is None:
        return None
    return lambda done, total: progress(name, done, max(int(total or 0), 1), {})


def ensure_heldout(root: Path, detector: bool, progress=None, workers: int = 2) -> list[Path]:
    """Make sure `root` holds held-out synthetic sequences (and, for `detector`, the detector's
    keypoints on every one of their shards): makes what is missing, as `heldout_command` would.
    Returns the held-out folders."""
    from meshvid.synth.build import SynthConfig, build, default_shard_size
    from meshvid.synth.detect import det_path, detect_dataset
    from meshvid.synth.shards import list_shards
    from meshvid.train.synthetic import synth_folders

    try:
        folders = [d for d, _ in synth_folders(root, "heldout")]
    except InputError:
        folders = []
    if not folders:
        target = root / HELDOUT_SUBDIR
        cfg = SynthConfig(kind="sequences", split="heldout", seed=HELDOUT_SEED,
                          shard_size=default_shard_size("sequences"), seq_len=HELDOUT_SEQ_LEN,
                          fps=HELDOUT_FPS)
        cfg.validate()
        build(target, cfg, HELDOUT_FRAMES, workers=workers, command=heldout_command(root),
              progress=_stage(progress, "held-out renders"))
        folders = [target]
    if detector:
        for folder in folders:
            if any(not det_path(p).exists() for p in list_shards(folder)):
                detect_dataset(folder, progress=_stage(progress, "detector on held-out"))
    return folders


def orientation_net(weights: str | Path):
    """The root-orientation network of a weights folder (orient.safetensors), or None."""
    from meshvid.pipeline.regressor import ORIENT_FILE

    return _folder_net(weights, ORIENT_FILE)


def articulation_net(weights: str | Path):
    """The articulation network of a weights folder (body.safetensors), or None."""
    from meshvid.pipeline.regressor import BODY_FILE

    return _folder_net(weights, BODY_FILE)


def _folder_net(weights: str | Path, name: str):
    from meshvid.train.export import load_model

    file = Path(weights) / name
    return load_model(file) if Path(weights).is_dir() and file.is_file() else None


def run_eval(dataset: str, weights: list[str], out_dir: Path | None, data_path: str | None,
             image_root: str | None = None, cache_dir: Path | None = None,
             noise: KeypointNoise | None = None, max_sequences: int | None = None,
             seed: int = EVAL_SEED, progress=None, title: str | None = None,
             smoothers: tuple[str, ...] = (), keypoints: str = "detector",
             refine: bool = False) -> dict[str, Any]:
    """Score `weights` on a test set.

    Args:
        keypoints: the external skeleton's input on synthetic data: "detector" (YOLO11n-pose's
            own keypoints on the renders, what inference feeds; the default) or "simulated"
            (drawn from the labels through `noise`, default the recipe's measured noise model).
    Returns:
        The summary (overall / per-group metrics, weights, keypoint source, report path).
    """
    from meshvid.body import load_body_model
    from meshvid.train.export import load_model

    from meshvid.eval.evaluate import parse_smoother

    for name in smoothers:
        parse_smoother(name)  # one readable line for an unknown filter or parameter
    parsed = parse_weights(weights)
    models = [(label, load_model(p)) for label, p in parsed]
    orients = {label: orientation_net(p) for label, p in parsed}
    bodies = {label: articulation_net(p) for label, p in parsed}
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
    if keypoints not in KEYPOINT_SOURCES:
        raise InputError(f"--keypoints must be one of {', '.join(KEYPOINT_SOURCES)}; got {keypoints!r}")
    if noise is None:
        noise = KeypointNoise(kind="measured")
    if dataset == "synthetic":
        root = Path(data_path or DEFAULT_DATA)
        ensure_heldout(root, keypoints == "detector", progress)
        table = synthetic_test_table(root, first.dsd, kp_set, cache, progress, max_sequences)
        if keypoints == "simulated":
            table.detections = None
        elif table.detections is None:
            raise InputError(f"the held-out set under {root} has no detector keypoints; run "
                             f"`meshvid synth detect` on it")
    else:
        if not data_path:
            raise InputError(f"--data is required for {dataset} (the data set's root or annotation file)")
        table = real_test_table(dataset, data_path, first.dsd, kp_set, image_root, progress)
    if dataset == "synthetic" and keypoints == "simulated":  # every row says its input
        orients = {f"{label} [simulated keypoints]": o for label, o in orients.items()}
        bodies = {f"{label} [simulated keypoints]": b for label, b in bodies.items()}
        models = [(f"{label} [simulated keypoints]", m) for label, m in models]
    methods = [m for label, model in models
               for m in methods_for(label, model, tuple(smoothers), refine, orients.get(label),
                                    body=bodies.get(label))]
    res = evaluate(methods, table, noise, load_body_model("anny24"), seed=seed)
    source = ("YOLO11n-pose on the renders" if dataset == "synthetic" and keypoints == "detector"
              else "simulated from the labels" if dataset == "synthetic" else "the data set's own")
    summary = {"dataset": dataset, "keypoints": source, "sequences": res.sequences,
               "frames": res.frames,
               "overall": res.overall, "per_group": res.per_group,
               "weights": {label: str(p) for label, p in parse_weights(weights)}}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        notes = ("Keypoints for the external skeleton: " +
                 ("the data set's own 2D keypoints." if dataset != "synthetic" else
                  "YOLO11n-pose's own keypoints on the held-out renders (`meshvid synth "
                  "detect`), as at inference." if keypoints == "detector" else
                  f"simulated from the labels (fixed seed {seed}, noise {noise.__dict__})."))
        report = write_report(res, out_dir, title or f"meshvid eval: {dataset}", notes)
        summary["report"] = str(report)
        atomic_write_bytes(out_dir / "results.json",
                           json.dumps({**summary, "per_sequence": res.per_sequence}, indent=1).encode())
    return summary
