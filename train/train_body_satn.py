"""Issues 24/28: SATN on the articulation network, trained on 10 fps sequences of the CMU
library (docs/training.md, "Issues 24/28, fifth session").

The articulation network (`body.safetensors` of a weights folder) is a keypoints-only DSD: its
per-frame feature y needs no image, so a SATN over a window of those features can be trained
from skeleton sequences alone, which the CMU library has in any number. Each sequence is made
as `meshvid synth --kind sequences` makes one (SampleMaker.sequence_labels: our body posed by
the retargeted clip, a sampled shape, static / panning / travelling cameras, half of them
raised to look down 15-40 degrees like real rigs), without rendering; its keypoints get the
detector's errors with their measured temporal structure (TemporalNoise on the measured
single-frame banks, scaled to the error measured on real footage). The DSD stays frozen; the
SATN trains on windows of its features with the repository's stage 3 (`train_satn`: the
residual SATN starts at the Savitzky-Golay-smoothed features through the frozen DSD head), the
epoch kept chosen on held-out CMU subjects (the DESIGN rule: 03 and every subject ending in 7).

    python train/train_body_satn.py --out runs/body_satn                 # train (cached data)
    python train/train_body_satn.py --out runs/body_satn --ship weights/dsd_satn_cpu
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIBRARY = ROOT / "data" / "mocap" / "cmu_fbxlib"
RECIPE = ROOT / "train" / "body_satn.yaml"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _sequences_job(job) -> dict[str, np.ndarray]:
    """One worker's sequences: (split, n, length, fps, seed, raised_p, pitch, library)."""
    split, n, length, fps, seed, raised_p, pitch, library = job
    torch.set_num_threads(1)
    from meshvid.synth.generate import SampleMaker
    from meshvid.synth.scene import RaisedCameras
    from meshvid.train.skeleton_sequences import make_sequences

    if library == "cmu":
        maker = SampleMaker(split, render=False, motions=(str(LIBRARY),), builtin=False)
    else:  # the synth's own motions: DeepMimic clips, Anny's walk, sampled poses
        maker = SampleMaker(split, render=False)
    if raised_p > 0:
        maker.raised = RaisedCameras(raised_p, tuple(pitch))
    try:
        return make_sequences(maker, n, length, fps, seed)
    finally:
        maker.close()


def sequences(split: str, n: int, length: int, fps: float, seed: int, raised_p: float, pitch,
              workers: int, cache: Path, library: str = "cmu") -> dict[str, np.ndarray]:
    """n labelled sequences of a split of the CMU library (`library` "cmu") or of the synth's
    own motions ("builtin"), cached as runs/_cache/bodyseq-<key>.npz."""
    from train_satn_seq import load_npz_cache, save_npz_cache

    spec = [split, n, length, fps, seed, raised_p, list(pitch), workers]
    key = hashlib.sha1(json.dumps(spec if library == "cmu" else spec + [library]
                                  ).encode()).hexdigest()[:10]
    path = cache / f"bodyseq-{key}.npz"
    cached = load_npz_cache(path)
    if cached is not None:
        return cached
    t0 = time.time()
    per = -(-n // max(1, workers))
    sizes = [min(per, n - s) for s in range(0, n, per)]
    jobs = [(split, m, length, fps, seed * 1000 + w, raised_p, tuple(pitch), library)
            for w, m in enumerate(sizes)]
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_sequences_job, jobs)
    else:
        parts = [_sequences_job(j) for j in jobs]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    log(f"{library} {split} sequences: {n} x {length} frames in {time.time() - t0:.0f} s")
    save_npz_cache(path, out)
    return out


def frame_table(parts: list[dict[str, np.ndarray]], fps: float):
    """Sequences (S, T, ...) of several parts -> one FrameTable, sequence ids in part order."""
    from meshvid.train.skeleton_sequences import sequence_table

    sk = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return sequence_table(sk, fps, "cmu", [str(c) for c in sk["clip"]])


