"""From `PoseSample`s to network inputs: square crops and labels in crop-normalised coordinates
(meshvid.geometry.camera), as a torch Dataset the trainer and the evaluator share.

Every item is a dict of tensors with the keys the trainer's batches use (see
meshvid/train/batch.py): image (3, S, S) in [0, 1]; keypoints (K, 3) crop-normalised + weight in
the requested joint set; joints3d (J, 4) metres + weight and has_3d; pose (24, 3) and betas
(10,) and has_smpl. Absent labels are zeros with their mask 0, so batches collate.
"""

from __future__ import annotations

import numpy as np
import torch

from meshvid.data.records import PoseSample, TARGET_SETS, remap
from meshvid.errors import InputError


def crop_transform(center: np.ndarray, box_size: float, crop_size: int) -> np.ndarray:
    """2x3 affine from image pixels to crop pixels for a square box."""
    scale = crop_size / max(box_size, 1e-6)
    return np.array([[scale, 0.0, crop_size / 2 - scale * center[0]],
                     [0.0, scale, crop_size / 2 - scale * center[1]]])


def crop_image(image: np.ndarray, center: np.ndarray, box_size: float, crop_size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (S, S, 3) uint8 square crop (zero padding outside the image)."""
    from PIL import Image

    a = crop_transform(center, box_size, crop_size)
    inv = np.linalg.inv(np.vstack([a, [0, 0, 1]]))[:2]  # crop -> image, what PIL wants
    img = Image.fromarray(image)
    out = img.transform((crop_size, crop_size), Image.Transform.AFFINE, inv.flatten().tolist(),
                        resample=Image.Resampling.BILINEAR)
    return np.asarray(out)


def to_crop_normalised(points_px: np.ndarray, center: np.ndarray, box_size: float) -> np.ndarray:
    """Image pixels -> crop-normalised [-1, 1] for the square box (independent of crop size)."""
    return 2.0 * (points_px - center) / box_size


class CropDataset(torch.utils.data.Dataset):
    def __init__(self, samples: list[PoseSample], crop_size: int = 224,
                 keypoints_set: str = "coco17", joints3d_set: str = "lsp14",
                 load_images: bool = True) -> None:
        self.samples = samples
        self.crop_size = crop_size
        self.keypoints_set = keypoints_set
        self.joints3d_set = joints3d_set
        self.load_images = load_images

    def __len__(self) -> int:
        return len(self.samples)

    def _image(self, s: PoseSample) -> torch.Tensor:
        from PIL import Image

        try:
            with Image.open(s.image) as im:
                rgb = np.asarray(im.convert("RGB"))
        except OSError as err:
            raise InputError(f"cannot read image {s.image}: {err}") from None
        crop = crop_image(rgb, s.center, s.box_size, self.crop_size)
        return torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = self.samples[i]
        from meshvid.data.records import TARGET_SETS as sets

        kp = s.keypoints2d
        if s.keypoints2d_set != self.keypoints_set:
            kp = remap(kp, sets[s.keypoints2d_set], self.keypoints_set)
        kpn = np.concatenate([to_crop_normalised(kp[:, :2], s.center, s.box_size),
                              (kp[:, 2:3] > 0).astype(np.float64)], axis=1)
        nj = len(TARGET_SETS[self.joints3d_set])
        j3 = np.zeros((nj, 4))
        if s.joints3d is not None:
            src = s.joints3d if s.joints3d_set == self.joints3d_set else None
            if src is None:
                src = remap(np.concatenate([s.joints3d, np.ones((len(s.joints3d), 1))], 1),
                            sets[s.joints3d_set], self.joints3d_set)
                j3 = src
            else:
                j3 = np.concatenate([src, np.ones((nj, 1))], 1)
        item = {
            "keypoints": torch.tensor(kpn, dtype=torch.float32),
            "joints3d": torch.tensor(j3, dtype=torch.float32),
            "has_3d": torch.tensor(float(s.has_3d and j3[:, 3].sum() > 0)),
            "pose": torch.tensor(s.pose if s.pose is not None else np.zeros((24, 3)),
                                 dtype=torch.float32),
            "betas": torch.tensor(s.betas if s.betas is not None else np.zeros(10),
                                  dtype=torch.float32),
            "has_smpl": torch.tensor(float(s.has_smpl)),
        }
        if self.load_images:
            item["image"] = self._image(s)
        return item
