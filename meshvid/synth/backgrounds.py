"""Backgrounds: real photos without people that ship in a Debian package, and procedural textures.

The photos are OpenCV's sample images from Debian's `opencv-doc` package (installed by
scripts/setup.sh), each checked by eye to contain no person. Licence, from the package's
/usr/share/doc/opencv-doc/copyright (`Files: *`): Apache-2.0 AND BSD-3-Clause, copyright the
OpenCV contributors. When the package is absent, only procedural textures are used and the
data card says so.

A background is a picture of the whole (virtual) video frame: `FrameBackground` maps frame
pixels to source-image pixels (scale, offset, flip), so every crop of one frame -- and every
frame of a sequence whose camera pans -- sees a consistent piece of the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

OPENCV_EXAMPLES = Path("/usr/share/doc/opencv-doc/examples")
PHOTO_LICENCE = ("Apache-2.0 AND BSD-3-Clause (OpenCV samples, Debian package opencv-doc; "
                 "/usr/share/doc/opencv-doc/copyright)")

# Chosen by looking at every picture in opencv-doc's examples: streets, buildings, plants,
# objects, animals, aerial views; none shows a person. (Excluded for people: basketball*,
# left*/right* calibration shots, messi5, scenetext01/03/06, Megamind; cartoons and
# synthetic test patterns too.)
PHOTOS: tuple[str, ...] = (
    "data/aero1.jpg", "data/aero3.jpg", "data/aloeL.jpg", "data/aloeR.jpg", "data/apple.jpg",
    "data/baboon.jpg", "data/board.jpg", "data/box_in_scene.png", "data/building.jpg",
    "data/butterfly.jpg", "data/chicky_512.png", "data/ela_original.jpg", "data/fruits.jpg",
    "data/home.jpg", "data/leuvenA.jpg", "data/leuvenB.jpg", "data/licenseplate_motion.jpg",
    "data/orange.jpg", "data/rubberwhale1.png", "data/smarties.png", "data/squirrel_cls.jpg",
    "data/starry_night.jpg", "data/stuff.jpg", "data/graf1.png",
    "text/scenetext02.jpg", "text/scenetext04.jpg", "text/scenetext05.jpg",
    "text/scenetext_segmented_word01.jpg", "text/scenetext_segmented_word02.jpg",
    "alphamat/input_images/plant.jpg", "reg/home.png", "hfs/data/000.jpg",
)
_MAX_SIDE = 1024  # photos are kept in memory at most this large


@lru_cache(maxsize=1)
def available_photos() -> tuple[str, ...]:
    return tuple(p for p in PHOTOS if (OPENCV_EXAMPLES / p).is_file())


@lru_cache(maxsize=64)
def load_photo(name: str) -> np.ndarray:
    im = Image.open(OPENCV_EXAMPLES / name).convert("RGB")
    if max(im.size) > _MAX_SIDE:
        im.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.BILINEAR)
    return np.asarray(im)


def procedural_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """(size, size, 3) uint8: a smooth random scene-like texture (gradients, blobs, stripes,
    tiles, a wall/floor split)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size)
    c1, c2, c3 = (rng.uniform(0.05, 0.95, 3) for _ in range(3))
    kind = rng.integers(5)
    if kind == 0:  # gradient + low-frequency noise
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy)
        t = (t - t.min()) / max(1e-6, np.ptp(t))
        img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    elif kind == 1:  # blobs: upsampled coarse noise
        coarse = rng.uniform(0, 1, (int(rng.integers(3, 9)),) * 2 + (3,)).astype(np.float32)
        img = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize(
            (size, size), Image.BICUBIC)).astype(np.float32) / 255.0
    elif kind == 2:  # stripes
        a = rng.uniform(0, np.pi)
        period = rng.uniform(0.02, 0.2)
        on = (np.floor((np.cos(a) * xx + np.sin(a) * yy) / period) % 2)[..., None]
        img = c1 * on + c2 * (1 - on)
    elif kind == 3:  # tiles
        n = rng.uniform(4, 20)
        on = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[..., None]
        img = c1 * on + c2 * (1 - on)
        grout = ((xx * n) % 1 < 0.06) | ((yy * n) % 1 < 0.06)
        img[grout] = c3
    else:  # wall and floor
        horizon = rng.uniform(0.4, 0.8)
        img = np.where((yy < horizon)[..., None], c1, c2 * (0.6 + 0.4 * (yy - horizon)[..., None]))
    noise = rng.uniform(0.0, 0.04) * rng.standard_normal((size, size, 1), dtype=np.float32)
    img = np.clip(img + noise, 0, 1)
    out = Image.fromarray((img * 255).astype(np.uint8))
    blur = rng.uniform(0.0, 1.5)
    return np.asarray(out.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.5 else out)


