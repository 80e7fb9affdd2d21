"""Training log: one CSV row per logged step (stage, epoch, step, lr, every loss term, time)
and PNG curves drawn from it (matplotlib, Agg)."""

from __future__ import annotations

import csv
import time
from pathlib import Path


# Columns written once per DSD epoch by meshvid.model.diagnostics (fractions / ratios, not losses).
HEALTH_STAGE = "dsd-health"  # the `stage` value of those rows
HEALTH_COLUMNS = ("detail_active", "detail_alive", "skeleton_active", "detail_dependence",
                  "skeleton_dependence")


class CSVLog:
    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled
        self.t0 = time.time()

    def write(self, row: dict[str, float | int | str]) -> None:
        if not self.enabled:
            return
        row = {"time_s": round(time.time() - self.t0, 2), **row}
        rows = read_log(self.path) if self.path.exists() else []
        fields = list(dict.fromkeys([k for r in rows for k in r] + list(row)))
        new_cols = rows and any(k not in rows[0] for k in row)
        if new_cols or not self.path.exists():
            # Rewrite with the union of columns (stages log different loss terms).
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=fields)
                w.writeheader()
                for r in rows + [row]:
                    w.writerow(r)
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else fields).writerow(row)


def read_log(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_curves(log_path: Path, out_path: Path) -> Path | None:
    """One panel per stage: every loss term (log scale) against the global step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not log_path.exists():
        return None
    rows = read_log(log_path)
    stages = list(dict.fromkeys(r["stage"] for r in rows if r["stage"] != HEALTH_STAGE))
    if not stages:
        return None
    health = [r for r in rows if r["stage"] == HEALTH_STAGE]
    panels = len(stages) + (1 if health else 0)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    skip = {"time_s", "stage", "epoch", "step", "lr", "skipped_batches", *HEALTH_COLUMNS}
    if health:  # the DSD's branch health per epoch (meshvid.model.diagnostics), linear scale
        ax = axes[0][-1]
        epochs = [int(r["epoch"]) + 1 for r in health]
        for key in HEALTH_COLUMNS:
            vals = [(e, float(r[key])) for e, r in zip(epochs, health) if r.get(key) not in ("", None)]
            if vals:
                ax.plot([e for e, _ in vals], [v for _, v in vals], "o-", label=key, lw=1)
        ax.set_title("DSD branch health (end of each epoch)")
        ax.set_xlabel("epoch")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax, stage in zip(axes[0], stages):
        sr = [r for r in rows if r["stage"] == stage]
        steps = [int(r["step"]) for r in sr]
        for key in sr[0]:
            if key in skip:
                continue
            vals = [(s, float(r[key])) for s, r in zip(steps, sr) if r.get(key) not in ("", None)]
            if vals and all(v > 0 for _, v in vals):
                ax.plot([s for s, _ in vals], [v for _, v in vals], label=key, lw=1)
        ax.set_yscale("log")
        ax.set_title(f"stage {stage}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, out_path)


def save_figure(fig, out_path: Path, dpi: int = 90) -> Path:
    """Write a matplotlib figure as PNG atomically (temp file, then rename) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.stem}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path
