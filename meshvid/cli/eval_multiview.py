"""The body of `meshvid eval --dataset multiview DIR` (options are declared in cli/eval.py)."""

from __future__ import annotations

import time
from pathlib import Path

from meshvid.errors import InputError


class _Bars:
    """Two rich bars: the camera runs (variant x camera) and the pipeline stage within one."""

    def __init__(self, progress) -> None:
        self.progress = progress
        self.outer = progress.add_task("cameras", total=1, rate="")
        self.inner = None
        self.started = 0.0
        self.label = ""

    def camera(self, label: str, done: int, total: int) -> None:
        self.label = label
        self.progress.update(self.outer, completed=done, total=total,
                             description=f"cameras: {label}" if done < total else "cameras")

    @property
    def stages(self) -> "_Bars":
        return self

    # meshvid.pipeline.infer.Progress
    def start(self, name: str, total: int | None) -> None:
        if self.inner is None:
            self.inner = self.progress.add_task(name, total=total, rate="")
        self.progress.reset(self.inner, total=total, description=f"  {name}")
        self.started = time.perf_counter()

    def advance(self, done: int) -> None:
        dt = time.perf_counter() - self.started
        self.progress.update(self.inner, completed=done,
                             rate=f"{done / dt:5.1f} fps" if dt > 0 else "")


def run_multiview_cli(root: Path | None, out: Path | None, weights: list[str],
                      variants: list[str], temporal: bool, refine: bool, joints: str,
                      reference_axes: str, cameras: list[str], rerun: bool,
                      match_distance: float | None, infer_overrides: dict, quiet: bool,
                      json_out: bool, calibrated_focal: bool = False,
                      main_track_only: bool = False, keypoints: str = "detector") -> None:
    """Parse the multiview options into records, run, print the table."""
    from rich.console import Console

    from meshvid.cli.common import console, emit_json, make_progress
    from meshvid.eval.multiview.dataset import load_multiview
    from meshvid.eval.multiview.matching import MAX_MATCH_DISTANCE
    from meshvid.eval.multiview.report import overall_rich
    from meshvid.eval.multiview.run import MultiviewOptions, make_variants, run_multiview
    from meshvid.eval.run import parse_weights
    from meshvid.pipeline.infer import InferOptions

    if root is None:
        raise InputError("give the evaluation folder: meshvid eval --dataset multiview DIR "
                         "(calibration.toml, videos/, reference/; docs/eval-multiview.md)")
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder (expected calibration.toml, videos/ and "
                         "reference/; docs/eval-multiview.md)")
    if calibrated_focal and infer_overrides.get("focal"):
        raise InputError("give --focal or --calibrated-focal, not both")
    out = out or Path("out") / f"eval-{root.resolve().name}"
    weight_list = [(label, p) for label, p in parse_weights(weights)] if weights else []
    if len(weight_list) <= 1:
        weight_list = [("", weight_list[0][1] if weight_list else None)]
    names = variants or [("dsd+satn" if temporal else "dsd") + ("+refine" if refine else "")]
    base = InferOptions(**{k: v for k, v in infer_overrides.items() if v is not None})
    def flag(k: str, v) -> str:
        name = k.replace("_", "-")
        return (f"--{name}" if v else f"--no-{name}") if isinstance(v, bool) else f"--{name} {v}"

    flags = " ".join([flag(k, v) for k, v in infer_overrides.items() if v is not None]
                     + (["--calibrated-focal"] if calibrated_focal else [])
                     + ([f"--keypoints {keypoints}"] if keypoints != "detector" else []))
    opts = MultiviewOptions(joints=joints, axes=reference_axes, cameras=list(cameras) or None,
                            refresh=rerun, calibrated_focal=calibrated_focal,
                            main_track_only=main_track_only, keypoints=keypoints,
                            max_distance=match_distance if match_distance else MAX_MATCH_DISTANCE)
    opts.validate()
    variant_list = make_variants(names, base, weight_list, flags)
    data = load_multiview(root, opts.axes, opts.cameras)  # bad input fails before any bar
    with make_progress(quiet) as progress:
        summary = run_multiview(data, out, variant_list, opts,
                                None if quiet else _Bars(progress))
    if json_out:
        emit_json(summary)
        return
    if not quiet:
        for note in summary["notes"]:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        # the table needs ~110 columns; a log file (not a terminal) gets them
        wide = console if console.is_terminal else Console(stderr=True, width=120)
        wide.print(overall_rich(summary))
        console.print(f"report: {summary['report']} ({summary['seconds']:.0f} s)",
                      highlight=False)
