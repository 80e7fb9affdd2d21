"""`meshvid motion`: motion-capture files, as the retargeting sees them (docs/motion.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from meshvid.cli.common import console, emit_json

app = typer.Typer(help="Motion capture: read BVH / ASF+AMC / cmu8 clips and retarget them onto the body.",
                  no_args_is_help=True)


def _map_text(joint_map: dict[str, str]) -> str:
    """'pelvis<-Hips, left_hip<-LeftUpLeg, ...' in SMPL_24 order (head_top last)."""
    from meshvid.body.joints import SMPL_24

    order = {n: i for i, n in enumerate(SMPL_24)}
    return ", ".join(f"{k}<-{v}" for k, v in sorted(joint_map.items(), key=lambda kv: order.get(kv[0], 99)))


@app.command("info")
def info(
    paths: list[Path] = typer.Argument(..., help="Motion files or folders (searched recursively): BVH, FBX, ASF+AMC, cmu8, DeepMimic."),
    max_error: float | None = typer.Option(None, "--max-error", help="Reject clips above this retarget error, mm (default 60)."),
    clips: bool = typer.Option(True, "--clips/--no-clips", help="One line per clip (else only the summary)."),
    show_map: bool = typer.Option(False, "--map", help="Print the joint map on every clip's line (default: each distinct map once)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report (clips + summary) on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary lines (no per-clip lines)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Processes (default: the CPUs available)."),
) -> None:
    """Read every clip, map its skeleton (by family, joint names, or shape), retarget it onto
    the anny24 body and report frames, fps, duration, skeleton family, joint map (ours <- theirs),
    retarget error and split. A bad or non-humanoid file is one line; it never stops the run."""
    import time

    from meshvid.cli.common import make_progress
    from meshvid.motion.corpus import scan, summarise
    from meshvid.motion.retarget import MAX_ERROR_MM

    if quiet:
        clips = False
    limit = MAX_ERROR_MM if max_error is None else max_error
    maps: dict[str, dict] = {}
    seen_maps: set[tuple] = set()
    progress = make_progress(quiet=json_out or quiet)
    task = progress.add_task("motion info", total=None, rate="")
    start = time.perf_counter()

    def on_files(n: int) -> None:
        progress.update(task, total=n)
        if n > 1:
            progress.start()

    def on_clip(r) -> None:
        if r.status == "unreadable":
            reason = r.reason if r.reason.startswith(r.path) else f"{r.path}: {r.reason}"
            if not json_out:
                progress.console.print(f"[red]skip[/] {reason}", highlight=False, soft_wrap=True)
            progress.advance(task)
            return
        family = r.family if r.method != "shape" else "inferred from shape"
        key = (family, tuple(sorted(r.joint_map.items())))
        maps.setdefault(family, r.joint_map)
        if clips and not json_out:
            tag = "[yellow]rejected[/]" if r.status == "rejected" else r.split
            extra = "  T-pose frame 0 skipped" if r.tpose_frame0 else ""
            progress.console.print(
                f"{r.clip_id}  {family}  {r.frames} fr @ {r.fps:g} fps ({r.seconds:.1f} s)  "
                f"err {r.error_mm:.1f} mm (p95 {r.error_p95_mm:.1f})  up {r.up_axis}  {r.unit}  {tag}{extra}"
                + (f"  {r.reason}" if r.status == "rejected" else ""), highlight=False, soft_wrap=True)
            if show_map or key not in seen_maps:
                progress.console.print(f"  joint map ({family}, by {r.method}): {_map_text(r.joint_map)}",
                                       highlight=False, soft_wrap=True)
        seen_maps.add(key)
        elapsed = time.perf_counter() - start
        done = progress.tasks[0].completed + 1
        progress.update(task, advance=1, rate=f"{done / max(elapsed, 1e-9):.0f} clips/s")

    with progress:
        _, reports = scan(paths, max_error_mm=limit, on_clip=on_clip, keep=False, workers=workers,
                          on_files=on_files)
    seconds = time.perf_counter() - start
    summary = summarise(reports)
    bad = sum(r.status == "unreadable" for r in reports)
    if json_out:
        emit_json({"max_error_mm": limit, "seconds": round(seconds, 2), "summary": summary,
                   "joint_maps": maps, "clips": [dict(r.__dict__) for r in reports]})
    else:
        for corpus, s in summary.items():
            if corpus == "unreadable":
                continue
            console.print(f"[bold]{corpus}[/]: {s['accepted']} clips accepted, {s['rejected']} rejected "
                          f"(> {limit:g} mm), {s['frames']} frames ({s['hours']:.2f} h), retarget error "
                          f"median {s['error_median_mm']} mm, p95 {s['error_p95_mm']} mm, max "
                          f"{s['error_max_mm']} mm, {s['heldout_clips']} held-out clips", highlight=False)
        if bad:
            console.print(f"{bad} file(s) could not be read or are not humanoid (listed above)")
        console.print(f"{len(reports)} file(s) in {seconds:.1f} s", highlight=False)
    if not any(r.status != "unreadable" for r in reports):
        raise typer.Exit(1)


@app.command("sheet")
def sheet(
    paths: list[Path] = typer.Argument(..., help="Motion files or folders."),
    out: Path = typer.Option(..., "--out", help="PNG to write."),
    clips: int = typer.Option(4, "--clips", min=1, help="Clips to show (spread over the files found)."),
    frames: int = typer.Option(3, "--frames", min=1, help="Frames per clip."),
    size: int = typer.Option(200, "--size", min=64, max=1024, help="Tile size in pixels."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No output but errors."),
) -> None:
    """A contact sheet of retargeted frames: the anny24 body (front + side) with the capture's
    scaled joints as red dots, to check a skeleton family retargets right."""
    from meshvid.motion.corpus import default_rest_joints, discover, load_clip
    from meshvid.motion.preview import contact_sheet

    rest = default_rest_joints()
    found = [(f, Path(p)) for p in paths for f in discover(p)]
    if not found:
        raise typer.BadParameter("no motion files found", param_hint="PATHS")
    pick = [found[int(i)] for i in np.linspace(0, len(found) - 1, min(clips, len(found)))]
    results = []
    for f, root in pick:
        res, rep = load_clip(f, root, rest, max_error_mm=float("inf"))
        if res is None:
            if not quiet and not json_out:
                console.print(f"[red]skip[/] {rep.reason}", highlight=False, soft_wrap=True)
        else:
            results.append(res)
    if not results:
        raise typer.Exit(1)
    png = contact_sheet(results, out, frames_per_clip=frames, columns=frames, size=size)
    if json_out:
        emit_json({"output": str(png), "clips": [r.clip.name for r in results]})
    elif not quiet:
        console.print(f"wrote {png}")
