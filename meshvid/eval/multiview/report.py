"""Tables, report (Markdown + JSON) and plots of a multi-camera evaluation, written atomically.

Files in the output folder: `results.json` (the summary plus every camera-person pair),
`report.md`, `error_over_time.png` (PA-MPJPE and MPJPE per frame, one panel per camera and
person), `per_joint.png` (mean root-aligned error per joint).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from meshvid.body.joints import COCO_17
from meshvid.eval.multiview.metrics import JOINT_SETS
from meshvid.eval.multiview.score import CENTRES, CONSTANT, MESH, PairResult
from meshvid.export.atomic import atomic_output, write_text_atomic

HEADERS = (("mpjpe", "MPJPE (mm)"), ("pa_mpjpe", "PA-MPJPE (mm)"), ("accel", "accel (mm/f²)"),
           ("trunk_pitch_deg", "trunk pitch (°)"),
           ("overlay_pct", "2D overlay (% h)"), ("detector_pct", "detector 2D (% h)"),
           ("overlay_vs_detector", "overlay / detector"), ("coverage", "coverage"),
           ("main_track_coverage", "main track"))


def _fmt(key: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if key in ("coverage", "main_track_coverage"):
        return f"{100 * v:.1f} %"
    if key == "overlay_vs_detector":
        return f"{v:.2f}x"
    if key.endswith("_deg"):
        return f"{v:+.1f}"
    if key.endswith("_pct"):
        return f"{v:.2f}"
    return f"{v:.1f}"


def overall_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(row label, means) for the overall table: each variant's mesh keypoints and joint
    centres, then the constant pose."""
    rows = []
    for label, v in summary["variants"].items():
        rows.append((f"{label} · {MESH}", v[MESH]))
        rows.append((f"{label} · {CENTRES}", v[CENTRES]))
    if summary.get(CONSTANT):
        rows.append((CONSTANT, summary[CONSTANT]))
    return rows


def overall_markdown(summary: dict[str, Any]) -> str:
    lines = ["| row | pairs | " + " | ".join(h for _, h in HEADERS) + " |",
             "|---|---:|" + "---:|" * len(HEADERS)]
    for label, m in overall_rows(summary):
        lines.append(f"| {label} | {m['pairs']} | " +
                     " | ".join(_fmt(k, m.get(k)) for k, _ in HEADERS) + " |")
    return "\n".join(lines)


# short headers for the terminal (the report spells them out)
SHORT = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "accel": "accel", "trunk_pitch_deg": "pitch°",
         "overlay_pct": "2D %h", "detector_pct": "det %h", "overlay_vs_detector": "ratio",
         "coverage": "cover", "main_track_coverage": "main"}


