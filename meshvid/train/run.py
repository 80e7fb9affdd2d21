"""`meshvid train`: a recipe -> the three stages -> runs/<name>/model.safetensors.

Output folder layout (everything re-creatable; runs/ is git-ignored):
    recipe.yaml                  the resolved recipe
    cache/table-*.safetensors    cached backbone features + labels (frozen-backbone recipes)
    stage1_dsd/                  resumable checkpoints (last.json -> step-*.safetensors)
    dsd.safetensors              the trained single-frame model (DSD only)
    satn_features.safetensors    stage 2: DSD features of the training sequences
    stage3_satn/                 resumable checkpoints
    model.safetensors            the final model: DSD + SATN (no discriminator)
    log.csv, curves.png          training log and curves
    summary.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from meshvid.errors import InputError
from meshvid.model.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from meshvid.model.net import MeshNet
from meshvid.train import distributed as D
from meshvid.train.engine import (ProgressFn, init_mean_theta, init_satn_head, sequence_features,
                                  train_dsd, train_satn)
from meshvid.train.logger import CSVLog, plot_curves
from meshvid.train.recipe import Recipe
from meshvid.train.tables import FrameTable


def _body():
    from meshvid.body import load_body_model
    from meshvid.train.fastbody import joints_only

    return joints_only(load_body_model("anny24"))


def run_training(recipe: Recipe, out_dir: Path, progress: ProgressFn | None = None,
                 table: FrameTable | None = None, stop_after: str | None = None) -> dict[str, Any]:
    """Run (or resume) every stage of `recipe` into `out_dir`. `table` injects training data
    (tests); otherwise it is built from recipe.data. `stop_after`: "dsd" | "features"."""
    import yaml

    info = D.init_distributed()
    if recipe.threads > 0:
        torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if info.is_main:
        atomic_write_bytes(out_dir / "recipe.yaml",
                           yaml.safe_dump(recipe.to_dict(), sort_keys=False).encode())
    log = CSVLog(out_dir / "log.csv", enabled=info.is_main)
    t0 = time.time()
    summary: dict[str, Any] = {"recipe": recipe.name, "out": str(out_dir),
                               "world_size": info.world_size}

    model = MeshNet(recipe.model, load_backbone_weights=recipe.dsd_checkpoint is None)
    if recipe.dsd_checkpoint:  # before any encoding: the backbone comes from it too
        trained = load_checkpoint(recipe.dsd_checkpoint)
        model.dsd.load_state_dict(trained.dsd.state_dict())
    body = _body()
    kp_set = recipe.model.dsd.skeleton.joints
    cached = recipe.dsd.cache_features
    if table is None:
        if not cached:
            raise InputError("end-to-end (uncached) training from images is only wired for real "
                             "data sets via meshvid.train.sources.DatasetSource; use "
                             "dsd.cache_features: true with a frozen backbone on this machine")
        from meshvid.train.sources import training_table

        cache = out_dir.parent / "_cache" if recipe.data.synthetic else out_dir / "cache"
        if info.is_main:
            table = training_table(recipe.data, model.dsd, kp_set, cache, progress)
        D.barrier(info)
        if table is None:
            table = training_table(recipe.data, model.dsd, kp_set, cache, None)
    summary["frames"] = len(table)
    summary["sequences"] = len(table.seq_names)

    # Stage 1: DSD.
    dsd_path = out_dir / "dsd.safetensors"
    if recipe.dsd_checkpoint:
        summary["dsd"] = {"from": recipe.dsd_checkpoint}
    else:
        if recipe.dsd.init_mean_from_data:
            init_mean_theta(model, table)
        res = train_dsd(recipe, model, table, body, out_dir / "stage1_dsd", info, log, progress)
        summary["dsd"] = {"steps": res.steps, "seconds": round(res.seconds, 1),
                          "last_losses": res.last_losses, "skipped_batches": res.skipped_batches}
        if info.is_main:
            dsd_only = MeshNet(_without_satn(recipe), load_backbone_weights=False)
            dsd_only.dsd.load_state_dict(model.dsd.state_dict())
            save_checkpoint(dsd_path, dsd_only, include_discriminator=False,
                            metadata={"recipe": recipe.name, "stage": "dsd"})
    if info.is_main:
        plot_curves(out_dir / "log.csv", out_dir / "curves.png")
    if stop_after == "dsd" or recipe.satn is None or model.satn is None:
        return _finish(recipe, model, out_dir, summary, t0, info)

    # Stage 2: per-frame DSD features of the training sequences.
    seq_rows = (table.seq >= 0).nonzero().squeeze(1)
    if len(seq_rows) == 0:
        raise InputError("SATN needs training sequences; the training data has none")
    seq_table = table.subset(seq_rows)
    feat_path = out_dir / "satn_features.safetensors"
    if feat_path.is_file():
        from safetensors.torch import load_file

        feats = load_file(str(feat_path))["features"]
        if feats.dim() == 2:  # written before feature_draws existed: one draw
            feats = feats[None]
    draws = recipe.satn.feature_draws if recipe.satn is not None else 1
    if not feat_path.is_file() or feats.shape[0] != draws:
        feats = sequence_features(recipe, model, seq_table, draws=draws)
        if info.is_main:
            from safetensors.torch import save

            atomic_write_bytes(feat_path, save({"features": feats.contiguous()}))
    summary["features"] = {"frames": len(seq_table), "draws": int(feats.shape[0]),
                           "dim": int(feats.shape[2])}
    if stop_after == "features":
        return _finish(recipe, model, out_dir, summary, t0, info)

    # Stage 3: SATN.
    satn_init = init_satn_head(model)
    res = train_satn(recipe, model, seq_table, feats, body, out_dir / "stage3_satn", info, log,
                     progress)
    summary["satn"] = {"init": satn_init, "steps": res.steps, "seconds": round(res.seconds, 1),
                       "last_losses": res.last_losses, "skipped_batches": res.skipped_batches}
    if res.validation is not None:
        summary["satn"]["validation"] = res.validation
    return _finish(recipe, model, out_dir, summary, t0, info)


def _without_satn(recipe: Recipe):
    from meshvid.model.config import ModelConfig

    cfg = ModelConfig.from_dict(recipe.model.to_dict())
    cfg.satn = None
    cfg.discriminator = None
    return cfg


def _finish(recipe: Recipe, model: MeshNet, out_dir: Path, summary: dict, t0: float,
            info: D.DistInfo) -> dict:
    summary["seconds"] = round(time.time() - t0, 1)
    if info.enabled:
        # Every rank must hold the same weights (gradients are averaged, the start is seeded):
        # a cheap desynchronisation check before anything is written.
        import torch.distributed as dist

        mine = torch.tensor([sum(float(p.double().sum()) for p in model.parameters())],
                            dtype=torch.float64)
        every = [torch.zeros(1, dtype=torch.float64) for _ in range(info.world_size)]
        dist.all_gather(every, mine)
        summary["rank_checksums"] = [float(x) for x in every]
        if len({round(float(x), 6) for x in every}) != 1:
            raise RuntimeError(f"ranks diverged: parameter checksums {summary['rank_checksums']}")
    if info.is_main:
        save_checkpoint(out_dir / "model.safetensors", model, include_discriminator=False,
                        metadata={"recipe": recipe.name, "summary": summary}, config_yaml=True)
        plot_curves(out_dir / "log.csv", out_dir / "curves.png")
        atomic_write_bytes(out_dir / "summary.json", json.dumps(summary, indent=1).encode())
    D.barrier(info)
    return summary
