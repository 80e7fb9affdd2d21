"""Train SATN on skeleton sequences + the rendered training sequences, on top of a shipped DSD
(issue 15; docs/training.md, "SATN on skeleton sequences").

    python train/train_satn_seq.py --config train/satn_seq.yaml            # train (resumes)
    python train/train_satn_seq.py --config train/satn_seq.yaml --ship weights/dsd_satn_cpu

Steps (each cached under runs/, re-running resumes):
1. the shipped DSD (recipe key `dsd_weights`) and the rendered training sequences' table
   (backbone features cached per shard), with YOLO11n-pose's keypoints on every render;
2. the detector's temporal error statistics measured on those sequences, and the sequence
   noise (meshvid.train.skeleton_sequences.TemporalNoise) calibrated to them by simulation on
   the same labels;
3. validation: whole training clips of the rendered sequences (`satn.validation_fraction`),
   kept out of the skeleton sequences too;
4. `seqdata.sequences` skeleton sequences of `seqdata.length` frames at 10 fps from the
   training motion library + mocap corpora (`seqdata.motions`);
5. DSD features: skeleton rows through the skeleton branch with x_d borrowed from rendered
   training sequences, `seqdata.draws`
   noise draws each; rendered rows with the real detections (draw 0) and temporal-noise draws;
6. stage 3 (meshvid.train.engine.train_satn) with the epoch kept chosen on validation, the
   validation curve plotted (validation.png);
7. --ship: satn.safetensors (float16) replaced in the weights folder, dsd.safetensors untouched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshvid.model.checkpoint import atomic_write_bytes  # noqa: E402
from meshvid.train.tables import FrameTable  # noqa: E402

SEQDATA = {"sequences": 3000, "length": 32, "fps": 10.0, "seed": 0, "draws": 2,
           "motions": ["data/mocap/data/CMU", "data/mocap/cmu8"], "rendered": "data/cpu/train_seq",
           "rendered_draws": 1, "dsd_weights": "weights/dsd_satn_cpu"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_config(path: Path, overrides: list[str]):
    from meshvid.train.recipe import apply_overrides, load_recipe_dict, recipe_from_dict

    data = apply_overrides(load_recipe_dict(path), overrides)
    seq = {**SEQDATA, **(data.pop("seqdata", None) or {})}
    data.pop("dsd_checkpoint", None)
    return recipe_from_dict(data, str(path)), seq


def rendered_table(root: str, dsd, cache: Path) -> FrameTable:
    from meshvid.train.sources import encode_synthetic
    from meshvid.train.synthetic import SyntheticItems

    ds = SyntheticItems(root, "train", dsd.cfg.backbone.image_size, "coco17", max_crops=0)
    return encode_synthetic(ds, dsd, cache)


def calibrate_noise(table: FrameTable, noise_model, out: Path):
    """Measure the detector's temporal statistics on the rendered sequences, then pick the
    TemporalNoise whose simulation on the same labels measures closest (lags 1, 2, 4, 8)."""
    from meshvid.train.skeleton_sequences import LAGS, TemporalNoise, fit_temporal, measure_temporal

    if out.is_file():
        return TemporalNoise(**json.loads(out.read_text())["noise"])
    seqs = [r.numpy() for r in table.sequences()]
    det, gt = table.detections.numpy(), table.keypoints.numpy()
    measured = measure_temporal(det, gt, seqs)
    base = fit_temporal(measured)
    gts = torch.stack([table.keypoints[r] for r in table.sequences()])  # (S, T, 17, 3)
    best, best_err, sims = base, float("inf"), {}
    for p in np.arange(0.0, 0.31, 0.03):
        for q in np.arange(0.3, 0.81, 0.05):
            cand = TemporalNoise(**{**base.__dict__, "persistent": round(float(p), 3),
                                    "stick": round(float(q), 3)})
            kp, conf = cand.sample(gts, noise_model, torch.Generator().manual_seed(5))
            sim = torch.cat([kp, conf[..., None]], -1).reshape(-1, 17, 3).numpy()
            t = gts.shape[1]
            st = measure_temporal(sim, gts.reshape(-1, 17, 3).numpy(),
                                  [np.arange(i * t, (i + 1) * t) for i in range(len(gts))])
            err = sum((st[f"corr_{lag}"] - measured[f"corr_{lag}"]) ** 2 for lag in LAGS)
            if err < best_err:
                best, best_err, sims = cand, err, st
    res = {"measured": measured, "analytic_fit": base.__dict__, "noise": best.__dict__,
           "simulated": sims}
    atomic_write_bytes(out, json.dumps(res, indent=1).encode())
    return best


def load_npz_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cached .npz (object arrays allowed: clip names), or None when absent."""
    if not path.is_file():
        return None
    z = np.load(path, allow_pickle=True)
    return {k: z[k] for k in z.files}


