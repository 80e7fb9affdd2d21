"""The `meshvid` command. Thin: each sub-command parses its options and calls the library.

Sub-commands live one per module in meshvid/cli/ and are registered below.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings


def _early_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    """Ctrl-C or SIGTERM while the command is still loading (nothing started, nothing written):
    one line and the conventional exit code, not an import traceback."""
    message = ("terminated" if signum == signal.SIGTERM else "interrupted") + \
        " while starting: nothing was written"
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    if "--json" in sys.argv[1:]:
        sys.stdout.write(f'{{"error": "{message}", "code": "interrupted", '
                         f'"exit_code": {128 + signum}}}\n')
        sys.stdout.flush()
    os._exit(128 + signum)


# Only when this process is the `meshvid` command (console script or `python -m`), not when a
# library user or a test imports this module; run() installs the real handlers.
if (__name__ == "__main__" or os.path.basename(sys.argv[0]) == "meshvid") and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGTERM, _early_signal)
    signal.signal(signal.SIGINT, _early_signal)

import click  # noqa: E402 - after the early signal handlers: these imports take seconds
import typer  # noqa: E402

from meshvid.errors import MeshvidError  # noqa: E402

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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally`/`with` on the way out removes its
    partial files (the default SIGTERM action would kill the process on the spot)."""


_signal_received: list[int] = []


# After a signal the run unwinds (every `finally` removes its partial file); if it has not
# exited after this long (an exception swallowed in third-party code, a stuck C call), or on a
# second signal, the partial files are removed directly and the process exits.
UNWIND_GRACE_S = 60.0


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    first = not _signal_received
    _signal_received.append(signum)
    if not first:
        _hard_exit(signum)
    import threading

    timer = threading.Timer(UNWIND_GRACE_S, _hard_exit, args=(signum,))
    timer.daemon = True
    timer.start()
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _hard_exit(signum: int) -> None:
    from meshvid.io.outputs import remove_own_partials

    remove_own_partials()
    name = "terminated" if signum == signal.SIGTERM else "interrupted"
    sys.stderr.write(f"error: {name}: partial files were removed (forced exit)\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from meshvid.cli.common import console
    from meshvid.errors import MeshvidWarning

    if issubclass(category, MeshvidWarning):
        console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _fail(message: str, code: str, exit_code: int, json_mode: bool) -> None:
    """One line on stderr (and the JSON error object on stdout under --json), then exit."""
    from rich.text import Text

    from meshvid.cli.common import console, emit_json

    console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False,
                  soft_wrap=True)
    if json_mode:
        emit_json({"error": message, "code": code, "exit_code": exit_code})
    sys.exit(exit_code)


def run() -> None:
    """Entry point: expected failures print one line and exit non-zero, without a traceback.

    Under `--json` every expected failure also prints `{"error": ..., "code": ...,
    "exit_code": ...}` on stdout. SIGINT exits 130 and SIGTERM 143, after the partial files
    are removed.
    """
    from meshvid.io.outputs import os_error

    json_mode = "--json" in sys.argv[1:]
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    warnings.showwarning = _show_warning
    try:
        exit_code = app(standalone_mode=False)
    except MeshvidError as err:
        _fail(str(err), err.code, err.exit_code, json_mode)
    except click.exceptions.NoArgsIsHelpError as err:
        err.show()
        sys.exit(err.exit_code)
    except click.ClickException as err:
        # a bad option or argument: click's own one-line message, plus where to look
        ctx = getattr(err, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _fail(err.format_message().replace("\n", " ") + hint, "usage", err.exit_code,
              json_mode)
    except (click.exceptions.Abort, KeyboardInterrupt):
        exit_code = 130
    except OSError as err:
        mapped = os_error(err)
        if mapped is None:
            raise
        _fail(str(mapped), mapped.code, mapped.exit_code, json_mode)
    if exit_code == 130 or _signal_received:
        term = bool(_signal_received) and _signal_received[0] == signal.SIGTERM
        _fail(("terminated" if term else "interrupted") + ": partial files were removed; "
              "complete outputs of finished stages were kept", "interrupted",
              143 if term else 130, json_mode)
    sys.exit(exit_code or 0)


if __name__ == "__main__":
    run()
