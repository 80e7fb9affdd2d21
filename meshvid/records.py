"""Typed records passed between pipeline stages. Each stage takes records and returns records."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class VideoInfo:
    path: str
    width: int  # after applying rotation metadata
    height: int
    fps: float  # average frame rate
    num_frames: int | None  # None when the container does not say
    rotation: int = 0  # degrees clockwise applied to decoded frames
    has_audio: bool = False


@dataclass
class Frame:
    index: int  # 0-based decode order
    timestamp: float  # seconds from the start (real presentation time, VFR-safe)
    image: np.ndarray  # (H, W, 3) uint8 RGB


@dataclass
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in frame pixels
    score: float
    keypoints: np.ndarray  # (17, 2) COCO_17 pixels
    keypoint_scores: np.ndarray  # (17,)
    track_id: int | None = None


@dataclass
class Track:
    """One person through the clip: per-frame arrays aligned on `frame_ids`."""

    track_id: int
    frame_ids: np.ndarray  # (T,) int
    timestamps: np.ndarray  # (T,) seconds
    boxes: np.ndarray  # (T, 4) x1, y1, x2, y2
    scores: np.ndarray  # (T,)
    keypoints: np.ndarray  # (T, 17, 2)
    keypoint_scores: np.ndarray  # (T, 17)
    interpolated: np.ndarray = field(default=None)  # (T,) bool: bridged gap, not detected
    # (T,) bool: inside a bridged gap, where the detector looked and did not find the person
    # (a subset of `interpolated`: the frames between detection-stride frames are not gaps).
    # No evidence there: overlays draw no mesh; exports keep the interpolated motion.
    gap: np.ndarray = field(default=None)

    def __len__(self) -> int:
        return len(self.frame_ids)