def overall_rich(summary: dict[str, Any]):
    """The overall table for the terminal (a rich Table, ~110 columns): mm, mm/frame², degrees,
    % of the person's height."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"{summary['root']}: {summary['joints']}, mean over camera-person "
                        "pairs (mm, mm/frame², °, % of height)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("variant")
    table.add_column("joints")
    for k, _ in HEADERS:
        table.add_column(SHORT[k], justify="right")
    for label, m in overall_rows(summary):
        variant, _, source = label.rpartition(" · ")
        table.add_row(variant or label, {MESH: "mesh kp", CENTRES: "centres"}.get(source, ""),
                      *[_fmt(k, m.get(k)).replace(" %", "%") for k, _ in HEADERS],
                      style="dim" if source == CENTRES else None)
    return table


def pair_dict(p: PairResult) -> dict[str, Any]:
    def num(x):
        return None if x is None or not np.isfinite(x) else round(float(x), 3)

    return {
        "camera": p.camera, "person": p.person, "frames_in_image": p.frames_in_image,
        "frames_scored": p.frames_scored, "coverage": num(p.coverage),
        "main_track_coverage": num(p.main_track_coverage), "track_ids": p.track_ids,
        "detector_px": num(p.detector_px), "detector_pct": num(p.detector_pct),
        "methods": {k: {"mpjpe": num(m.mpjpe), "pa_mpjpe": num(m.pa_mpjpe),
                        "accel": num(m.accel), "trunk_pitch_deg": num(m.pitch),
                        "overlay_px": num(m.overlay_px),
                        "overlay_pct": num(m.overlay_pct),
                        "per_joint": {COCO_17[j]: num(e) for j, e in enumerate(m.per_joint)
                                      if np.isfinite(e)}}
                    for k, m in p.methods.items()},
    }


def pair_markdown(pairs: list[PairResult]) -> str:
    lines = ["| camera | person | in image | scored | coverage | main track | tracks | MPJPE | "
             "PA-MPJPE | accel | overlay (% h) | detector (% h) | const. MPJPE | "
             "const. PA-MPJPE |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p in pairs:
        m, c = p.methods[MESH], p.methods[CONSTANT]
        lines.append(
            f"| {p.camera} | {p.person} | {p.frames_in_image} | {p.frames_scored} | "
            f"{_fmt('coverage', p.coverage)} | {_fmt('coverage', p.main_track_coverage)} | "
            f"{', '.join(map(str, p.track_ids)) or '–'} | {_fmt('mpjpe', m.mpjpe)} | "
            f"{_fmt('pa', m.pa_mpjpe)} | {_fmt('accel', m.accel)} | "
            f"{_fmt('overlay_pct', m.overlay_pct)} | {_fmt('detector_pct', p.detector_pct)} | "
            f"{_fmt('mpjpe', c.mpjpe)} | {_fmt('pa', c.pa_mpjpe)} |")
    return "\n".join(lines)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def plot_over_time(out_dir: Path, results, fps: float | None) -> Path:
    """PA-MPJPE (solid) and MPJPE (thin) per frame, one panel per camera-person pair, one
    colour per variant, the constant pose in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = results[0].pairs
    n = len(first)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 2.6 * rows), squeeze=False,
                             sharex=True)
    colours = plt.cm.tab10(np.arange(len(results)) % 10)
    for i, p0 in enumerate(first):
        ax = axes[i // cols, i % cols]
        t = np.arange(len(p0.methods[MESH].series["pa_mpjpe"]))
        x = t / fps if fps else t
        for vr, colour in zip(results, colours):
            p = vr.pairs[i]
            s = p.methods[MESH].series
            ax.plot(x, s["pa_mpjpe"], color=colour, lw=1.3, label=f"{vr.variant.label} PA")
            ax.plot(x, s["mpjpe"], color=colour, lw=0.7, ls=":", label=f"{vr.variant.label} MPJPE")
        c = p0.methods[CONSTANT].series
        ax.plot(x, c["pa_mpjpe"], color="0.45", lw=1.0, label="constant pose PA")
        ax.plot(x, c["mpjpe"], color="0.45", lw=0.7, ls=":", label="constant pose MPJPE")
        ax.set_title(f"{p0.camera} · {p0.person} (coverage {100 * p0.coverage:.0f} %)",
                     fontsize=9)
        ax.set_ylabel("mm")
        ax.set_ylim(0, max(300.0, float(np.nanpercentile(
            np.concatenate([vr.pairs[i].methods[MESH].series["mpjpe"] for vr in results]
                           + [c["mpjpe"]]), 99)) if np.isfinite(c["mpjpe"]).any() else 300.0))
        ax.grid(alpha=0.3)
    for j in range(n, rows * cols):
        axes[j // cols, j % cols].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("seconds" if fps else "frame")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.02 + 0.025 * ((len(labels) + 3) // 4), 1, 1))
    return _save(fig, out_dir / "error_over_time.png")


def plot_per_joint(out_dir: Path, results, joints: str) -> Path:
    """Mean root-aligned error per joint (mean over pairs), per variant and the constant pose."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    js = list(JOINT_SETS[joints])

    def mean(rows: list[np.ndarray]) -> np.ndarray:
        with warnings.catch_warnings():  # a joint no pair scored stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(rows, axis=0) if rows else np.full(17, np.nan)

    series = [(vr.variant.label, mean([p.methods[MESH].per_joint for p in vr.pairs
                                       if p.frames_scored])) for vr in results]
    series.append((CONSTANT, mean([p.methods[CONSTANT].per_joint for p in results[0].pairs
                                   if p.frames_scored])))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.75 * len(js)), 3.8))
    width = 0.8 / len(series)
    colours = list(plt.cm.tab10(np.arange(len(results)) % 10)) + ["0.55"]
    for k, ((label, vals), colour) in enumerate(zip(series, colours)):
        ax.bar(np.arange(len(js)) + (k - (len(series) - 1) / 2) * width, vals[js], width,
               label=label, color=colour)
    ax.set_xticks(np.arange(len(js)), [COCO_17[j].replace("_", " ") for j in js], rotation=35,
                  ha="right", fontsize=8)
    ax.set_ylabel("mid-hip-aligned error (mm)")
    ax.set_title("per-joint error (camera orientation, no rotation alignment), mean over "
                 "camera-person pairs (mesh keypoints)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_dir / "per_joint.png")


def write_report(out_dir: Path, data, results, opts, summary: dict[str, Any]) -> dict[str, Any]:
    """Write results.json, report.md and the plots; returns {"report", "json", "plots"}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fps = next((r.fps for r in data.references if r.fps), None)
    plots = [plot_over_time(out_dir, results, fps), plot_per_joint(out_dir, results, opts.joints)]
    parts = [f"# meshvid eval: multiview `{data.root}`", "",
             f"Cameras: {', '.join(data.videos)}; reference people: "
             f"{', '.join(r.name for r in data.references)}; joint "
             f"set `{opts.joints}`; references in the `{data.axes}` axes; match distance "
             f"{opts.max_distance:g} of the person's height; scored tracks: "
             f"{'the main one per person' if opts.main_track_only else 'every matched one'}. "
             "Means over camera-person pairs "
             "(docs/eval-multiview.md has every definition).", ""]
    parts += [f"- {n}" for n in data.notes] + ([""] if data.notes else [])
    parts += ["## Overall", "", overall_markdown(summary), "",
              "Commands (add the same DIR and scoring flags):", ""]
    for label, v in summary["variants"].items():
        command = f"meshvid eval --dataset multiview DIR {v['command']}".strip()
        parts.append(f"- {label}: `{command}`")
    parts.append("")
    for vr in results:
        parts += [f"## {vr.variant.label}: per camera and person (mesh keypoints)", "",
                  pair_markdown(vr.pairs), ""]
    parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    report = out_dir / "report.md"
    write_text_atomic(report, "\n".join(parts))
    full = {**summary, "report": str(report), "plots": [str(p) for p in plots],
            "pairs": {vr.variant.label: [pair_dict(p) for p in vr.pairs] for vr in results}}
    path = out_dir / "results.json"
    write_text_atomic(path, json.dumps(full, indent=1, default=str) + "\n")
    return {"report": str(report), "json": str(path), "plots": [str(p) for p in plots]}
