"""Reading a synthetic data set for training: torch datasets streaming the shards from disk.

`SynthStream` (IterableDataset) is the one to train with: each epoch it visits the shards in a
new random order, split across DataLoader workers, and shuffles samples within a window of
shards, so only a few shards are in memory at once. `SynthIndexed` (map-style Dataset) gives
random access with a small shard cache, for evaluation and small sets.

An item is a dict of tensors:
    image       crops: (3, S, S) float32 in [0, 1]; sequences: (T, 3, S, S)
    <label>     every frame label of meshvid.synth.shards.FRAME_KEYS (sequences: leading T)
    <person>    every per-sample label of PERSON_KEYS (betas, clip ids, ...)
    rotmat      (..., 24, 3, 3) the pose as rotation matrices (root in camera axes)
    keypoints_coco17_det  (..., 17, 3) detector keypoints (crop pixels + confidence), only when
                the shard has a detector sidecar (`meshvid synth detect`)
Sequence items can be cut to a random sub-window of `window` frames.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from meshvid.errors import InputError
from meshvid.synth import shards as fmt


DET_KEYS = ("keypoints_coco17_det", "det_score", "det_box")  # meshvid.synth.detect's sidecar


def _decode(data: np.ndarray) -> np.ndarray:
    return fmt.decode_jpeg(data)  # PIL (libjpeg-turbo): ~1 ms for a 224-px crop


class _Shard:
    """One shard in memory: label arrays + JPEG bytes; decodes images on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.arrays = fmt.read_shard(path)
        self.jpeg = self.arrays.pop("jpeg")
        self.offsets = self.arrays.pop("jpeg_offsets")
        self.n = len(self.arrays["clip_id"])
        self.sequence = self.arrays["pose"].ndim == 4
        self.t = self.arrays["pose"].shape[1] if self.sequence else 1

    def image(self, k: int) -> np.ndarray:
        return _decode(self.jpeg[self.offsets[k]:self.offsets[k + 1]])

    def item(self, i: int, frames: slice | None = None) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.sequence:
            fr = range(self.t)[frames] if frames is not None else range(self.t)
            imgs = np.stack([self.image(i * self.t + f) for f in fr])
            out["image"] = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div_(255.0)
        else:
            out["image"] = torch.from_numpy(self.image(i)).permute(2, 0, 1).float().div_(255.0)
        for k, v in self.arrays.items():
            a = v[i]
            if self.sequence and frames is not None and (k in fmt.FRAME_KEYS or k in DET_KEYS):
                a = a[frames]
            out[k] = torch.from_numpy(np.array(a))
        from meshvid.geometry.rotations import axis_angle_to_matrix  # noqa: PLC0415

        out["rotmat"] = axis_angle_to_matrix(out["pose"].double()).float()
        return out


def _shard_paths(root: str | Path) -> list[Path]:
    paths = fmt.list_shards(root)
    if not paths:
        raise InputError(f"no synthetic shards in {root}; make some with `meshvid synth --out {root}`")
    return paths


class SynthStream(IterableDataset):
    def __init__(self, root: str | Path, shuffle: bool = True, seed: int = 0, window: int | None = None,
                 shuffle_shards: int = 2) -> None:
        """root: a `meshvid synth` output directory. window: for sequences, the length of a
        random sub-window (None = whole sequences). shuffle_shards: shards mixed at once."""
        self.paths = _shard_paths(root)
        self.shuffle = shuffle
        self.seed = seed
        self.window = window
        self.shuffle_shards = max(1, shuffle_shards)
        self.epoch = 0
        card = fmt.read_card(Path(root)) or {}
        self.card = card
        planned = card.get("counts", card.get("planned", {})).get("samples")
        self._len = int(planned) if planned else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(fmt.shard_num_samples(p) for p in self.paths)
        return self._len

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.paths)) if self.shuffle else np.arange(len(self.paths))
        mine = [self.paths[k] for k in order[wid::nw]]
        for start in range(0, len(mine), self.shuffle_shards):
            group = [_Shard(p) for p in mine[start:start + self.shuffle_shards]]
            pairs = [(g, i) for g in group for i in range(g.n)]
            if self.shuffle:
                pairs = [pairs[k] for k in rng.permutation(len(pairs))]
            for g, i in pairs:
                yield g.item(i, self._frames(g, rng))

    def _frames(self, shard: _Shard, rng: np.random.Generator) -> slice | None:
        if not shard.sequence or self.window is None or self.window >= shard.t:
            return None
        s = int(rng.integers(0, shard.t - self.window + 1)) if self.shuffle else 0
        return slice(s, s + self.window)


class SynthIndexed(Dataset):
    def __init__(self, root: str | Path, window: int | None = None, cache_shards: int = 4) -> None:
        self.paths = _shard_paths(root)
        self.counts = [fmt.shard_num_samples(p) for p in self.paths]
        self.starts = np.concatenate([[0], np.cumsum(self.counts)])
        self.window = window
        self.cache_shards = cache_shards
        self._cache: OrderedDict[int, _Shard] = OrderedDict()

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _shard(self, k: int) -> _Shard:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        shard = _Shard(self.paths[k])
        self._cache[k] = shard
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return shard

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = int(np.searchsorted(self.starts, index, side="right") - 1)
        shard = self._shard(k)
        frames = None
        if shard.sequence and self.window is not None and self.window < shard.t:
            s = (shard.t - self.window) // 2  # deterministic: the centred window
            frames = slice(s, s + self.window)
        return shard.item(index - int(self.starts[k]), frames)


def num_batches(dataset: SynthStream, batch_size: int) -> int:
    return math.ceil(len(dataset) / batch_size)
