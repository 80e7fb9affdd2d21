"""Test sets as FrameTables: the held-out synthetic sequences, or a real set's test protocol
(3DPW test split; Human3.6M S9 + S11), with backbone features computed once and cached."""

from __future__ import annotations

from pathlib import Path

import torch

from meshvid.errors import InputError
from meshvid.model.dsd import DSDNet
from meshvid.train.tables import FrameTable

DATASETS = ("synthetic", "3dpw", "h36m")


def synthetic_test_table(root: str | Path, dsd: DSDNet, keypoints_set: str, cache_dir: Path,
                         progress=None, max_sequences: int | None = None) -> FrameTable:
    from meshvid.train.sources import encode_synthetic
    from meshvid.train.synthetic import SyntheticItems

    ds = SyntheticItems(root, "heldout", dsd.cfg.backbone.image_size, keypoints_set,
                        max_sequences=max_sequences, max_crops=0)
    if not ds.seq_names:
        raise InputError(f"no held-out synthetic sequences under {root}")
    return encode_synthetic(ds, dsd, cache_dir, progress, label="backbone (held-out)")


def real_test_table(dataset: str, path: str | Path, dsd: DSDNet, keypoints_set: str,
                    image_root: str | None = None, progress=None) -> FrameTable:
    from meshvid.data import load_3dpw, load_h36m
    from meshvid.data.crops import CropDataset
    from meshvid.data.h36m import TEST_SUBJECTS
    from meshvid.train.sources import encode_items

    if dataset == "3dpw":
        samples = load_3dpw(path, "test")
    elif dataset == "h36m":
        samples = load_h36m(path, image_root, TEST_SUBJECTS, keypoints_set)
    else:
        raise InputError(f"unknown data set {dataset!r}; choose one of {', '.join(DATASETS)}")
    ds = CropDataset(samples, dsd.cfg.backbone.image_size, keypoints_set)
    table = encode_items(ds, dsd, progress=progress, label=f"backbone ({dataset})")
    # The data set's own 2D keypoints (3DPW: OpenPose detections; H36M: annotations) are the
    # external skeleton's input.
    table.detections = table.keypoints.clone()
    names = list(dict.fromkeys(s.sequence or s.image for s in samples))
    sid = {n: i for i, n in enumerate(names)}
    table.seq = torch.tensor([sid[s.sequence or s.image] for s in samples])
    table.frame = torch.tensor([s.frame for s in samples])
    table.seq_names = names
    # 3DPW runs at 30 fps; the paper downsamples Human3.6M from 50 to 10 fps.
    table.seq_fps = [30.0 if dataset == "3dpw" else 10.0] * len(names)
    first = {}
    for s in samples:
        first.setdefault(s.sequence or s.image, s.action or dataset)
    table.seq_groups = [first[n] for n in names]
    return table
