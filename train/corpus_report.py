"""One row per model, one column per held-out corpus: single-frame DSD errors with the detector's
keypoints on every held-out set (issue 13's corpus table).

    python train/corpus_report.py --weights shipped=weights/dsd_satn_cpu \
        --weights dm=runs/corpus_dm/dsd.safetensors --out runs/corpus_report

Each cell is `meshvid eval --dataset synthetic --data ROOT --weights W --json` (YOLO11n-pose's own
keypoints on the renders), single-frame output only. "all" is the mean over the frames of every
set. Held-out sets: data/cpu (DeepMimic) and data/heldout/<corpus> (train/reproduce_cpu.sh).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SETS = {"DeepMimic": "data/cpu", "CMU s03": "data/heldout/cmu", "cmu8 test": "data/heldout/cmu8",
        "Bandai (NC)": "data/heldout/bandai"}


def single_frame(overall: dict) -> dict:
    """The single-frame DSD row of an eval result (no SATN, filter or refinement)."""
    for name, row in overall.items():
        if "+" not in name and (name.endswith("(single-frame)") or "SATN" not in name):
            return row
    raise KeyError(f"no single-frame row among {list(overall)}")


def eval_cell(weights: str, root: str) -> dict:
    cmd = [str(Path(sys.executable).parent / "meshvid"), "eval", "--dataset", "synthetic", "--data", root,
           "--weights", weights, "--json", "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"eval failed ({' '.join(cmd)}):\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout)
    row = single_frame(res["overall"])
    return {"frames": res["frames"], "pa_mpjpe": row["pa_mpjpe"], "mpjpe": row["mpjpe"]}


def markdown(table: dict) -> str:
    sets = [s for s in SETS if any(s in r for r in table.values())]
    head = "| model | " + " | ".join(f"{s} PA / MPJPE" for s in sets) + " | all PA / MPJPE |"
    lines = [head, "|---|" + "---:|" * (len(sets) + 1)]
    for label, row in table.items():
        cells, n, pa, mp = [], 0, 0.0, 0.0
        for s in sets:
            c = row.get(s)
            if c is None:
                cells.append("—")
                continue
            cells.append(f"{c['pa_mpjpe']:.1f} / {c['mpjpe']:.1f}")
            n += c["frames"]
            pa += c["pa_mpjpe"] * c["frames"]
            mp += c["mpjpe"] * c["frames"]
        cells.append(f"{pa / n:.1f} / {mp / n:.1f}" if n else "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(table: dict, path: Path) -> None:
    """Grouped bars: PA-MPJPE and MPJPE per held-out corpus, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sets = [s for s in SETS if any(s in r for r in table.values())]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), dpi=110)
    width = 0.8 / max(len(table), 1)
    for ax, metric, name in ((axes[0], "pa_mpjpe", "PA-MPJPE (mm)"), (axes[1], "mpjpe", "MPJPE (mm)")):
        for i, (label, row) in enumerate(table.items()):
            vals = [row[s][metric] if s in row else np.nan for s in sets]
            ax.bar(np.arange(len(sets)) + (i - (len(table) - 1) / 2) * width, vals, width, label=label)
        ax.set_xticks(np.arange(len(sets)), sets)
        ax.set_ylabel(name)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("single-frame DSD on each corpus's held-out renders (YOLO11n-pose keypoints)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", action="append", required=True, help="label=path (repeatable)")
    ap.add_argument("--out", default="runs/corpus_report")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cells.json"
    cells = json.loads(cache.read_text()) if cache.is_file() else {}
    table: dict = {}
    for item in args.weights:
        label, _, path = item.partition("=")
        table[label] = {}
        for name, root in SETS.items():
            if not (Path(root) / "heldout_seq").is_dir():
                continue
            key = f"{path}|{root}|{Path(path).stat().st_mtime_ns if Path(path).exists() else 0}"
            if key not in cells:
                cells[key] = eval_cell(f"{label}={path}", root)
                cache.write_text(json.dumps(cells, indent=1))
            table[label][name] = cells[key]
            c = cells[key]
            print(f"{label:>20} {name:>12}: PA-MPJPE {c['pa_mpjpe']:.1f} MPJPE {c['mpjpe']:.1f} mm", flush=True)
    md = markdown(table)
    (out / "table.md").write_text(md)
    (out / "table.json").write_text(json.dumps(table, indent=1))
    plot(table, out / "corpus_table.png")
    print(md)


if __name__ == "__main__":
    main()
