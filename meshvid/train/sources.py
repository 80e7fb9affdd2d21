"""Training data for the engine: the synthetic set and the real data sets of a recipe, either
as image sources (end-to-end training) or as FrameTables with cached backbone features."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import torch

from meshvid.errors import InputError
from meshvid.model.dsd import DSDNet
from meshvid.train.recipe import DataSpec, RealDataSpec
from meshvid.train.tables import FrameTable, concat_tables, table_from_items

ProgressFn = Callable[[str, int, int, dict[str, float]], None]
LABEL_KEYS = ("keypoints", "joints3d", "pose", "betas", "has_3d", "has_smpl")


class DatasetSource:
    """Any map-style dataset of item dicts (with "image") as an engine source."""

    def __init__(self, dataset: torch.utils.data.Dataset, keypoints_set: str) -> None:
        self.dataset = dataset
        self.keypoints_set = keypoints_set

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        items = [self.dataset[int(i)] for i in idx]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]
                if torch.is_tensor(items[0][k])}


def real_dataset(spec: RealDataSpec, crop_size: int, keypoints_set: str):
    from meshvid.data import load_3dpw, load_h36m, load_lsp, load_mpii
    from meshvid.data.crops import CropDataset
    from meshvid.data.h36m import TRAIN_SUBJECTS

    if spec.kind == "3dpw":
        samples = load_3dpw(spec.path, spec.split)
    elif spec.kind == "h36m":
        samples = load_h36m(spec.path, spec.image_root,
                            tuple(spec.subjects) if spec.subjects else TRAIN_SUBJECTS, keypoints_set)
    elif spec.kind == "mpii":
        samples = load_mpii(spec.path, spec.image_root, keypoints_set)
    else:
        samples = load_lsp(spec.path, keypoints_set)
    return CropDataset(samples, crop_size, keypoints_set)


def synthetic_dataset(root: str | Path, split: str, crop_size: int, keypoints_set: str,
                      max_sequences: int | None = None, max_crops: int | None = None):
    """The `meshvid synth` output as item dicts (meshvid.train.synthetic)."""
    from meshvid.train.synthetic import SyntheticItems

    return SyntheticItems(root, split, crop_size, keypoints_set, max_sequences, max_crops)


@torch.no_grad()
def encode_items(dataset, dsd: DSDNet, batch_size: int = 32, progress: ProgressFn | None = None,
                 label: str = "cache", limit: int | None = None) -> FrameTable:
    """Run the frozen backbone over every item once: a FrameTable with pooled features."""
    dsd.backbone.eval()
    n = len(dataset) if limit is None else min(limit, len(dataset))
    rows: list[dict] = []
    feats = []
    meta = getattr(dataset, "sequence_meta", lambda: ([], [], []))()
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, n))]
        images = torch.stack([it["image"] for it in items])
        feats.append(dsd.encode(images, pooled=True).to(torch.float16))
        for it in items:
            rows.append({k: v for k, v in it.items() if k != "image"})
        if progress:
            progress(label, min(start + batch_size, n), n, {})
    table = table_from_items(rows, dataset.keypoints_set, *meta) if rows else None
    if table is None:
        raise InputError("no training frames found")
    table.features = torch.cat(feats)
    return table


@torch.no_grad()
def shard_features(shard: Path, dsd: DSDNet, cache_dir: Path, crop_size: int,
                   batch_size: int = 32, progress: ProgressFn | None = None,
                   label: str = "backbone") -> torch.Tensor:
    """Pooled frozen-backbone features of every image of one synth shard, (images, C) float16,
    cached per shard (shards are immutable once written), so caching resumes shard by shard
    and can run while `meshvid synth` is still producing shards."""
    from safetensors.torch import load_file, save

    from meshvid.model.checkpoint import atomic_write_bytes
    from meshvid.synth.shards import decode_jpeg, read_shard

    key = table_cache_key(DataSpec(synthetic=str(shard.resolve()), crop_size=crop_size), dsd.cfg,
                          str(shard.stat().st_size))
    path = cache_dir / f"feat-{shard.stem}-{key}.safetensors"
    if path.is_file():
        return load_file(str(path))["features"]
    a = read_shard(shard, keys=("jpeg", "jpeg_offsets"))
    off = a["jpeg_offsets"]
    n = len(off) - 1
    dsd.backbone.eval()
    # Channels-last: EfficientNet's depthwise convolutions run ~4x faster on CPU in oneDNN's
    # preferred layout (docs/model.md, Speed); same arithmetic, features equal up to rounding.
    dsd.backbone.to(memory_format=torch.channels_last)
    out = []
    for start in range(0, n, batch_size):
        imgs = [torch.from_numpy(decode_jpeg(a["jpeg"][off[j]:off[j + 1]]).copy())
                for j in range(start, min(start + batch_size, n))]
        x = torch.stack(imgs).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-1] != crop_size:
            x = torch.nn.functional.interpolate(x, size=(crop_size, crop_size), mode="bilinear",
                                                align_corners=False)
        x = x.contiguous(memory_format=torch.channels_last)
        out.append(dsd.encode(x, pooled=True).to(torch.float16))
        if progress:
            progress(label, min(start + batch_size, n), n, {})
    feats = torch.cat(out)
    atomic_write_bytes(path, save({"features": feats.contiguous()}))
    return feats


def encode_synthetic(ds, dsd: DSDNet, cache_dir: Path, progress: ProgressFn | None = None,
                     label: str = "backbone") -> FrameTable:
    """FrameTable of a SyntheticItems set: labels read from the shards, features per shard."""
    from meshvid.synth.shards import read_shard

    by_shard: dict[Path, list] = {}
    for entry in ds.index:
        by_shard.setdefault(entry[0], []).append(entry)
    shards = list(by_shard)
    rows: list[dict] = []
    feats = []
    for k, shard in enumerate(shards):
        f = shard_features(shard, dsd, cache_dir, ds.crop_size, progress=progress,
                           label=f"{label} {k + 1}/{len(shards)}")
        entries = by_shard[shard]
        a = read_shard(shard)
        ds._cache = (shard, a)
        n_frames = a["pose"].shape[1] if a["pose"].ndim == 4 else 1
        for e in entries:
            feats.append(f[e[1] * n_frames + e[2]])
        rows += [ds.labels_of(e) for e in entries]
    table = table_from_items(rows, ds.keypoints_set, *ds.sequence_meta())
    table.features = torch.stack(feats)
    return table


def _synthetic_fingerprint(root: str | None) -> list:
    """Names and sizes of every shard under a synthetic root: the table must be rebuilt when a
    data set grows (resumed `meshvid synth` with more frames), not reused from its smaller self."""
    if not root or not Path(root).is_dir():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size)
                  for p in Path(root).rglob("shard-*.npz"))


def table_cache_key(data: DataSpec, dsd_cfg, extra: str = "") -> str:
    blob = json.dumps({"shards": _synthetic_fingerprint(data.synthetic), "data": {"synthetic": data.synthetic, "real": [r.__dict__ for r in data.real],
                                "crop": data.crop_size, "max_frames": data.max_frames,
                                "max_sequences": data.max_sequences,
                                "skeleton": [data.skeleton_samples, data.skeleton_seed,
                                             data.motions] + ([data.corpus_mix] if data.corpus_mix else [])},
                       "backbone": dsd_cfg.backbone.__dict__, "extra": extra}, sort_keys=True,
                      default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def training_table(data: DataSpec, dsd: DSDNet, keypoints_set: str, cache_dir: Path,
                   progress: ProgressFn | None = None, split: str = "train") -> FrameTable:
    """The cached-feature table of all training data of a recipe (built once, then reused)."""
    key = table_cache_key(data, dsd.cfg, split)
    path = cache_dir / f"table-{split}-{key}.safetensors"
    if path.is_file():
        return FrameTable.load(path)
    tables = []
    if data.synthetic:
        ds = synthetic_dataset(data.synthetic, split, data.crop_size, keypoints_set,
                               data.max_sequences, data.max_frames)
        tables.append(encode_synthetic(ds, dsd, cache_dir / "shards", progress,
                                       label=f"backbone {split}"))
    if split == "train":
        for spec in data.real:
            ds = real_dataset(spec, data.crop_size, keypoints_set)
            tables.append(encode_items(ds, dsd, progress=progress, label=f"backbone {spec.kind}"))
    if not tables:
        raise InputError("the recipe has no training data (data.synthetic and data.real empty)")
    if split == "train" and data.skeleton_samples > 0:
        from meshvid.train.skeleton_samples import skeleton_table

        if keypoints_set != "coco17":
            raise InputError("data.skeleton_samples needs the COCO-17 external skeleton")
        feat_dim = tables[0].features.shape[1] if tables[0].features is not None else 1280
        report = (lambda d, t: progress("skeleton rows", d, t, {})) if progress else None
        tables.append(skeleton_table(data.skeleton_samples, data.skeleton_seed, data.crop_size,
                                     cache_dir, feat_dim, report, tuple(data.motions),
                                     data.corpus_mix, data.skeleton_workers))
    table = concat_tables(tables)
    table.save(path)
    return table
