"""The perception stage end to end: frames -> detections -> tracker -> tracklets.

Streamed: only the frames of one detection batch are held at a time, so memory does not grow
with clip length (the tracklets themselves are the only thing that grows: ~0.5 kB per person
per frame). Each stage's wall time is measured for `meshvid bench track`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from meshvid.errors import InputError
from meshvid.io.video import FrameSource
from meshvid.perception.appearance import appearance_descriptor
from meshvid.perception.crops import make_crops
from meshvid.perception.detector import PoseDetector, choose_imgsz
from meshvid.perception.keypoint_pass import second_look
from meshvid.perception.tracker import OnlineTracker, TrackBuilder, TrackerConfig
from meshvid.records import Frame, Track, VideoInfo


DETECTIONS_PER_SECOND = 15.0


def auto_stride(fps: float) -> int:
    """Detect about 15 times per second of video: every frame of a 10-15 fps clip, every 2nd
    of a 30 fps one, every 4th at 60 fps. People move little in 1/15 s, so the frames between
    are well served by interpolation, and detection is the expensive stage."""
    if not fps or fps <= 0:
        return 1
    return max(1, int(round(fps / DETECTIONS_PER_SECOND)))


@dataclass
class TrackOptions:
    imgsz: int | None = None  # None: chosen from the first frame (choose_imgsz)
    det_stride: int | None = None  # detect every n-th frame (frames between are interpolated);
    #                                None: auto_stride(fps), about DETECTIONS_PER_SECOND
    batch: int = 1  # detection frames per network call
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    crop_size: int | None = None  # also crop every tracked person (benchmarks the crop stage)
    # a second detector pass on each tracked person's crop at this size (keypoint_pass.py);
    # None: off
    keypoint_crop: int | None = None
    keypoint_flip: bool = False  # that pass also on each crop mirrored, the views averaged


@dataclass
class StageTimes:
    decode: float = 0.0
    detect: float = 0.0
    track: float = 0.0
    crop: float = 0.0
    keypoint_crop: float = 0.0
    imgsz_probe: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


@dataclass
class TrackingResult:
    info: VideoInfo
    tracks: list[Track]
    num_frames: int
    timestamps: np.ndarray  # (num_frames,) every frame's time in seconds
    imgsz: int
    det_stride: int
    detector: str
    tracker: str
    times: StageTimes
    wall_time: float
    cpu_time: float = 0.0  # this process's CPU seconds (all threads) for the run
    detections_per_frame: float = 0.0
    bridges: list = field(default_factory=list)  # tracker.Bridge: every gap-bridging decision

    @property
    def fps(self) -> float:
        return self.num_frames / self.wall_time if self.wall_time > 0 else 0.0


def _timed_frames(source: FrameSource, times: StageTimes) -> Iterator[Frame]:
    it = iter(source)
    while True:
        t = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            times.decode += time.perf_counter() - t
            return
        times.decode += time.perf_counter() - t
        yield frame


def run_tracking(source: FrameSource, detector: PoseDetector, options: TrackOptions | None = None,
                 on_frame: Callable[[int], None] | None = None) -> TrackingResult:
    """Track every person through `source`. `on_frame(n)` is called after each frame."""
    opts = options or TrackOptions()
    stride = auto_stride(source.info.fps) if opts.det_stride is None else max(1, int(opts.det_stride))
    batch = max(1, int(opts.batch))
    times = StageTimes()
    builder = TrackBuilder(stride=stride)
    tracker = OnlineTracker(opts.tracker.kind, track_buffer_frames=opts.tracker.track_buffer_frames,
                            stride=stride)
    imgsz = opts.imgsz
    pending: list[Frame] = []
    n_dets = 0
    n_det_frames = 0
    start = time.perf_counter()
    cpu_start = time.process_time()

    def flush() -> None:
        nonlocal n_dets, n_det_frames
        if not pending:
            return
        t = time.perf_counter()
        per_frame = detector.detect([f.image for f in pending], imgsz=imgsz)
        times.detect += time.perf_counter() - t
        for frame, dets in zip(pending, per_frame):
            t = time.perf_counter()
            pairs = tracker.update(dets, frame.image)
            times.track += time.perf_counter() - t
            if opts.keypoint_crop and pairs:
                t = time.perf_counter()
                looked = second_look(detector, frame.image, [dets[i] for _, i in pairs],
                                     int(opts.keypoint_crop), flip=opts.keypoint_flip)
                dets = list(dets)
                for (_, i), d in zip(pairs, looked):
                    dets[i] = d
                times.keypoint_crop += time.perf_counter() - t
            t = time.perf_counter()
            for track_id, i in pairs:
                builder.add(frame.index, track_id, dets[i],
                            appearance_descriptor(frame.image, dets[i].box))
            times.track += time.perf_counter() - t
            n_dets += len(dets)
            n_det_frames += 1
            if opts.crop_size and pairs:
                t = time.perf_counter()
                chosen = [dets[i] for _, i in pairs]
                make_crops(frame.image, np.stack([d.box for d in chosen]),
                           np.stack([d.keypoints for d in chosen]), size=opts.crop_size)
                times.crop += time.perf_counter() - t
        pending.clear()

    count = 0
    for frame in _timed_frames(source, times):
        if imgsz is None:
            t = time.perf_counter()
            imgsz = choose_imgsz(detector, frame.image)
            times.imgsz_probe += time.perf_counter() - t
        builder.add_frame(frame.index, frame.timestamp)
        # detect on every stride-th frame and always on the last one we will see is unknown in a
        # stream, so the tail after the last detection frame is simply not extrapolated
        if frame.index % stride == 0:
            pending.append(frame)
            if len(pending) >= batch:
                flush()
        count += 1
        if on_frame is not None:
            on_frame(count)
    flush()
    if count == 0:
        raise InputError(f"{source.info.path}: no frames could be read")
    tracks = builder.build(opts.tracker)
    wall = time.perf_counter() - start
    return TrackingResult(info=source.info, tracks=tracks, num_frames=count,
                          timestamps=builder.timestamps, imgsz=int(imgsz or detector.imgsz),
                          det_stride=stride, detector=str(detector.weights),
                          tracker=opts.tracker.kind, times=times, wall_time=wall,
                          cpu_time=time.process_time() - cpu_start,
                          detections_per_frame=n_dets / max(1, n_det_frames),
                          bridges=builder.bridges)
