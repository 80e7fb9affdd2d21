"""FrameTable: every training frame's labels (and, for a frozen backbone, its cached backbone
feature) as a few big tensors, saved as one safetensors file.

Why a table: with the backbone frozen, stage 1 (DSD heads) and stages 2-3 (SATN on DSD
features) never touch an image again, so an epoch is a few tensor gathers. Rows are frames;
`seq` >= 0 groups the frames of one training sequence (in `frame` order), -1 marks a single crop.

Columns (N rows): keypoints (N, K, 3) ground-truth 2D joints, crop-normalised + visibility, in
`keypoints_set`; joints3d (N, 14, 4) LSP-14 camera-space metres + weight; pose (N, 24, 3)
axis-angle (root in camera axes); betas (N, 10); has_3d, has_smpl (N,); seq, frame (N,);
optional features (N, C) the frozen backbone's pooled output; optional detections (N, K, 3)
real detector keypoints + confidence when the data has them; optional has_image (N,) 0 for
skeleton-only rows (meshvid.train.skeleton_samples).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from meshvid.errors import InputError
from meshvid.model.checkpoint import atomic_write_bytes

_TENSORS = ("keypoints", "joints3d", "pose", "betas", "has_3d", "has_smpl", "seq", "frame",
            "features", "detections", "has_image")


@dataclass
class FrameTable:
    keypoints: torch.Tensor
    joints3d: torch.Tensor
    pose: torch.Tensor
    betas: torch.Tensor
    has_3d: torch.Tensor
    has_smpl: torch.Tensor
    seq: torch.Tensor
    frame: torch.Tensor
    features: torch.Tensor | None = None
    detections: torch.Tensor | None = None
    # 0 marks a skeleton-only row (labels without a render: its features are zeros and its
    # keypoints are simulated); None = every row has an image.
    has_image: torch.Tensor | None = None
    keypoints_set: str = "coco17"
    seq_names: list[str] = field(default_factory=list)
    seq_fps: list[float] = field(default_factory=list)
    seq_groups: list[str] = field(default_factory=list)  # e.g. the motion clip / action name

    def __len__(self) -> int:
        return len(self.keypoints)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {name: getattr(self, name)[idx] for name in _TENSORS
               if getattr(self, name) is not None and name not in ("seq", "frame")}
        if self.features is not None:
            out["features"] = out["features"].float()
        return out

    def sequences(self) -> list[torch.Tensor]:
        """Row indices of every sequence, in frame order (index = sequence id)."""
        out = []
        for s in range(len(self.seq_names)):
            rows = (self.seq == s).nonzero().squeeze(1)
            out.append(rows[torch.argsort(self.frame[rows])])
        return out

    def single_rows(self) -> torch.Tensor:
        return torch.arange(len(self))

    def subset(self, rows: torch.Tensor) -> "FrameTable":
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _TENSORS:
            if kw[name] is not None:
                kw[name] = kw[name][rows]
        return FrameTable(**kw)

    def save(self, path: Path) -> None:
        from safetensors.torch import save

        tensors = {n: getattr(self, n).contiguous() for n in _TENSORS if getattr(self, n) is not None}
        meta = {"keypoints_set": self.keypoints_set, "seq_names": self.seq_names,
                "seq_fps": self.seq_fps, "seq_groups": self.seq_groups}
        atomic_write_bytes(path, save(tensors, metadata={"meshvid_table": json.dumps(meta)}))

    @classmethod
    def load(cls, path: Path) -> "FrameTable":
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["meshvid_table"])
            tensors = load_file(str(path))
        except Exception as err:  # noqa: BLE001
            raise InputError(f"cannot read frame table {path}: {err}") from None
        return cls(**{n: tensors.get(n) for n in _TENSORS}, **meta)


def concat_tables(tables: list[FrameTable]) -> FrameTable:
    if len(tables) == 1:
        return tables[0]
    if len({t.keypoints_set for t in tables}) != 1:
        raise InputError("tables to merge use different keypoint sets")
    out: dict = {}
    for name in _TENSORS:
        parts = [getattr(t, name) for t in tables]
        if name in ("has_image", "detections") and any(p is not None for p in parts):
            # a table without the column: every row has an image / no detections (zeros)
            parts = [p if p is not None else
                     (torch.ones(len(t)) if name == "has_image" else
                      torch.zeros(len(t), *next(q for q in parts if q is not None).shape[1:]))
                     for p, t in zip(parts, tables)]
        if any(p is None for p in parts):
            if name in ("features",) and not all(p is None for p in parts):
                raise InputError("some frame tables have cached features and some do not")
            out[name] = None if all(p is None for p in parts) else None
            continue
        out[name] = torch.cat(parts)
    # Sequence ids are per table: offset them.
    offset, seqs = 0, []
    for t in tables:
        seqs.append(torch.where(t.seq >= 0, t.seq + offset, t.seq))
        offset += len(t.seq_names)
    out["seq"] = torch.cat(seqs)
    return FrameTable(**out, keypoints_set=tables[0].keypoints_set,
                      seq_names=sum((t.seq_names for t in tables), []),
                      seq_fps=sum((t.seq_fps for t in tables), []),
                      seq_groups=sum((t.seq_groups for t in tables), []))


def table_from_items(items: list[dict[str, torch.Tensor]], keypoints_set: str,
                     seq_names: list[str] | None = None, seq_fps: list[float] | None = None,
                     seq_groups: list[str] | None = None) -> FrameTable:
    """Stack per-frame item dicts (keys as FrameTable columns; 'seq'/'frame' default -1/0)."""
    def stack(key: str, default=None):
        if key not in items[0]:
            return default
        return torch.stack([torch.as_tensor(it[key]) for it in items])

    n = len(items)
    return FrameTable(
        keypoints=stack("keypoints").float(), joints3d=stack("joints3d").float(),
        pose=stack("pose").float(), betas=stack("betas").float(),
        has_3d=stack("has_3d").float(), has_smpl=stack("has_smpl").float(),
        seq=stack("seq", torch.full((n,), -1)).long(), frame=stack("frame", torch.zeros(n)).long(),
        features=stack("features"), detections=stack("detections"),
        keypoints_set=keypoints_set, seq_names=seq_names or [], seq_fps=seq_fps or [],
        seq_groups=seq_groups or [])
