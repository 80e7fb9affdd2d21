"""The evaluation report: markdown tables like the paper's Tables 2-5 and PNG plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meshvid.eval.evaluate import METRICS, EvalResult
from meshvid.model.checkpoint import atomic_write_bytes

HEADERS = {"mpjpe": "MPJPE (mm)", "pa_mpjpe": "PA-MPJPE (mm)", "pve": "PVE (mm)",
           "mpjve": "MPJVE (mm/s)", "mpjae": "MPJAE (mm/s²)"}


def _fmt(v: float | None) -> str:
    return "–" if v is None or not np.isfinite(v) else (f"{v:.1f}" if v < 1000 else f"{v:.0f}")


def overall_table(res: EvalResult) -> str:
    keys = [k for k in METRICS if any(k in o for o in res.overall.values())]
    lines = ["| method | " + " | ".join(HEADERS[k] for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for name, o in res.overall.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(o.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def group_table(res: EvalResult, metric: str) -> str:
    """Methods x groups (motion clips / actions) for one metric, with the average (Table 4/5)."""
    groups = sorted({g for per in res.per_group.values() for g in per})
    lines = ["| method | " + " | ".join(groups) + " | avg |",
             "|---|" + "---:|" * (len(groups) + 1)]
    for name, per in res.per_group.items():
        cells = [_fmt(per.get(g, {}).get(metric)) for g in groups]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_fmt(res.overall[name].get(metric))} |")
    return "\n".join(lines)


def sequence_table(res: EvalResult, metric: str) -> str:
    seqs = sorted({s for per in res.per_sequence.values() for s in per})
    names = list(res.per_sequence)
    lines = ["| sequence | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for s in seqs:
        lines.append(f"| {s} | " + " | ".join(_fmt(res.per_sequence[n].get(s, {}).get(metric))
                                           for n in names) + " |")
    return "\n".join(lines)


def plot_report(res: EvalResult, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    names = list(res.overall)
    keys = [k for k in METRICS if all(k in res.overall[n] for n in names)]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.4), squeeze=False)
    for ax, k in zip(axes[0], keys):
        vals = [res.overall[n][k] for n in names]
        ax.bar(range(len(names)), vals, color=plt.cm.tab10(np.arange(len(names)) % 10))
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
        ax.set_title(HEADERS[k], fontsize=9)
        for i, v in enumerate(vals):
            ax.text(i, v, _fmt(v), ha="center", va="bottom", fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "metrics.png"))
    # A joint's trajectory for a few sequences: smoothness is visible here, not in a mean.
    gt = res.series.get("ground truth", {})
    seqs = list(gt)[:3]
    if seqs:
        fig, axes = plt.subplots(len(seqs), 1, figsize=(9, 2.6 * len(seqs)), squeeze=False)
        wrist = 6  # LSP-14 right wrist
        for ax, s in zip(axes[:, 0], seqs):
            for n, per in res.series.items():
                if s in per:
                    traj = per[s][:, wrist] - per[s][:, 2:4].mean(1)  # relative to mid-hip
                    ax.plot(traj[:, 1] * 1000, label=n, lw=2.0 if n == "ground truth" else 1.0,
                            color="k" if n == "ground truth" else None)
            ax.set_title(f"{s}: right wrist height relative to the hips (mm, y down)", fontsize=9)
            ax.set_xlabel("frame")
            ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / "trajectories.png"))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_report(res: EvalResult, out_dir: Path, title: str, notes: str = "") -> Path:
    plots = plot_report(res, out_dir)
    parts = [f"# {title}", "", notes, "",
             f"{res.sequences} sequences, {res.frames} frames.", "", "## Overall", "",
             overall_table(res), ""]
    for metric in ("pa_mpjpe", "mpjpe", "mpjve", "mpjae"):
        if any(metric in o for o in res.overall.values()):
            parts += [f"## {HEADERS[metric]} per motion group", "", group_table(res, metric), ""]
    parts += ["## PA-MPJPE (mm) per sequence", "", sequence_table(res, "pa_mpjpe"), ""]
    parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    path = out_dir / "report.md"
    atomic_write_bytes(path, "\n".join(parts).encode())
    return path
