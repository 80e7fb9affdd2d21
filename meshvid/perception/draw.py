"""Drawing tracklets over frames (boxes, track ids, COCO-17 skeletons) and the tracking video.

Colours per track id and the skeleton drawing come from meshvid.render.overlay, so a person has
the same colour in `meshvid track --render` and in `meshvid infer`'s mesh overlay.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from meshvid.io.video import FrameSource
from meshvid.io.writer import VideoWriter
from meshvid.records import Track
from meshvid.render.overlay import draw_keypoints, track_color


def frame_index(tracks: list[Track]) -> dict[int, list[tuple[Track, int]]]:
    """frame id -> [(track, row in that track)] for quick per-frame lookup."""
    index: dict[int, list[tuple[Track, int]]] = defaultdict(list)
    for t in tracks:
        for row, f in enumerate(t.frame_ids):
            index[int(f)].append((t, row))
    return index


def draw_people(image: np.ndarray, people: list[tuple[Track, int]]) -> np.ndarray:
    """Draw each (track, row) on a copy of the RGB frame; interpolated boxes are dashed-thin."""
    out = image.copy()
    scale = max(0.5, image.shape[0] / 900)
    thick = max(1, int(round(2 * scale)))
    for track, row in people:
        color = track_color(track.track_id)
        c = tuple(int(255 * v) for v in color)
        x1, y1, x2, y2 = (int(round(v)) for v in track.boxes[row])
        filled = bool(track.interpolated[row]) if track.interpolated is not None else False
        cv2.rectangle(out, (x1, y1), (x2, y2), c, 1 if filled else thick, cv2.LINE_AA)
        draw_keypoints(out, track.keypoints[row], track.keypoint_scores[row], color)
        label = f"#{track.track_id}" + (" ~" if filled else "")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, thick)
        ty = max(y1, th + base + 2)
        cv2.rectangle(out, (x1, ty - th - base - 2), (x1 + tw + 4, ty), c, -1)
        cv2.putText(out, label, (x1 + 2, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale,
                    (0, 0, 0), thick, cv2.LINE_AA)
    return out


def render_tracking_video(source: FrameSource, tracks: list[Track], path: str | Path, *,
                          audio: bool = True, on_frame: Callable[[int], None] | None = None
                          ) -> Path:
    """A second streamed pass over the clip, drawing the final (bridged) tracks; atomic MP4."""
    index = frame_index(tracks)
    audio_from = source.info.path if audio and source.info.has_audio else None
    with VideoWriter(path, source.info.fps, audio_from=audio_from) as writer:
        for n, frame in enumerate(source, start=1):
            writer.write(draw_people(frame.image, index.get(frame.index, [])), frame.timestamp)
            if on_frame is not None:
                on_frame(n)
    return Path(path)
