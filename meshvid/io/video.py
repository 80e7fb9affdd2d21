"""Streamed frame sources: video files (PyAV), image folders and single images.

Every source yields `Frame` records one at a time, so memory stays flat with clip length: a
decoded frame is converted to an RGB array and the PyAV frame is released before the next one.

* Timestamps come from each frame's presentation time (pts * time_base), relative to the first
  frame, so variable-frame-rate phone clips keep their real timing.
* Rotation: phones store portrait video as landscape pixels plus a display matrix; we rotate
  the pixels as a player would (FFmpeg's autorotate rule), and `VideoInfo.width/height/rotation`
  describe the frames as yielded. Still images honour their EXIF orientation the same way.
* Expected failures (missing path, not a video, no decodable frame, corrupt data mid-stream)
  raise `InputError` with one readable line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from meshvid.errors import InputError
from meshvid.records import Frame, VideoInfo

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
DEFAULT_IMAGE_FPS = 30.0


def display_rotation_cw(frame_rotation: float | int | None) -> int:
    """Clockwise degrees (0/90/180/270) to apply to decoded pixels so they display upright.

    PyAV's `VideoFrame.rotation` is the display matrix's counter-clockwise angle
    (av_display_rotation_get); FFmpeg's player rotates by its negative, i.e. clockwise.
    """
    if not frame_rotation:
        return 0
    return int(round(-float(frame_rotation) / 90.0)) % 4 * 90


def rotate_cw(image: np.ndarray, degrees_cw: int) -> np.ndarray:
    if degrees_cw % 360 == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(degrees_cw // 90)))


class VideoSource:
    """A video file decoded with PyAV. Iterate for frames; `info` is known after construction.

    Construction opens the file and decodes its first frame (to learn the rotation and check
    that there is something to decode), then closes it; each iteration opens a fresh decoder.
    """

    def __init__(self, path: str | Path, *, start: int = 0, stop: int | None = None,
                 keep_partial: bool = False) -> None:
        self.path = Path(path)
        self.start, self.stop = max(0, int(start)), stop
        # keep_partial: a decoding error mid-stream ends the clip there (with a warning)
        # instead of failing; every pass then sees the same frames
        self.keep_partial = keep_partial
        self.info = self._probe()
        self._size: tuple[int, int] | None = None  # (w, h) as yielded, when downscaled

    def downscaled(self, max_side: int) -> "VideoSource":
        """The same clip, its frames scaled (by FFmpeg's swscale, during the RGB conversion:
        no full-resolution RGB array is ever made) so that the longer side is at most
        `max_side`; itself when already small enough. `info` describes the scaled frames."""
        import copy
        import dataclasses

        scale = max_side / max(self.info.width, self.info.height)
        if scale >= 1.0:
            return self
        other = copy.copy(self)
        w = max(2, int(round(self.info.width * scale / 2)) * 2)
        h = max(2, int(round(self.info.height * scale / 2)) * 2)
        other._size = (w, h)
        other.info = dataclasses.replace(self.info, width=w, height=h)
        return other

    def _open(self):
        import av

        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
            raise InputError(f"cannot read {self.path} as a video ({_short(err)}): "
                             "give an existing video file, image or image folder") from None
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.path} has no video stream (empty, or not a video): give a "
                             "video file")
        return container

    def _probe(self) -> VideoInfo:
        import av

        container = self._open()
        try:
            stream = container.streams.video[0]
            first = None
            try:
                for first in container.decode(stream):
                    break
            except av.FFmpegError as err:
                raise InputError(f"{self.path} could not be decoded ({_short(err)}): the file is "
                                 "corrupt or truncated") from None
            if first is None:
                raise InputError(f"{self.path} has no decodable video frames (empty or truncated "
                                 "file)")
            rotation = display_rotation_cw(getattr(first, "rotation", 0))
            w, h = first.width, first.height
            if rotation in (90, 270):
                w, h = h, w
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else DEFAULT_IMAGE_FPS
            n = int(stream.frames or 0) or None
            if n is not None:
                n = max(0, min(n, self.stop if self.stop is not None else n) - self.start)
            return VideoInfo(path=str(self.path), width=w, height=h, fps=fps, num_frames=n,
                             rotation=rotation, has_audio=bool(container.streams.audio))
        finally:
            container.close()

    def __iter__(self) -> Iterator[Frame]:
        import av

        container = self._open()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame threads: decode overlaps our own work a little
            t0: float | None = None
            index = -1
            try:
                for vf in container.decode(stream):
                    index += 1
                    if index < self.start:
                        continue
                    if self.stop is not None and index >= self.stop:
                        break
                    t = vf.time
                    if t is None:  # containers without pts (rare): fall back to the mean rate
                        t = index / self.info.fps
                    if t0 is None:
                        t0 = t
                    rotation = display_rotation_cw(getattr(vf, "rotation", 0))
                    if self._size is None:
                        image = vf.to_ndarray(format="rgb24")
                    else:  # scale in the decoded orientation, then rotate
                        w, h = self._size if rotation in (0, 180) else self._size[::-1]
                        image = vf.to_ndarray(format="rgb24", width=w, height=h,
                                              interpolation="AREA")
                    image = rotate_cw(image, rotation)
                    del vf  # release the decoder's buffer before the caller works on the frame
                    yield Frame(index=index - self.start, timestamp=float(t - t0), image=image)
            except av.FFmpegError as err:
                kept = index + 1 - self.start
                if not self.keep_partial or kept < 1:
                    raise InputError(f"{self.path}: decoding failed after frame {index} "
                                     f"({_short(err)}): the file is corrupt or truncated (pass "
                                     "--keep-partial to use the frames before the damage)"
                                     ) from None
                import warnings

                from meshvid.errors import MeshvidWarning

                warnings.warn(f"{self.path} is damaged after frame {index} ({_short(err)}): "
                              f"kept the first {kept} frames (--keep-partial)",
                              MeshvidWarning, stacklevel=2)
        finally:
            container.close()


class ImageSource:
    """A single image or a folder of images (sorted in natural order: 2.png before 10.png)."""

    def __init__(self, path: str | Path, *, fps: float = DEFAULT_IMAGE_FPS, start: int = 0,
                 stop: int | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            files = sorted((p for p in self.path.iterdir()
                            if p.suffix.lower() in IMAGE_EXTS and p.is_file()),
                           key=lambda p: _natural_key(p.name))
            if not files:
                raise InputError(f"{self.path} contains no images ({', '.join(sorted(IMAGE_EXTS))})")
        else:
            files = [self.path]
        self.files = files[max(0, start):stop]
        if not self.files:
            raise InputError(f"{self.path}: no images in the requested frame range")
        first = self._read(self.files[0])
        h, w = first.shape[:2]
        self.info = VideoInfo(path=str(self.path), width=w, height=h, fps=float(fps),
                              num_frames=len(self.files), rotation=0, has_audio=False)
        self._full: tuple[int, int] = (w, h)  # (w, h) of the files (before downscaled())

    def downscaled(self, max_side: int) -> "ImageSource":
        """The same images, scaled so that the longer side is at most `max_side` (see
        VideoSource.downscaled)."""
        import copy
        import dataclasses

        scale = max_side / max(self.info.width, self.info.height)
        if scale >= 1.0:
            return self
        other = copy.copy(self)
        w = max(1, int(round(self.info.width * scale)))
        h = max(1, int(round(self.info.height * scale)))
        other.info = dataclasses.replace(self.info, width=w, height=h)
        return other

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        from PIL import Image, ImageOps, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im)  # phone photos: honour the EXIF orientation
                return np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError, SyntaxError, ImportError) as err:
            # ImportError: ultralytics patches Image.open to try an optional HEIF plugin on
            # files Pillow cannot identify; without it the file is still not an image we read.
            raise InputError(f"cannot read image {path} ({_short(err)})") from None

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.files):
            image = self._read(path)
            if image.shape[:2] != self._full[::-1]:
                raise InputError(f"{path} is {image.shape[1]}x{image.shape[0]} but the first "
                                 f"image is {self._full[0]}x{self._full[1]}: all images of "
                                 "a folder must have one size")
            if image.shape[:2] != (self.info.height, self.info.width):
                import cv2

                image = cv2.resize(image, (self.info.width, self.info.height),
                                   interpolation=cv2.INTER_AREA)
            yield Frame(index=i, timestamp=i / self.info.fps, image=image)


FrameSource = VideoSource | ImageSource


def open_source(path: str | Path, *, image_fps: float = DEFAULT_IMAGE_FPS, start: int = 0,
                stop: int | None = None, keep_partial: bool = False) -> FrameSource:
    """A video file, an image folder or a single image, as a streamed source of `Frame`s.

    `start`/`stop` select a frame range [start, stop) (decoded and skipped: exact, not seeked).
    `keep_partial`: a video that fails to decode part-way ends there, with a MeshvidWarning,
    instead of raising InputError.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist: give a video file, an image or an image folder")
    if p.is_dir() or p.suffix.lower() in IMAGE_EXTS:
        return ImageSource(p, fps=image_fps, start=start, stop=stop)
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty (0 bytes): give a video file")
    return VideoSource(p, start=start, stop=stop, keep_partial=keep_partial)


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _short(err: BaseException) -> str:
    # FFmpeg errors carry a readable strerror ("Invalid data found when processing input");
    # their str() adds an errno and the file name we already print
    text = getattr(err, "strerror", None) or str(err).strip() or type(err).__name__
    text = text.splitlines()[0]
    return text[:160]