def save_npz_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as one .npz atomically (an interrupted run leaves no half file)."""
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def skeleton_sequences(seq: dict, exclude: tuple[str, ...], cache: Path) -> dict[str, np.ndarray]:
    from meshvid.synth.generate import SampleMaker
    from meshvid.train.skeleton_sequences import make_sequences

    key = hashlib.sha1(json.dumps([seq["sequences"], seq["length"], seq["fps"], seq["seed"],
                                   list(seq["motions"]), sorted(exclude)]).encode()).hexdigest()[:10]
    path = cache / f"skelseq-{key}.npz"
    cached = load_npz_cache(path)
    if cached is not None:
        return cached
    motions = tuple(m for m in seq["motions"] if Path(m).exists())
    if len(motions) < len(seq["motions"]):
        log(f"motion folders missing (skipped): {set(seq['motions']) - set(motions)}")
    maker = SampleMaker("train", render=False, motions=motions)
    t0 = time.time()
    out = make_sequences(maker, int(seq["sequences"]), int(seq["length"]), float(seq["fps"]),
                         int(seq["seed"]), exclude,
                         progress=lambda i, n: log(f"skeleton sequences {i}/{n}") if i % 500 == 0 else None)
    log(f"skeleton sequences: {len(out['clip'])} in {time.time() - t0:.0f} s")
    save_npz_cache(path, out)
    return out


def build_training(recipe, seq, model, folder: Path):
    """(table, features (draws, N, 512) float16, (train ids, val ids), info dict)."""
    from meshvid.perception.noise_model import KeypointNoiseModel, default_path
    from meshvid.train.engine import validation_split
    from meshvid.train.skeleton_sequences import borrowed_detail, sequence_table, skeleton_features
    from meshvid.train.tables import concat_tables

    cache = ROOT / "runs" / "_cache"
    dsd = model.dsd.eval()
    rend = rendered_table(seq["rendered"], dsd, cache / "shards")
    noise_model = KeypointNoiseModel.load(default_path())
    noise = calibrate_noise(rend, noise_model, cache / "satn-seq-noise.json")
    log(f"temporal noise: {noise}")
    spec = recipe.satn
    train_r, val_r = validation_split(rend, spec.validation_fraction, recipe.seed)
    val_clips = tuple(sorted({rend.seq_groups[i] for i in val_r}))
    log(f"validation: {len(val_r)} rendered sequences of clips {val_clips}")
    # Sequence groups (seqdata.groups): each generated and cached on its own, `keep` = how many
    # of its sequences are used (default all).
    parts = []
    for g in seq.get("groups") or [seq]:
        g = {**{k: seq[k] for k in ("length", "fps")}, **g}
        part = skeleton_sequences(g, val_clips, cache)
        keep = int(g.get("keep", len(part["clip"])))
        parts.append({k: v[:keep] for k, v in part.items()})
    sk = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n, t = sk["keypoints"].shape[:2]
    dsd_file = Path(seq["dsd_weights"]) / "dsd.safetensors"
    # (keyed on the DSD file's bytes: retrained DSDs of one architecture have the same size)
    dsd_digest = hashlib.sha1(dsd_file.read_bytes()).hexdigest() if dsd_file.is_file() else ""
    fkey = hashlib.sha1(json.dumps(["borrowed_xd", seq, noise.__dict__, val_clips, recipe.seed,
                                    dsd_digest], default=str).encode()).hexdigest()[:10]
    feat_path = cache / f"satnfeat-{fkey}.safetensors"  # shared by runs on the same data
    # x_d of skeleton rows: the shipped DSD's detail branch has collapsed to one active unit,
    # but that unit's value (mean 1.28, std 0.46 over training renders) scales the whole
    # bilinear feature y; the DSD head shrugs it off, a SATN trained with the mean x_d did not
    # (docs/training.md). So skeleton rows borrow real renders' x_d trajectories. (A DSD with a
    # live detail branch would need x_d = 0 here, as it was trained on skeleton-only rows.)
    with torch.no_grad():
        x_d_rend = dsd.detail(rend.features.float())
    # The skeleton rows' table
    skel = sequence_table(sk, float(seq["fps"]), "skel", [Path(str(c)).name for c in sk["clip"]])
    rend_lab = FrameTable(**{k: getattr(rend, k) for k in
                             ("keypoints", "joints3d", "pose", "betas", "has_3d", "has_smpl",
                              "seq", "frame")}, keypoints_set="coco17",
                          seq_names=rend.seq_names, seq_fps=rend.seq_fps, seq_groups=rend.seq_groups)
    table = concat_tables([rend_lab, skel])
    draws = max(int(seq["draws"]), 1 + int(seq["rendered_draws"]))
    if feat_path.is_file():
        from safetensors.torch import load_file

        feats = load_file(str(feat_path))["features"]
    else:
        t0 = time.time()
        gen = torch.Generator().manual_seed(recipe.seed * 131 + 15)
        feats = torch.zeros(draws, len(table), dsd.cfg.feature_dim, dtype=torch.float16)
        nr = len(rend)
        rseq = rend.sequences()
        gts_r = torch.stack([rend.keypoints[r] for r in rseq])
        with torch.no_grad():
            for d in range(draws):
                # rendered rows: the real detections (draw 0), then temporal-noise draws
                if d == 0:
                    order = torch.arange(nr)
                    kp, conf = rend.detections[..., :2], rend.detections[..., 2]
                else:
                    order = torch.cat(rseq)
                    kp, conf = noise.sample(gts_r, noise_model, gen)
                    kp, conf = kp.reshape(-1, 17, 2), conf.reshape(-1, 17)
                for lo in range(0, nr, 1024):  # (the bilinear fusion's outer product is big)
                    rows = order[lo:lo + 1024]
                    feats[d, rows] = dsd.forward_features(
                        rend.features[rows].float(), kp[lo:lo + 1024],
                        conf[lo:lo + 1024]).feature.half()
                # x_d borrowed from rendered training sequences (not the validation clips)
                borrowed = borrowed_detail(x_d_rend, [rseq[i] for i in train_r], n, t, gen)
                for start in range(0, n, 32):
                    gt = torch.from_numpy(sk["keypoints"][start:start + 32])
                    kp, conf = noise.sample(gt, noise_model, gen)
                    m = len(gt)
                    y = skeleton_features(dsd, kp.reshape(-1, 17, 2), conf.reshape(-1, 17),
                                          borrowed[start:start + m].reshape(m * t, -1))
                    lo = nr + start * t
                    feats[d, lo:lo + m * t] = y.half()
        from safetensors.torch import save

        atomic_write_bytes(feat_path, save({"features": feats.contiguous()}))
        log(f"features {tuple(feats.shape)} in {time.time() - t0:.0f} s")
    nrs = len(rend.seq_names)
    train_ids = list(train_r) + list(range(nrs, nrs + n))
    info = {"rendered_sequences": nrs, "validation_sequences": len(val_r),
            "validation_clips": list(val_clips), "skeleton_sequences": int(n),
            "skeleton_frames": int(n * t), "static_camera_fraction": float(sk["static"].mean()),
            "skeleton_clip_sources": {src: int(sum(str(c).split("/")[0] == src for c in sk["clip"]))
                                      for src in sorted({str(c).split("/")[0] for c in sk["clip"]})},
            "noise": noise.__dict__}
    return table, feats, (train_ids, list(val_r)), info


def make_model(recipe, dsd_model):
    from meshvid.model.config import ModelConfig
    from meshvid.model.net import MeshNet
    from meshvid.train.engine import init_satn_head

    cfg = ModelConfig.from_dict(dsd_model.cfg.to_dict())
    cfg.satn = recipe.model.satn
    cfg.losses = recipe.model.losses
    recipe.model = cfg
    model = MeshNet(cfg, load_backbone_weights=False)
    model.dsd.load_state_dict(dsd_model.dsd.state_dict())
    init_satn_head(model)
    return model


def plot_validation(log_path: Path, out: Path, kept: int) -> list[tuple[int, float]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from meshvid.train.logger import read_log

    pts = [(int(r["epoch"]), float(r["val_pa_mpjpe"])) for r in read_log(log_path)
           if r.get("val_pa_mpjpe") not in (None, "")]
    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=120)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label="SATN (validation clips)")
    for e, v in pts:
        if e == kept:
            ax.plot([e], [v], "r*", ms=14, label=f"kept: epoch {e}, {v:.1f} mm")
    ax.axhline(pts[0][1], color="gray", ls=":", label="epoch 0 = DSD head on Savitzky-Golay features")
    ax.set_xlabel("epoch")
    ax.set_ylabel("PA-MPJPE (mm)")
    ax.set_title("SATN validation curve (held-out training clips, detector keypoints)", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return pts


def run_stage3(recipe, model, table, feats, split, folder: Path, every: int = 50):
    """Stage 3 (meshvid.train.engine.train_satn) in `folder` with a progress line every `every`
    steps, its validation curve plotted to validation.png: (StageResult, curve points)."""
    from meshvid.train import distributed as D
    from meshvid.train.engine import train_satn
    from meshvid.train.logger import CSVLog
    from meshvid.train.run import _body

    stage = folder / "stage3_satn"
    stage.mkdir(parents=True, exist_ok=True)

    def progress(stage_name, step, total, last):
        if step % every == 0:
            log(f"step {step}/{total} " + " ".join(f"{k}={v:.4g}" for k, v in last.items()))

    res = train_satn(recipe, model, table, feats, _body(), stage, D.init_distributed(),
                     CSVLog(folder / "log.csv"), progress, split=split)
    kept = res.validation["epoch"] if res.validation else recipe.satn.epochs
    return res, plot_validation(folder / "log.csv", folder / "validation.png", kept)


def ship(model, folder: Path, metadata: dict) -> int:
    """Replace satn.safetensors (+ config.yaml) in a shipped folder; dsd.safetensors stays."""
    from meshvid.train.export import export_satn

    return export_satn(model, folder, metadata)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "train" / "satn_seq.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", type=Path, default=None, help="run folder (default runs/<name>)")
    ap.add_argument("--ship", type=Path, default=None, help="weights folder to put satn.safetensors in")
    args = ap.parse_args()
    recipe, seq = load_config(args.config, args.overrides)
    torch.set_num_threads(max(recipe.threads, 1))
    torch.manual_seed(recipe.seed)
    folder = args.out or ROOT / "runs" / recipe.name
    folder.mkdir(parents=True, exist_ok=True)
    from meshvid.train.export import load_model

    dsd_model = load_model(ROOT / seq["dsd_weights"] if not Path(seq["dsd_weights"]).is_absolute()
                           else seq["dsd_weights"])
    t0 = time.time()
    table, feats, split, info = build_training(recipe, seq, dsd_model, folder)
    log(f"data ready in {time.time() - t0:.0f} s: {info}")
    model = make_model(recipe, dsd_model)
    t1 = time.time()
    res, curve = run_stage3(recipe, model, table, feats, split, folder, every=50)
    seconds = round(time.time() - t1, 1)
    if (folder / "summary.json").is_file():  # a resumed run: keep the first run's training time
        seconds = max(seconds, json.loads((folder / "summary.json").read_text())["train_seconds"])
    summary = {"recipe": recipe.name, "train_seconds": seconds,
               "steps": res.steps, "validation": res.validation, "curve": curve, **info,
               "satn": recipe.model.satn.__dict__}
    atomic_write_bytes(folder / "summary.json", json.dumps(summary, indent=1, default=str).encode())
    from safetensors.torch import save

    atomic_write_bytes(folder / "satn_best.safetensors",
                       save({k: v.contiguous() for k, v in model.state_dict().items()
                             if k.startswith("satn.")}))
    log(f"done: {summary['validation']} ({summary['train_seconds']} s)")
    if args.ship:
        size = ship(model, args.ship, {"recipe": recipe.name, "validation": res.validation,
                                       "skeleton_sequences": info["skeleton_sequences"]})
        log(f"shipped satn.safetensors ({size / 1e6:.1f} MB) to {args.ship}")


if __name__ == "__main__":
    main()
