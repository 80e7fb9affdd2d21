"""MP4 writer (PyAV): H.264 through libx264 when FFmpeg has it, else MPEG-4 Part 2, optionally
carrying the source clip's audio (copied packet for packet, not re-encoded).

Written atomically: frames go to a hidden temporary sibling that replaces the destination only
when `close()` succeeds; an error or interruption removes it, so no half-written video is ever
left looking complete.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from meshvid.errors import InputError

# Timestamps are written in 1/90000 s ticks (MPEG's clock), so variable frame rates survive.
_TIME_BASE = Fraction(1, 90000)


def best_video_codec() -> str:
    """libx264 when this FFmpeg build has the encoder, else mpeg4 (always built in)."""
    import av

    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - PyAV raises different errors per version
            continue
    raise InputError("this FFmpeg build has neither libx264 nor mpeg4 encoders")


class VideoWriter:
    """`write(rgb_frame, timestamp=None)` repeatedly, then `close()` (or use as a context
    manager: leaving it with an exception discards the file)."""

    def __init__(self, path: str | os.PathLike, fps: float, *, audio_from: str | None = None,
                 codec: str | None = None, crf: int = 23) -> None:
        from meshvid.export.atomic import ensure_parent, partial_path

        self.path = Path(path)
        ensure_parent(self.path)
        self.tmp = partial_path(self.path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.codec = codec or best_video_codec()
        self.crf = crf
        self.audio_from = audio_from
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None
        self._last_pts = -1
        self.frames_written = 0
        self._audio_src = None
        self._audio_out = None

    def _start(self, width: int, height: int) -> None:
        import av

        try:
            self._container = av.open(str(self.tmp), mode="w", format="mp4")
        except (OSError, av.FFmpegError) as err:
            raise InputError(f"cannot write {self.path}: {err}") from None
        stream = self._container.add_stream(self.codec, rate=Fraction(self.fps).limit_denominator(
            1001 * 1000))
        # yuv420p needs even sizes: drop the last row/column when odd
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = _TIME_BASE
        stream.codec_context.time_base = _TIME_BASE  # else pts are rounded to 1/fps (VFR lost)
        if self.codec == "libx264":
            stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        else:
            stream.bit_rate = max(2_000_000, width * height * 4)
        self._stream = stream
        self._size = (width, height)
        if self.audio_from:
            self._add_audio()

    def write(self, image: np.ndarray, timestamp: float | None = None) -> None:
        import av
        import cv2

        h, w = image.shape[:2]
        if self._container is None:
            self._start(w, h)
        if (w, h) != self._size:
            raise ValueError(f"frame size {w}x{h} differs from the first frame's {self._size}")
        image = np.ascontiguousarray(image[: self._stream.height, : self._stream.width])
        # RGB -> YUV 4:2:0 (BT.601, limited range: what swscale does for rgb24 -> yuv420p) with
        # OpenCV's SIMD code, a third of the encode time at 1768 x 994
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420),
                                           format="yuv420p")
        t = timestamp if timestamp is not None else self.frames_written / self.fps
        pts = int(round(t / _TIME_BASE))
        pts = max(pts, self._last_pts + 1)  # strictly increasing, whatever the source said
        frame.pts, frame.time_base = pts, _TIME_BASE
        self._last_pts = pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def _add_audio(self) -> None:
        """Declare a copy of the source's first audio stream (MP4 wants every stream declared
        before the header, which PyAV writes at the first mux); its packets go in at close."""
        import av

        try:
            source = av.open(str(self.audio_from))
        except av.FFmpegError:
            return
        if not source.streams.audio:
            source.close()
            return
        try:
            self._audio_out = self._container.add_stream_from_template(source.streams.audio[0])
        except (ValueError, av.FFmpegError):
            source.close()  # the mp4 muxer does not take this audio codec: keep the video silent
            return
        self._audio_src = source

    def _copy_audio(self) -> None:
        """Copy audio packets up to the end of the written video."""
        source, out = self._audio_src, self._audio_out
        src = source.streams.audio[0]
        end = (self._last_pts + 1) * _TIME_BASE + Fraction(1, int(self.fps) or 1)
        for packet in source.demux(src):
            if packet.dts is None or packet.pts is None:
                continue
            if packet.time_base and packet.pts * packet.time_base > end:
                break
            packet.stream = out
            self._container.mux(packet)

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        if self._container is None:
            raise InputError(f"no frames were written to {self.path}")
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            if self._audio_src is not None:
                self._copy_audio()
            self._container.close()
            self._container = None
            self._close_audio_source()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def _close_audio_source(self) -> None:
        if self._audio_src is not None:
            self._audio_src.close()
            self._audio_src = None

    def discard(self) -> None:
        self._close_audio_source()
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
            self._container = None
        if self.tmp.exists():
            self.tmp.unlink()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
