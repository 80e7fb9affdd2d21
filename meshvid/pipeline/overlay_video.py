"""Pass 3 of `meshvid infer`: every person's mesh over the video, written as an MP4."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from meshvid.io.video import FrameSource
from meshvid.io.writer import VideoWriter
from meshvid.render.overlay import OverlayRenderer, PersonInFrame

# The overlay video's longer side at most (pixels): a 3840x2160 source gives a 1920x1080
# overlay. The meshes are drawn at <= 1024 px anyway (OverlayRenderer.max_render_side).
OVERLAY_MAX_SIDE = 1920


class _VertexChunks:
    """A person's posed vertices computed 32 frames at a time (batched skinning is several
    times cheaper per frame than one frame per call), holding only the current chunk."""

    CHUNK = 32

    def __init__(self, person, body) -> None:
        self.person, self.body = person, body
        self.betas = torch.from_numpy(person.betas)[None]
        self.start, self.verts = -1, None

    def __call__(self, row: int) -> np.ndarray:
        start = row - row % self.CHUNK
        if start != self.start:
            p, end = self.person, min(row - row % self.CHUNK + self.CHUNK, len(self.person))
            with torch.inference_mode():
                self.verts = self.body(torch.from_numpy(p.pose[start:end]),
                                       self.betas.expand(end - start, -1),
                                       torch.from_numpy(p.transl[start:end])).vertices.numpy()
            self.start = start
        return self.verts[row - self.start]


class _Pipelined:
    """Runs `fn` (the encoder) on one worker thread, in call order, at most `depth` calls
    behind: x264 and FFmpeg release the GIL, so frame n is encoded while frame n + 1 is drawn.
    The first error is raised in the caller at its next call or at exit."""

    def __init__(self, fn: Callable, depth: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.fn, self.depth = fn, depth
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self.pending: list = []

    def __call__(self, *args) -> None:
        if len(self.pending) >= self.depth:
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self.fn, *args))

    def __enter__(self) -> "_Pipelined":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            while self.pending:
                future = self.pending.pop(0)
                if exc_type is None:
                    future.result()
                else:
                    future.cancel()
        finally:
            self.pool.shutdown(wait=True)


def render_overlay_video(source: FrameSource, persons, body, path: str | Path, *, focal: float,
                         side_view: bool = False, keypoints: bool = False, audio: bool = True,
                         on_frame: Callable[[int], None] | None = None,
                         camera=None) -> Path:
    """Decode `source` again and draw each PersonMotion's mesh on its frames; atomic MP4.

    Sources larger than `OVERLAY_MAX_SIDE` (4K) are decoded straight to that size and the
    overlay is written at it: a full-resolution RGB frame is never made in this pass, and the
    encoder's buffers shrink with the pixels (a 4K clip peaked at 2.7 GB otherwise).
    The overlay is drawn in the camera's view; with `camera` (a moving camera's
    meshvid.scene.records.CameraPath) the side view is in the world frame.
    """
    moving = camera is not None and not camera.is_static
    full_side = max(source.info.width, source.info.height)
    source = source.downscaled(OVERLAY_MAX_SIDE)
    info = source.info
    scale = max(info.width, info.height) / full_side  # 1.0 unless downscaled
    focal = focal * scale
    rows: dict[int, list[tuple[int, int]]] = {}
    for pi, person in enumerate(persons):
        gap = person.gap if getattr(person, "gap", None) is not None else np.zeros(len(person), bool)
        for row, f in enumerate(person.frame_ids.tolist()):
            if not gap[row]:  # no mesh where the detector looked and saw nobody (issue 27)
                rows.setdefault(int(f), []).append((pi, row))
    vertices = [_VertexChunks(p, body) for p in persons]
    audio_from = info.path if audio and info.has_audio else None
    faces = np.asarray(body.faces)
    with VideoWriter(path, info.fps, audio_from=audio_from) as writer, \
            OverlayRenderer(info.width, info.height, faces, side_view=side_view,
                            show_keypoints=keypoints) as renderer, \
            _Pipelined(writer.write) as write:
        for n, frame in enumerate(source, start=1):
            people = []
            for pi, row in rows.get(frame.index, []):
                p = persons[pi]
                people.append(PersonInFrame(
                    p.track_id, vertices[pi](row),
                    None if p.keypoints2d is None else p.keypoints2d[row] * scale,
                    None if p.keypoint_scores is None else p.keypoint_scores[row]))
            world = None
            if moving and side_view:
                R, t = camera.at(np.array([frame.index]))
                world = (R[0], t[0])
            write(renderer.render(frame.image, people, focal, world), frame.timestamp)
            if on_frame is not None:
                on_frame(n)
    return Path(path)


def render_overlay_image(source: FrameSource, persons, body, path: str | Path, *, focal: float,
                         side_view: bool = False, keypoints: bool = False) -> Path:
    """A single image input: the overlay as a PNG (written atomically)."""
    from PIL import Image

    from meshvid.export.atomic import atomic_output

    frame = next(iter(source))
    people = []
    for p in persons:
        with torch.inference_mode():
            verts = body(torch.from_numpy(p.pose[:1]), torch.from_numpy(p.betas)[None],
                         torch.from_numpy(p.transl[:1])).vertices[0].numpy()
        people.append(PersonInFrame(p.track_id, verts,
                                    None if p.keypoints2d is None else p.keypoints2d[0],
                                    None if p.keypoint_scores is None else p.keypoint_scores[0]))
    info = source.info
    with OverlayRenderer(info.width, info.height, np.asarray(body.faces), side_view=side_view,
                         show_keypoints=keypoints) as renderer:
        image = renderer.render(frame.image, people, focal)
    path = Path(path)
    with atomic_output(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path
