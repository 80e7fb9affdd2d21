"""The `meshvid` command. Thin: each sub-command parses its options and calls the library.

Sub-commands live one per module in meshvid/cli/ and are registered below.
"""

from __future__ import annotations

import os
import sys

import typer

from meshvid.errors import MeshvidError

# Headless rendering everywhere unless the user chose otherwise (set before OpenGL loads).
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

app = typer.Typer(
    name="meshvid",
    help="Animated 3D human body meshes from monocular video (DSD-SATN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from meshvid import __version__

        typer.echo(f"meshvid {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Animated 3D human body meshes from monocular video (DSD-SATN)."""


def _register() -> None:
    # Imported here so each module owns its command; listed in the order users need them.
    from meshvid.cli import (bench, bench_infer, bench_model, body, doctor, eval as eval_cli,
                             export, infer, smooth, synth, track, train)
    from meshvid.cli import motion as motion_cli
    from meshvid.cli import bench_align

    app.command("infer")(infer.infer)
    app.command("export")(export.export)
    app.command("smooth")(smooth.smooth)
    app.command("track")(track.track)
    app.command("train")(train.train)
    app.command("eval")(eval_cli.eval_cmd)
    app.add_typer(synth.app, name="synth")
    app.add_typer(body.app, name="body")
    app.add_typer(motion_cli.app, name="motion")
    app.command("doctor")(doctor.doctor)
    app.add_typer(bench.app, name="bench")
    bench.app.command("model")(bench_model.bench_model)
    bench.app.command("infer")(bench_infer.bench_infer)
    bench.app.command("align")(bench_align.bench_align)


_register()


def run() -> None:
    """Entry point: expected failures print one line and exit non-zero, without a traceback."""
    from meshvid.cli.common import console

    try:
        app()
    except MeshvidError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: no partial output was kept")
        sys.exit(130)


if __name__ == "__main__":
    run()
