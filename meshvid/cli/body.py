"""`meshvid body ...`: look at the body model."""

from __future__ import annotations

from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json

app = typer.Typer(help="The body model (anny24 or SMPL): render it posed and reshaped.", no_args_is_help=True)


@app.command("show")
def show(
    out: Path = typer.Option(Path("out/body.png"), "-o", "--out", help="PNG to write."),
    pose: str = typer.Option("rest", "--pose", help="Preset (rest, a, walk, sit, wave) or an .npy of 24x3 axis-angle."),
    betas: str = typer.Option("", "--betas", help="Comma-separated shape coefficients, e.g. '1.5,-0.5'."),
    shape_seed: int | None = typer.Option(None, "--shape-seed", help="Random betas ~ N(0,1) from this seed."),
    side: bool = typer.Option(False, "--side", help="Add a side view next to the front view."),
    size: int = typer.Option(512, "--size", min=64, max=4096, help="Height (and width per view) in pixels."),
    model: str = typer.Option("anny24", "--model", help="Body model: anny24 or smpl."),
    smpl_dir: Path | None = typer.Option(None, "--smpl-dir", help="Folder with the SMPL model files (or $MESHVID_SMPL_DIR)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Render the body to a PNG (front view, optionally with a side view)."""
    from meshvid.body import load_body_model
    from meshvid.body.preview import load_pose, parse_betas, posed_vertices, render_body, save_png

    body = load_body_model(model, smpl_dir=smpl_dir)
    pose_arr = load_pose(pose)
    betas_arr = parse_betas(betas, shape_seed)
    verts = posed_vertices(body, pose_arr, betas_arr)
    image = render_body(verts, body.faces, ("front", "side") if side else ("front",), size=size)
    save_png(image, out)
    height = float(verts[:, 1].max() - verts[:, 1].min())
    if not quiet:
        console.print(f"wrote {out} ({body.name}, pose {pose}, {body.num_vertices} vertices, height {height:.2f} m)")
    if json_out:
        emit_json({"output": str(out), "model": body.name, "pose": pose, "betas": betas_arr.tolist(),
                   "num_vertices": body.num_vertices, "height_m": height})