def gaussian_sequence_noise(gt: torch.Tensor, sigma: float, gen: torch.Generator,
                            persistent: float = 0.17, stick: float = 0.54
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The articulation network's own training jitter (data.keypoint_noise gaussian: sigma,
    8 % of joints dropped, confidences uniform 0.5-1) made temporal as TemporalNoise makes the
    measured banks: a per-sequence offset (`persistent` of the variance) plus an AR(1) part
    whose lag-1 correlation is `stick`. gt (S, T, 17, 3) -> keypoints (S, T, 17, 2), conf."""
    s, t, k, _ = gt.shape
    offset = torch.randn(s, 1, k, 2, generator=gen) * persistent ** 0.5
    ar = torch.empty(s, t, k, 2)
    ar[:, 0] = torch.randn(s, k, 2, generator=gen)
    for f in range(1, t):
        ar[:, f] = stick * ar[:, f - 1] + (1 - stick ** 2) ** 0.5 * torch.randn(s, k, 2, generator=gen)
    kp = gt[..., :2] + sigma * (offset + (1 - persistent) ** 0.5 * ar)
    conf = 0.5 + 0.5 * torch.rand(s, t, k, generator=gen)
    dropped = (torch.rand(s, t, k, generator=gen) < 0.08) | (gt[..., 2] <= 0)
    return kp, torch.where(dropped, conf * 0.25, conf)


@torch.no_grad()
def body_features(dsd, table, length: int, draws: int, noise_scale: float, seed: int,
                  noise_kind: str = "measured", sigma: float = 0.02) -> torch.Tensor:
    """(draws, N, D) float16: the frozen keypoints-only DSD's feature y of every row, each draw
    with fresh temporally correlated detector errors on the labelled keypoints: the measured
    banks times `noise_scale` (TemporalNoise: swaps, misses) or, `noise_kind` "gaussian", the
    network's own training jitter made temporal (`gaussian_sequence_noise`)."""
    from meshvid.perception.noise_model import KeypointNoiseModel, default_path
    from meshvid.train.skeleton_sequences import TemporalNoise

    noise, model = TemporalNoise(), KeypointNoiseModel.load(default_path())
    gen = torch.Generator().manual_seed(seed * 131 + 15)
    gt = table.keypoints.reshape(-1, length, 17, 3)
    dsd.eval()
    out = torch.zeros(draws, len(table), dsd.cfg.feature_dim, dtype=torch.float16)
    for d in range(draws):
        for s in range(0, len(gt), 64):
            if noise_kind == "gaussian":
                kp, conf = gaussian_sequence_noise(gt[s:s + 64], sigma, gen)
            else:
                kp, conf = noise.sample(gt[s:s + 64], model, gen, scale=noise_scale)
            m = len(kp) * length
            y = dsd.forward_features(kp.new_zeros(m, 1), kp.reshape(m, 17, 2),
                                     conf.reshape(m, 17)).feature
            out[d, s * length:s * length + m] = y.half()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=RECIPE)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "dsd_satn_cpu",
                    help="the weights folder whose body.safetensors the SATN is trained on")
    ap.add_argument("--sequences", type=int, default=6000, help="CMU training sequences")
    ap.add_argument("--cmu-keep", type=int, default=None,
                    help="use only the first N of the CMU sequences (default all)")
    ap.add_argument("--builtin-sequences", type=int, default=0,
                    help="training sequences of the synth's own motions (DeepMimic, Anny's "
                    "walk, sampled poses) added to the CMU ones")
    ap.add_argument("--val-sequences", type=int, default=400, help="held-out-subject sequences")
    ap.add_argument("--length", type=int, default=32)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=4, help="noise draws of each sequence's keypoints")
    ap.add_argument("--noise-scale", type=float, default=0.6,
                    help="the measured detector offsets times this (real footage: ~0.5-0.6)")
    ap.add_argument("--noise", choices=("measured", "gaussian"), default="measured",
                    help="measured: the detector's banks x --noise-scale with swaps and misses; "
                    "gaussian: the articulation network's own training jitter (sigma 0.02), "
                    "correlated in time")
    ap.add_argument("--raised-p", type=float, default=0.5)
    ap.add_argument("--pitch", type=float, nargs=2, default=(15.0, 40.0))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data-only", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ship", type=Path, default=None,
                    help="weights folder to write body_satn.safetensors into")
    a = ap.parse_args(argv)

    from meshvid.model.checkpoint import atomic_write_bytes
    from meshvid.pipeline.regressor import BODY_FILE
    from meshvid.train.export import load_model

    cache = ROOT / "runs" / "_cache"
    t0 = time.time()
    train = sequences("train", a.sequences, a.length, a.fps, a.seed, a.raised_p, a.pitch,
                      a.workers, cache)
    if a.cmu_keep is not None:
        train = {k: v[:a.cmu_keep] for k, v in train.items()}
    parts = [train]
    if a.builtin_sequences:
        parts.append(sequences("train", a.builtin_sequences, a.length, a.fps, a.seed + 2,
                               a.raised_p, a.pitch, a.workers, cache, library="builtin"))
    val = sequences("heldout", a.val_sequences, a.length, a.fps, a.seed + 1, a.raised_p,
                    a.pitch, a.workers, cache)
    table = frame_table(parts + [val], a.fps)
    n_train = sum(len(p["clip"]) for p in parts)
    split = (list(range(n_train)), list(range(n_train, n_train + len(val["clip"]))))
    body_file = a.weights / BODY_FILE
    dsd_model = load_model(body_file)
    digest = hashlib.sha1(body_file.read_bytes()).hexdigest()[:10]
    fkey = hashlib.sha1(json.dumps([a.sequences, a.val_sequences, a.length, a.fps, a.seed, a.draws,
                                    a.noise_scale, a.raised_p, list(a.pitch), digest]
                                   + ([a.cmu_keep, a.builtin_sequences]
                                      if a.cmu_keep is not None or a.builtin_sequences else [])
                                   + ([a.noise] if a.noise != "measured" else [])
                                   ).encode()).hexdigest()[:10]
    feat_path = cache / f"bodysatnfeat-{fkey}.safetensors"
    from safetensors.torch import load_file, save

    if feat_path.is_file():
        feats = load_file(str(feat_path))["features"]
    else:
        t1 = time.time()
        torch.set_num_threads(max(1, a.workers))
        feats = body_features(dsd_model.dsd, table, a.length, a.draws, a.noise_scale, a.seed,
                              a.noise)
        atomic_write_bytes(feat_path, save({"features": feats.contiguous()}))
        log(f"features {tuple(feats.shape)} in {time.time() - t1:.0f} s")
    info = {"train_sequences": n_train, "cmu_sequences": len(train["clip"]),
            "builtin_sequences": a.builtin_sequences, "val_sequences": len(val["clip"]), "length": a.length,
            "fps": a.fps, "draws": a.draws, "noise": a.noise, "noise_scale": a.noise_scale, "raised_p": a.raised_p,
            "pitch": list(a.pitch), "body": str(body_file), "body_sha1": digest,
            "static_camera_fraction": float(np.concatenate([p["static"] for p in parts]).mean()),
            "data_seconds": round(time.time() - t0, 1)}
    log(f"data ready: {info}")
    if a.data_only:
        return 0

    from meshvid.model.config import ModelConfig
    from meshvid.model.net import MeshNet
    from meshvid.train.engine import init_satn_head
    from meshvid.train.recipe import apply_overrides, load_recipe_dict, recipe_from_dict

    recipe = recipe_from_dict(apply_overrides(load_recipe_dict(a.config), a.overrides), str(a.config))
    torch.set_num_threads(max(recipe.threads, 1))
    torch.manual_seed(recipe.seed)
    cfg = ModelConfig.from_dict(dsd_model.cfg.to_dict())
    cfg.satn = recipe.model.satn
    cfg.satn.feature_dim = cfg.dsd.feature_dim
    cfg.satn.head_hidden = cfg.dsd.head_hidden  # the frozen head is the DSD's
    cfg.losses = recipe.model.losses
    recipe.model = cfg
    model = MeshNet(cfg, load_backbone_weights=False)
    model.dsd.load_state_dict(dsd_model.dsd.state_dict())
    init_satn_head(model)
    a.out.mkdir(parents=True, exist_ok=True)
    done = a.out / "satn_best.safetensors"
    if done.is_file() and (a.out / "summary.json").is_file():  # a finished run: ship it as is
        model.load_state_dict({**model.state_dict(), **load_file(str(done))})
        summary = json.loads((a.out / "summary.json").read_text())
        log(f"finished run in {a.out}: {summary['validation']}")
    else:
        summary = fit_satn(a, recipe, model, table, feats, split, info)
    if a.ship:
        from meshvid.pipeline.regressor import BODY_SATN_FILE
        from meshvid.train.export import write_satn

        size = write_satn(model, a.ship / BODY_SATN_FILE,
                          {"role": "articulation temporal", "recipe": recipe.name,
                           "validation": summary["validation"], "sequences": n_train,
                           "body_sha1": digest})
        log(f"shipped {BODY_SATN_FILE} ({size / 1e6:.1f} MB) to {a.ship}")
    return 0


def fit_satn(a, recipe, model, table, feats, split, info) -> dict:
    """Stage 3 on the body network's features; the best epoch on the held-out subjects kept.
    Writes summary.json, satn_best.safetensors and validation.png into a.out."""
    from safetensors.torch import save

    from meshvid.model.checkpoint import atomic_write_bytes
    from train_satn_seq import run_stage3

    t1 = time.time()
    res, curve = run_stage3(recipe, model, table, feats, split, a.out, every=100)
    summary = {"recipe": recipe.name, "train_seconds": round(time.time() - t1, 1),
               "steps": res.steps, "validation": res.validation, "curve": curve, **info,
               "satn": recipe.model.satn.__dict__, "argv": sys.argv}
    atomic_write_bytes(a.out / "summary.json", json.dumps(summary, indent=1, default=str).encode())
    atomic_write_bytes(a.out / "satn_best.safetensors",
                       save({k: v.contiguous() for k, v in model.state_dict().items()
                             if k.startswith("satn.")}))
    log(f"done: {res.validation} ({summary['train_seconds']} s)")
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
