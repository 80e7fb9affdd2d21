"""`meshvid smooth in.npz -o out.npz --method oneeuro|savgol`: extra smoothing of saved motion."""

from __future__ import annotations

from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json


def smooth(
    results: Path = typer.Argument(..., help="Motion NPZ written by `meshvid infer`."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Output NPZ (default: <input>_smooth.npz)."),
    method: str = typer.Option("savgol", "--method", "-m", help="oneeuro or savgol."),
    window: int = typer.Option(9, "--window", help="savgol: window length in frames (odd)."),
    order: int = typer.Option(2, "--order", help="savgol: polynomial order."),
    min_cutoff: float = typer.Option(1.0, "--min-cutoff",
                                     help="oneeuro: rotation cutoff at rest, Hz."),
    beta: float = typer.Option(1.0, "--beta", help="oneeuro: rotation speed coefficient."),
    transl_min_cutoff: float = typer.Option(1.0, "--transl-min-cutoff",
                                            help="oneeuro: translation cutoff at rest, Hz."),
    transl_beta: float = typer.Option(3.0, "--transl-beta",
                                      help="oneeuro: translation speed coefficient."),
    d_cutoff: float = typer.Option(1.0, "--d-cutoff", help="oneeuro: speed filter cutoff, Hz."),
    max_gap: int = typer.Option(10, "--max-gap",
                                help="Split a track where more than this many frames are missing."),
    foot_lock: bool = typer.Option(False, "--foot-lock/--no-foot-lock",
                                   help="After smoothing, pin feet to the floor during detected "
                                        "contacts (exports then keep it as is)."),
    smpl_dir: Path = typer.Option(None, "--smpl-dir",
                                  help="SMPL model folder, for results made with --body-model smpl."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    force: bool = typer.Option(False, "--force", help="Allow -o to overwrite the input NPZ."),
) -> None:
    """Smooth joint rotations (on the rotation manifold) and translations of every track."""
    import time

    from meshvid.export.npz import load_npz, save_npz, summarize
    from meshvid.io.outputs import check_output_file
    from meshvid.smoothing import OneEuroParams, SavGolParams, smooth_result

    t0 = time.perf_counter()
    out = output if output is not None else results.with_name(f"{results.stem}_smooth.npz")
    # before any work: a writable existing folder, not a directory, not the input itself
    check_output_file(out, inputs=(results,), force=force)
    result = load_npz(results)
    name = method.lower().replace("-", "").replace("_", "")
    params = (OneEuroParams(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff,
                            transl_min_cutoff=transl_min_cutoff, transl_beta=transl_beta)
              if name == "oneeuro" else SavGolParams(window=window, order=order))
    body_model = None
    if foot_lock or (result.body_model == "smpl"
                     and any(p.rest_joints is None for p in result.persons)):
        from meshvid.body import load_body_model

        body_model = load_body_model(result.body_model, smpl_dir=smpl_dir) \
            if result.body_model == "smpl" else load_body_model(result.body_model)
    smoothed = smooth_result(result, name, params, max_gap=max_gap, body_model=body_model)
    stats: dict[str, float] = {}
    if foot_lock:
        from meshvid.export.footlock import foot_lock_result

        smoothed, stats = foot_lock_result(smoothed, body_model)
    save_npz(smoothed, out)
    elapsed = time.perf_counter() - t0
    if json_out:
        emit_json({**summarize(smoothed, out), "output": str(out), "elapsed_s": round(elapsed, 3),
                   **{k: round(v, 4) for k, v in stats.items()}})
    elif not quiet:
        console.print(f"wrote {out} ({len(smoothed.persons)} track(s), {name}"
                      f"{', feet locked' if foot_lock else ''}) in {elapsed:.1f} s",
                      highlight=False)
