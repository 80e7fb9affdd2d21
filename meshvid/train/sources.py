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


def synthetic_dataset(root: str | Path, split: str, crop_size: int, keypoints_set: str):
    """The `meshvid synth` output as item dicts (see meshvid.synth.dataset)."""
    from meshvid.train.synthetic import SyntheticItems

    return SyntheticItems(root, split, crop_size, keypoints_set)


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


def table_cache_key(data: DataSpec, dsd_cfg, extra: str = "") -> str:
    blob = json.dumps({"data": {"synthetic": data.synthetic, "real": [r.__dict__ for r in data.real],
                                "crop": data.crop_size, "max_frames": data.max_frames,
                                "max_sequences": data.max_sequences},
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
        ds = synthetic_dataset(data.synthetic, split, data.crop_size, keypoints_set)
        tables.append(encode_items(ds, dsd, progress=progress, label=f"backbone {split}",
                                   limit=data.max_frames))
    if split == "train":
        for spec in data.real:
            ds = real_dataset(spec, data.crop_size, keypoints_set)
            tables.append(encode_items(ds, dsd, progress=progress, label=f"backbone {spec.kind}"))
    if not tables:
        raise InputError("the recipe has no training data (data.synthetic and data.real empty)")
    table = concat_tables(tables)
    table.save(path)
    return table
