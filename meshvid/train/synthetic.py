"""The `meshvid synth` output (meshvid/synth/shards.py format) as item dicts for training and
evaluation: one item per frame (a crop, or one frame of a sequence).

A data root may be one synth output folder (with datacard.json) or a folder of them; folders
are picked by their card's split: "train" for training, anything else (the held-out split)
for evaluation. Sequence frames carry a sequence id, so SATN sees whole sequences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from meshvid.errors import InputError

_LABELS = ("pose", "betas", "joints3d_lsp14", "fps", "clip_id")


def synth_folders(root: str | Path, split: str) -> list[tuple[Path, dict]]:
    from meshvid.synth.shards import read_card

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"synthetic data folder not found: {root}; make it with `meshvid synth`")
    cands = [root] + sorted(p for p in root.rglob("*") if p.is_dir())
    out = []
    for d in cands:
        card = read_card(d)
        if card is None:
            continue
        s = card.get("config", {}).get("split", "train")
        if (split == "train") == (s == "train"):
            out.append((d, card))
    if not out:
        raise InputError(f"no synthetic {split!r} data under {root} (looked for datacard.json "
                         "folders); make it with `meshvid synth`")
    return out


class SyntheticItems(torch.utils.data.Dataset):
    def __init__(self, root: str | Path, split: str = "train", crop_size: int = 224,
                 keypoints_set: str = "coco17", max_sequences: int | None = None,
                 max_crops: int | None = None) -> None:
        from meshvid.synth.shards import list_shards, read_shard

        self.crop_size = crop_size
        self.keypoints_set = keypoints_set
        self.index: list[tuple[Path, int, int, int]] = []  # shard, sample, frame, seq id (-1)
        self.seq_names: list[str] = []
        self.seq_fps: list[float] = []
        self.seq_groups: list[str] = []
        self._crops = 0
        self._crop_px: dict[Path, int] = {}
        for folder, card in synth_folders(root, split):
            crop_px = int(card.get("config", {}).get("crop_size", crop_size))
            clips = card.get("motion", {}).get("clips", [])
            for shard in list_shards(folder):
                self._crop_px[shard] = crop_px
                meta = read_shard(shard, keys=("clip_id", "fps", "jpeg_offsets"))
                n = len(meta["clip_id"])
                frames = (len(meta["jpeg_offsets"]) - 1) // max(n, 1)
                is_seq = card.get("config", {}).get("kind", "crops") != "crops" and frames > 1
                for i in range(n):
                    if is_seq:
                        if max_sequences is not None and len(self.seq_names) >= max_sequences:
                            continue
                        cid = int(meta["clip_id"][i])
                        clip = clips[cid] if 0 <= cid < len(clips) else f"clip{cid}"
                        sid = len(self.seq_names)
                        self.seq_names.append(f"{Path(clip).name}#{shard.stem[-4:]}.{i}")
                        self.seq_fps.append(float(meta["fps"][i]) or 30.0)
                        self.seq_groups.append(Path(clip).name)
                        self.index += [(shard, i, t, sid) for t in range(frames)]
                    elif max_crops is None or self._crops < max_crops:
                        self._crops += 1
                        self.index.append((shard, i, 0, -1))
        if not self.index:
            raise InputError(f"the synthetic {split!r} data under {root} has no samples yet")
        self._cache: tuple[Path | None, dict] = (None, {})

    def __len__(self) -> int:
        return len(self.index)

    def sequence_meta(self) -> tuple[list[str], list[float], list[str]]:
        return self.seq_names, self.seq_fps, self.seq_groups

    def _shard(self, path: Path) -> dict:
        from meshvid.synth.shards import read_shard

        if self._cache[0] != path:
            self._cache = (path, read_shard(path))
        return self._cache[1]

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        return self.labels_of(self.index[k], with_image=True)

    def labels_of(self, entry: tuple[Path, int, int, int], with_image: bool = False
                  ) -> dict[str, torch.Tensor]:
        from meshvid.synth.shards import decode_jpeg

        shard, i, t, sid = entry
        a = self._shard(shard)
        seq = a["pose"].ndim == 4  # (N, T, 24, 3)
        n_frames = a["pose"].shape[1] if seq else 1
        j = i * n_frames + t

        def f(key: str) -> np.ndarray:
            return a[key][i, t] if seq else a[key][i]

        s = self.keypoints_set
        kp = np.concatenate([f(f"joints2d_{s}_norm"), f(f"vis_{s}")[:, None].astype(np.float32)], 1)
        j3 = np.concatenate([f("joints3d_lsp14"), np.ones((14, 1), np.float32)], 1)
        item = {"keypoints": torch.from_numpy(kp).float(),
                "joints3d": torch.from_numpy(j3).float(), "pose": torch.from_numpy(f("pose")).float(),
                "betas": torch.from_numpy(a["betas"][i]).float(), "has_3d": torch.tensor(1.0),
                "has_smpl": torch.tensor(1.0), "seq": torch.tensor(sid), "frame": torch.tensor(t)}
        if with_image:
            img = decode_jpeg(a["jpeg"][a["jpeg_offsets"][j]:a["jpeg_offsets"][j + 1]])
            image = torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 255.0
            if image.shape[-1] != self.crop_size:
                image = torch.nn.functional.interpolate(
                    image[None], size=(self.crop_size,) * 2, mode="bilinear", align_corners=False)[0]
            item["image"] = image
        det_key = f"keypoints_{s}_det"
        if det_key in a:  # detector keypoints (`meshvid synth detect`): crop pixels + confidence
            det = np.asarray(f(det_key), np.float32).copy()
            det[:, :2] = det[:, :2] * (2.0 / self._crop_px[shard]) - 1.0
            item["detections"] = torch.from_numpy(det)
        return item
