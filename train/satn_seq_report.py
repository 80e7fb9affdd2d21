"""Table 5 on the issue-15 data (TCN / TCN+self-attention / SATN, one budget) and the fixed
filters tuned on validation, all on the shipped DSD, scored on the held-out sequences with
YOLO11n-pose's keypoints -> a section of docs/ablations.md + docs/img/satn_seq_validation.png.

    python train/satn_seq_report.py [--runs runs] [--data data/cpu] [--docs docs]

Needs the runs of train/satn_seq.yaml, train/satn_seq_tcn.yaml, train/satn_seq_tcn_sa.yaml
(train/train_satn_seq.py) and runs/satn_seq/smoothers.json (train/tune_smoothers.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = (("DSD+TCN", "satn_seq_tcn"), ("DSD+TCN+SA", "satn_seq_tcn_sa"), ("DSD+SATN", "satn_seq"))
BEGIN, END = "<!-- satn_seq: begin (train/satn_seq_report.py) -->", "<!-- satn_seq: end -->"


def run_model(run: Path, dsd_model):
    from safetensors.torch import load_file
    from train_satn_seq import load_config, make_model

    summary = json.loads((run / "summary.json").read_text())
    recipe, _ = load_config(ROOT / "train" / f"{summary['recipe']}.yaml", [])
    model = make_model(recipe, dsd_model)
    state = load_file(str(run / "satn_best.safetensors"))
    model.load_state_dict(state, strict=False)
    return model.float().eval(), summary


def plot_curves(items: list[tuple[str, dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    for label, s in items:
        pts = s["curve"]
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label)
        kept = s["validation"]["epoch"]
        ax.plot([kept], [s["validation"]["pa_mpjpe"]], "*", ms=13, color=line.get_color())
    ax.set_xlabel("epoch (0 = untrained: DSD head on the Savitzky-Golay low-pass)")
    ax.set_ylabel("validation PA-MPJPE (mm)")
    ax.set_title("Stage 3 on skeleton + rendered sequences (star: epoch kept)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--data", default="data/cpu")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "dsd_satn_cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from meshvid.body import load_body_model
    from meshvid.eval.data import synthetic_test_table
    from meshvid.eval.evaluate import Method, evaluate
    from meshvid.model.checkpoint import atomic_write_bytes
    from meshvid.train.export import load_model
    from meshvid.train.recipe import KeypointNoise

    dsd_model = load_model(args.weights)
    tuned = json.loads((args.runs / "satn_seq" / "smoothers.json").read_text())
    table = synthetic_test_table(args.data, dsd_model.dsd, "coco17", ROOT / "runs" / "_cache" / "shards")
    methods = [Method("DSD (single frame)", dsd_model, False)]
    for name in ("savgol", "oneeuro"):
        spec = tuned["best"][name]
        from meshvid.eval.evaluate import parse_smoother

        f, params = parse_smoother(spec)
        methods.append(Method(f"DSD + {spec} (tuned on validation)", dsd_model, False, f, params))
    curves = []
    for label, name in RUNS:
        run = args.runs / name
        if not (run / "summary.json").is_file():
            print(f"skipped {label}: no run in {run}")
            continue
        model, summary = run_model(run, dsd_model)
        methods.append(Method(label, model, True))
        curves.append((label, summary))
    res = evaluate(methods, table, KeypointNoise(kind="measured"), load_body_model("anny24"))
    # The weak-perspective camera path (Θ's s, tx, ty): RMS of its second difference per frame
    # (crop units; 1 = half the crop), a jitter measure for the root's image position and depth.
    from meshvid.eval.evaluate import predict

    cam_jitter = {}
    for m in methods:
        cam = predict(m, table, KeypointNoise(kind="measured")).cam
        acc = [cam[r][2:] - 2 * cam[r][1:-1] + cam[r][:-2] for r in table.sequences() if len(r) >= 3]
        cam_jitter[m.name] = float(torch.cat(acc).square().sum(-1).mean().sqrt())
    img = args.docs / "img" / "satn_seq_validation.png"
    plot_curves(curves, img)
    rows = ["| method | val. PA-MPJPE (mm), epoch kept | MPJPE | PA-MPJPE | PVE | MPJVE (mm/s) | MPJAE (mm/s²) | cam jitter |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    info = {label: s for label, s in curves}
    for m in methods:
        o = res.overall[m.name]
        v = info.get(m.name)
        val = (f"{v['validation']['pa_mpjpe']:.1f}, epoch {v['validation']['epoch']} of "
               f"{len(v['curve']) - 1}" if v else
               f"{tuned['scores'][m.name.split(' ')[2]]['pa_mpjpe']:.1f}" if "tuned" in m.name else
               f"{tuned['single_frame']['pa_mpjpe']:.1f}")
        rows.append(f"| {m.name} | {val} | {o['mpjpe']:.1f} | {o['pa_mpjpe']:.1f} | {o['pve']:.1f} | "
                    f"{o['mpjve']:.0f} | {o['mpjae']:.0f} | {cam_jitter[m.name]:.4f} |")
    text = "\n".join(rows)
    print(text)
    atomic_write_bytes(args.runs / "satn_seq" / "heldout.json",
                       json.dumps({"overall": res.overall, "cam_jitter": cam_jitter, "frames": res.frames,
                                   "sequences": res.sequences}, indent=1).encode())
    doc = args.docs / "ablations.md"
    section = (f"{BEGIN}\n{text}\n\nHeld-out: {res.sequences} sequences, {res.frames} frames, "
               f"YOLO11n-pose keypoints on the renders. Validation curves: "
               f"![validation curves](img/{img.name})\n{END}")
    body = doc.read_text() if doc.is_file() else ""
    if BEGIN in body and END in body:
        body = body[:body.index(BEGIN)] + section + body[body.index(END) + len(END):]
    else:
        body = body.rstrip() + "\n\n" + section + "\n"
    atomic_write_bytes(doc, body.encode())


if __name__ == "__main__":
    main()
