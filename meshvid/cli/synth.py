"""`meshvid synth`: render synthetic training data from real motion capture (docs/synth.md)."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json, make_progress

app = typer.Typer(
    help="Synthetic training data: the body in real motion-capture clips, rendered with exact labels.",
    invoke_without_command=True,
)


@app.callback()
def synth(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", help="Output directory (shards + data card)."),
    frames: int = typer.Option(1000, "--frames", min=1, help="Frames to make (sequences: total frames)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same shard bytes."),
    kind: str = typer.Option("crops", "--kind", help="crops (single frames, DSD) or sequences (SATN)."),
    split: str = typer.Option("train", "--split", help="train, or heldout (evaluation clips only)."),
    crop_size: int = typer.Option(224, "--crop-size", min=32, max=1024, help="Crop side in pixels."),
    seq_len: int = typer.Option(16, "--seq-len", min=2, help="Frames per sequence."),
    fps: float = typer.Option(10.0, "--fps", help="Sequence frame rate (the paper's 9-frame window at 10 fps ~ 0.9 s)."),
    shard_size: int | None = typer.Option(None, "--shard-size", min=1, help="Samples per shard (default 256 crops / 16 sequences)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (one renderer each)."),
    motions: list[Path] = typer.Option([], "--motions", help="Motion-capture file or folder (BVH, ASF+AMC, cmu8 text); repeatable. Its clips of --split join DeepMimic's (docs/motion.md)."),
    only_motions: bool = typer.Option(False, "--only-motions", help="Leave out the built-in clips (DeepMimic, the anny walk): only the --motions clips, e.g. a held-out set of one corpus."),
    preview: bool = typer.Option(False, "--preview", help="Also write preview.png (and preview_labels.png) contact sheets."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Make (or resume) a sharded synthetic data set in --out."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise typer.BadParameter("--out DIR is required", param_hint="--out")
    from meshvid.errors import InputError
    from meshvid.synth.build import SynthConfig, build, default_shard_size
    from meshvid.synth.preview import contact_sheet

    cfg = SynthConfig(kind=kind, split=split, seed=seed, crop_size=crop_size,
                      shard_size=shard_size or default_shard_size(kind), seq_len=seq_len, fps=fps,
                      motions=tuple(str(m.resolve()) for m in motions), builtin=not only_motions)
    cfg.validate()
    if only_motions and not motions:
        raise InputError("--only-motions needs at least one --motions PATH")
    if motions:
        _report_motions(cfg, quiet)
    command = "meshvid synth " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    t0 = time.perf_counter()
    with make_progress(quiet) as progress:
        task = progress.add_task(f"synth {kind}/{split}", total=None, rate="")

        def report(done: int, total: int) -> None:
            elapsed = time.perf_counter() - t0
            progress.update(task, completed=done, total=total, rate=f"{done / max(elapsed, 1e-6):.1f} fr/s")

        result = build(out, cfg, frames, workers=workers, progress=report, command=command)
    previews = []
    if preview:
        previews.append(str(contact_sheet(out, out / "preview.png")))
        previews.append(str(contact_sheet(out, out / "preview_labels.png", labels=True)))
    rate = result.frames_made / result.seconds if result.seconds > 0 and result.frames_made else 0.0
    summary = {
        "out": str(out), "kind": kind, "split": split, "seed": seed,
        "shards": result.shards_total, "shards_made": result.shards_made,
        "shards_skipped": result.shards_skipped, "samples": result.samples, "frames": result.frames,
        "frames_made": result.frames_made, "seconds": round(result.seconds, 2), "frames_per_second": round(rate, 2),
        "card": str(out / "datacard.json"), "previews": previews,
        "counts": result.card.get("counts", {}),
    }
    if not quiet:
        console.print(
            f"{out}: {result.shards_total} shards ({result.shards_made} made, {result.shards_skipped} "
            f"already there), {result.frames} frames, {result.seconds:.1f} s"
            + (f", {rate:.1f} frames/s" if result.shards_made else ""))
        for p in previews:
            console.print(f"preview: {p}")
    if json_out:
        emit_json(summary)


def _report_motions(cfg, quiet: bool) -> None:
    """Scan the --motions paths once (memoised for the card and an in-process build): one line
    per file that cannot be used, then a count."""
    from meshvid.synth.build import _rest_joints
    from meshvid.synth.sources import mocap_reports

    reports = mocap_reports(cfg.motions, _rest_joints(cfg.body))
    bad = [r for r in reports if r.status != "ok"]
    if not quiet:
        for r in bad:
            reason = r.reason if r.reason.startswith(r.path) else f"{r.path}: {r.reason}"
            console.print(f"[yellow]skip[/] {reason}", highlight=False, soft_wrap=True)
        used = sum(r.status == "ok" and r.split == cfg.split for r in reports)
        console.print(f"--motions: {len(reports)} files, {used} clips used for {cfg.split}, "
                      f"{len(bad)} skipped", highlight=False)


@app.command("detect")
def detect(
    root: Path = typer.Argument(..., help="A `meshvid synth` output directory."),
    detector: str | None = typer.Option(None, "--detector", help="Ultralytics pose checkpoint (default: the shipped YOLO11n-pose)."),
    imgsz: int = typer.Option(224, "--imgsz", min=32, help="Detector input size (the crops are 224 px)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Run the YOLO pose detector on every rendered image and store its keypoints beside each
    shard (shard-XXXXXX.det.npz). Resumable: shards that have one are skipped."""
    from meshvid.synth.detect import detect_dataset

    t0 = time.perf_counter()
    with make_progress(quiet) as progress:
        task = progress.add_task("detect", total=None, rate="")

        def report(done: int, total: int) -> None:
            elapsed = time.perf_counter() - t0
            progress.update(task, completed=done, total=total, rate=f"{done / max(elapsed, 1e-6):.1f} img/s")

        summary = detect_dataset(root, detector, imgsz=imgsz, progress=report)
    if not quiet:
        console.print(f"{root}: detector keypoints for {summary['images_made']} images "
                      f"({summary['shards_made']} shards; {summary['shards'] - summary['shards_made']} already done)"
                      + (f", person found in {100 * summary['found_fraction']:.1f}%, "
                         f"{summary['images_per_second']} img/s" if summary["images_made"] else ""))
    if json_out:
        emit_json(summary)
