"""`meshvid export results.npz --format fbx,glb,bvh`: animation files for Blender, Unity, Unreal."""

from __future__ import annotations

from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json, make_progress


def output_stem(results: Path, output: str | None, formats: list[str]) -> Path:
    """-o may be a folder (existing, or written with a trailing slash), a file name whose
    extension is one of the formats, or a stem to which each format adds its extension."""
    if output is None:
        return results.with_suffix("")
    path = Path(output)
    if path.is_dir() or output.endswith(("/", "\\")):
        return path / results.stem
    if path.suffix.lower().lstrip(".") in formats:
        return path.with_suffix("")
    return path


def export(
    results: Path = typer.Argument(..., help="Motion NPZ written by `meshvid infer`."),
    format: str = typer.Option("fbx", "--format", "-f",
                               help="Comma-separated: fbx, glb, bvh, blend."),
    preset: str = typer.Option("blender", "--preset", "-p",
                               help="Axes/units for the target: blender, unity or unreal."),
    track_ids: str = typer.Option(None, "--track-ids", help="Only these tracks, e.g. 1,3."),
    output: str = typer.Option(None, "--output", "-o",
                                help="Output stem, file or folder (default: beside the NPZ)."),
    level: bool = typer.Option(False, "--level/--no-level",
                               help="Remove the camera's pitch/roll estimated from the people."),
    camera: bool = typer.Option(True, "--camera/--no-camera",
                                help="Include the video camera (FBX, GLB, .blend)."),
    rig: str = typer.Option("smpl", "--rig",
                            help="Bone names, hierarchy and rest pose: smpl, mixamo or ue5."),
    root_bone: bool = typer.Option(False, "--root-bone",
                                   help="Add a floor-level root bone carrying the horizontal "
                                        "root motion (always on for --rig ue5)."),
    foot_lock: bool = typer.Option(True, "--foot-lock/--no-foot-lock",
                                   help="Pin feet to the floor during detected contacts."),
    smpl_dir: Path = typer.Option(None, "--smpl-dir",
                                  help="SMPL model folder, for results made with --body-model smpl."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Write every tracked person (skinned mesh + armature, root motion, source frame rate) to
    FBX / GLB / .blend in one file, and one BVH per person; feet locked to the floor during
    contacts unless --no-foot-lock."""
    import time

    from meshvid.export.exporter import BLENDER_FORMATS, export_motion, parse_formats, \
        parse_track_ids
    from meshvid.export.npz import load_npz
    from meshvid.export.presets import get_preset

    t0 = time.perf_counter()
    formats = parse_formats(format)
    ids = parse_track_ids(track_ids)
    get_preset(preset)
    from meshvid.export.skeletons import rig_spec

    rig_spec(rig)  # an unknown rig fails before the NPZ is read
    result = load_npz(results)
    result.select_tracks(ids)  # unknown track ids fail here, before any work
    stem = output_stem(results, output, formats)
    from meshvid.io.outputs import check_output_dir

    check_output_dir(stem.parent)  # writable, with room, before Blender starts
    stages = 1 + ("bvh" in formats) + (
        2 + sum(f in BLENDER_FORMATS for f in formats) if any(f in BLENDER_FORMATS
                                                              for f in formats) else 0)
    with make_progress(quiet) as progress:
        task = progress.add_task("export", total=stages, rate="")

        def on_stage(name: str) -> None:
            progress.update(task, advance=1, rate=name)

        report = export_motion(result, formats, stem, preset=preset, track_ids=ids,
                               smpl_dir=smpl_dir, level=level, with_camera=camera,
                               rig=rig, root_bone=root_bone, foot_lock=foot_lock,
                               on_stage=on_stage)
        progress.update(task, completed=stages)
    elapsed = time.perf_counter() - t0
    above = report.notes.get("floor_above_camera_m")
    if above is not None and not quiet:
        console.print(f"[yellow]note:[/] the people stand {above:.2f} m above the camera (on a "
                      "platform or stage, or the camera looks up: try --level); the exported "
                      "floor is at their feet and the camera below it", highlight=False)
    if json_out:
        emit_json({**report.to_dict(), "elapsed_s": round(elapsed, 3)})
    elif not quiet:
        people = ", ".join(str(t) for t in report.track_ids)
        console.print(
            f"wrote {len(report.files)} file(s) for track(s) {people}, frames "
            f"{report.frames[0]}-{report.frames[1]} at {result.fps:g} fps, preset "
            f"{report.preset}, rig {report.rig}, in {elapsed:.1f} s:", highlight=False)
        if "foot_slide_mm_after" in report.notes:
            n = report.notes
            console.print(
                f"  foot lock: slide {n['foot_slide_mm_before']:.1f} -> "
                f"{n['foot_slide_mm_after']:.1f} mm/frame, contact height "
                f"{n['foot_height_cm_before']:.1f} -> {n['foot_height_cm_after']:.1f} cm",
                highlight=False)
        for f in report.files:
            console.print(f"  {f}", highlight=False)