@dataclass
class FrameBackground:
    """A background picture for a virtual frame of size (width, height) pixels.

    Frame pixel (u, v) shows source pixel (scale * u + ox, scale * v + oy), mirrored in u when
    `flip`. Colour: out = clip(gain * (in - 128) * contrast + 128 + bias), per channel gain.
    """

    source: str  # photo name, or "procedural"
    image: np.ndarray  # (h, w, 3) uint8
    scale: float
    ox: float
    oy: float
    flip: bool
    gain: np.ndarray  # (3,)
    contrast: float
    bias: float
    blur: float

    def crop(self, x0: float, y0: float, side: float, out_size: int,
             pan: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """The square frame region [x0, x0 + side)^2 (frame pixels, shifted by `pan` pixels for
        a rotating camera) resampled to (out_size, out_size, 3) uint8. Source pixels beyond the
        photo's edge are mirrored, so a crop never shows an artificial border."""
        h, w = self.image.shape[:2]
        s = self.scale
        sx0 = s * (x0 + pan[0]) + self.ox
        sy0 = s * (y0 + pan[1]) + self.oy
        extent = s * side
        if self.flip:
            sx0 = (w - 1) - sx0 - extent
        # Cut the needed source window (with a 2-pixel margin), mirroring outside the photo.
        ix0, iy0 = int(np.floor(sx0)) - 2, int(np.floor(sy0)) - 2
        ix1, iy1 = int(np.ceil(sx0 + extent)) + 3, int(np.ceil(sy0 + extent)) + 3
        window = self.image[_reflect(iy0, iy1, h)][:, _reflect(ix0, ix1, w)]
        if self.flip:
            window = window[:, ::-1]
            lx = (ix1 - ix0) - (sx0 + extent - ix0)
        else:
            lx = sx0 - ix0
        ly = sy0 - iy0
        step = extent / out_size
        im = Image.fromarray(np.ascontiguousarray(window)).transform(
            (out_size, out_size), Image.AFFINE, (step, 0.0, lx, 0.0, step, ly),
            resample=Image.BILINEAR)
        out = np.asarray(im).astype(np.float32)
        out = ((out - 128.0) * self.contrast + 128.0 + self.bias) * self.gain
        out = np.clip(out, 0, 255).astype(np.uint8)
        if self.blur > 0.3:
            out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(self.blur)))
        return out


def _reflect(start: int, stop: int, n: int) -> np.ndarray:
    """Indices start..stop-1 mirrored into [0, n) (period 2n)."""
    idx = np.arange(start, stop) % (2 * n)
    return np.where(idx < n, idx, 2 * n - 1 - idx)


def sample_background(rng: np.random.Generator, frame_w: int, frame_h: int,
                      photo_fraction: float = 0.8) -> FrameBackground:
    photos = available_photos()
    if photos and rng.random() < photo_fraction:
        name = photos[rng.integers(len(photos))]
        image = load_photo(name)
    else:
        name = "procedural"
        image = procedural_texture(rng)
    h, w = image.shape[:2]
    # The frame lies inside the photo (zoom >= 1: a part of it, upsampled at most ~2.5x).
    scale = min(w / frame_w, h / frame_h) / rng.uniform(1.0, 2.5)
    ox = rng.uniform(0.0, w - scale * frame_w)
    oy = rng.uniform(0.0, h - scale * frame_h)
    return FrameBackground(
        source=name, image=image, scale=float(scale), ox=float(ox), oy=float(oy),
        flip=bool(rng.random() < 0.5), gain=rng.uniform(0.85, 1.15, 3) * rng.uniform(0.7, 1.2),
        contrast=float(rng.uniform(0.7, 1.2)), bias=float(rng.normal(0, 8)),
        blur=float(rng.choice([0.0, rng.uniform(0.5, 2.0)], p=[0.6, 0.4])),
    )
