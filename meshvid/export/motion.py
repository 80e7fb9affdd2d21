"""The saved result of a run: each tracked person's motion, and the clip it came from.

These records are what `meshvid infer` produces, what the NPZ holds (meshvid/export/npz.py,
schema in docs/formats.md), what `meshvid smooth` filters and what the FBX/GLB/BVH exporters
read. numpy only (no torch) so that any tool can load them cheaply.

Conventions
-----------
* `pose` is (T, 24, 3) axis-angle in meshvid/body/base.py's layout (SMPL_24 order, each joint
  relative to its parent in the rest-pose world axes; the root's rotation maps the body frame
  (y up, z out of the chest) into the camera).
* Camera space is meshvid/geometry/camera.py's: OpenCV axes (x right, y down, z forward), metres.
* `transl` is the body model's translation argument: `BodyModel.forward(pose, betas, transl)`
  gives camera-space vertices and joints, so the root joint sits at `rest_joints[0] + transl`.
* `joints3d` is `BodyOutput.joints` for that call: camera-space posed SMPL_24 joints.
* `MotionResult.camera` is the video camera's world -> camera path per frame
  (meshvid/scene/records.py, world frame: meshvid/scene/world.py); per-person values stay in
  camera space, and `meshvid.scene.world.result_in_world` gives the world-frame view that the
  floor, foot lock and the exporters use. None (files from before) means a still camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from meshvid.body.joints import NUM_BETAS, NUM_JOINTS
from meshvid.errors import InputError
from meshvid.scene.records import CameraPath


@dataclass
class PersonMotion:
    """One tracked person: per-frame arrays aligned on `frame_ids` (sorted, unique)."""

    track_id: int
    frame_ids: np.ndarray  # (T,) int64, 0-based frame index in the source
    timestamps: np.ndarray  # (T,) float64 seconds from the start of the source
    pose: np.ndarray  # (T, 24, 3) float32 axis-angle
    betas: np.ndarray  # (10,) float32 shape of this person (one per track)
    transl: np.ndarray  # (T, 3) float32 camera-space translation, metres
    cam: np.ndarray | None = None  # (T, 3) weak-perspective (s, tx, ty) of the crop
    boxes: np.ndarray | None = None  # (T, 4) x1, y1, x2, y2 frame pixels
    joints3d: np.ndarray | None = None  # (T, 24, 3) camera-space posed joints, metres
    keypoints2d: np.ndarray | None = None  # (T, 17, 2) COCO_17 detector keypoints, pixels
    keypoints3d: np.ndarray | None = None  # (T, 17, 3) the mesh's COCO_17 keypoints, camera space
    keypoint_scores: np.ndarray | None = None  # (T, 17)
    betas_per_frame: np.ndarray | None = None  # (T, 10) if the model predicts shape per frame
    interpolated: np.ndarray | None = None  # (T,) bool: frame bridged by the tracker
    # (T,) bool: inside a bridged gap, where the detector looked and did not see the person
    # (issue 27; a subset of `interpolated`). Overlays draw no mesh there; exports keep the
    # interpolated motion (docs/export.md). None: no gaps known (files before issue 27).
    gap: np.ndarray | None = None
    rest_joints: np.ndarray | None = None  # (24, 3) rest (T-pose) joints for `betas`, body frame

    def __post_init__(self) -> None:
        self.track_id = int(self.track_id)
        self.frame_ids = np.asarray(self.frame_ids, dtype=np.int64).reshape(-1)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
        self.pose = np.asarray(self.pose, dtype=np.float32)
        self.betas = np.asarray(self.betas, dtype=np.float32).reshape(-1)
        self.transl = np.asarray(self.transl, dtype=np.float32)
        for name in ("cam", "boxes", "joints3d", "keypoints2d", "keypoints3d", "keypoint_scores",
                     "betas_per_frame", "rest_joints"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.float32))
        if self.interpolated is not None:
            self.interpolated = np.asarray(self.interpolated, dtype=bool).reshape(-1)
        if self.gap is not None:
            self.gap = np.asarray(self.gap, dtype=bool).reshape(-1)
        self.validate()

    def __len__(self) -> int:
        return int(self.frame_ids.shape[0])

    def validate(self) -> None:
        """Shapes and ordering; raises InputError naming the offending field."""
        t = len(self)
        where = f"track {self.track_id}"
        expected: dict[str, tuple[int, ...]] = {
            "timestamps": (t,), "pose": (t, NUM_JOINTS, 3), "betas": (NUM_BETAS,),
            "transl": (t, 3), "cam": (t, 3), "boxes": (t, 4), "joints3d": (t, NUM_JOINTS, 3),
            "keypoints2d": (t, 17, 2), "keypoints3d": (t, 17, 3), "keypoint_scores": (t, 17),
            "betas_per_frame": (t, NUM_BETAS), "interpolated": (t,), "gap": (t,),
            "rest_joints": (NUM_JOINTS, 3),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape:
                raise InputError(f"{where}: {name} has shape {tuple(value.shape)}, expected {shape}")
        if t == 0:
            raise InputError(f"{where} has no frames")
        if t > 1 and not np.all(np.diff(self.frame_ids) > 0):
            raise InputError(f"{where}: frame ids must be strictly increasing")
        if not (np.isfinite(self.pose).all() and np.isfinite(self.transl).all()):
            raise InputError(f"{where}: pose or translation holds NaN/inf values")

    def select(self, mask: np.ndarray) -> "PersonMotion":
        """The frames where `mask` (T,) is true, every per-frame field sliced alike."""
        kwargs = {}
        for name in ("frame_ids", "timestamps", "pose", "transl", "cam", "boxes", "joints3d",
                     "keypoints2d", "keypoints3d", "keypoint_scores", "betas_per_frame", "interpolated",
                     "gap"):
            value = getattr(self, name)
            kwargs[name] = None if value is None else value[mask]
        return replace(self, **kwargs)


@dataclass(frozen=True)
class Floor:
    """The ground of a result, estimated once from all its people (meshvid/scene/floor.py) and
    stored in the NPZ, so every export of any subset of the people uses the same floor.

    World frame (meshvid/scene/world.py: the camera's own frame for a still camera; the first
    frame's camera, levelled, for a moving one), OpenCV axes, metres. A point p is
    `up @ p + height` above the floor, where
    (`up`, `height`) is `plane(level)`: the level camera's up (0, -1, 0) with `height`, or, for
    `--level`, gravity's up `up` (the scene's plumb lines, meshvid/scene/vanishing.py, else the
    people's mean up) with `height_levelled`.
    """

    up: np.ndarray  # (3,) unit "up" (gravity) in the world frame: the plumb lines' or the people's
    height: float  # camera height above the floor measured along (0, -1, 0), metres
    height_levelled: float  # camera height above the floor measured along `up`, metres

    def plane(self, level: bool) -> tuple[np.ndarray, float]:
        """(up (3,), camera height) of the floor for an export with or without `--level`."""
        if level:
            return np.asarray(self.up, dtype=np.float64), float(self.height_levelled)
        return np.array([0.0, -1.0, 0.0]), float(self.height)


@dataclass
class MotionResult:
    """Every tracked person of one source, plus what is needed to interpret the numbers."""

    persons: list[PersonMotion]
    fps: float  # source frame rate (frames per second)
    body_model: str  # name for meshvid.body.load_body_model, e.g. "anny24" or "smpl"
    image_size: tuple[int, int]  # (width, height) pixels of the source frames
    focal_length: float  # pixels, of the full-frame perspective camera behind `transl`
    source: str = ""  # path of the video / image folder the result came from
    meshvid_version: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # free-form provenance (e.g. smoothing)
    floor: Floor | None = None  # estimated from every person; None in NPZs written before it
    # world -> camera per source frame (meshvid/scene/world.py); None: a still camera (the
    # world is the camera frame), as in every result from before camera motion
    camera: CameraPath | None = None

    def __post_init__(self) -> None:
        self.fps = float(self.fps)
        self.focal_length = float(self.focal_length)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if not self.meshvid_version:
            from meshvid import __version__

            self.meshvid_version = __version__
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise InputError(f"frame rate must be positive, got {self.fps}")
        ids = [p.track_id for p in self.persons]
        if len(set(ids)) != len(ids):
            raise InputError(f"duplicate track ids in result: {ids}")
        if self.camera is not None and self.persons:
            last = max(int(p.frame_ids[-1]) for p in self.persons)
            if last >= self.camera.num_frames:
                raise InputError(f"the camera path covers {self.camera.num_frames} frames but "
                                 f"a track reaches frame {last}")

    @property
    def track_ids(self) -> list[int]:
        return [p.track_id for p in self.persons]

    def person(self, track_id: int) -> PersonMotion:
        for p in self.persons:
            if p.track_id == track_id:
                return p
        raise InputError(f"no track {track_id} in result; tracks: {self.track_ids}")

    def select_tracks(self, track_ids: list[int] | None) -> "MotionResult":
        """A result holding only `track_ids` (all when None), in the order given."""
        if track_ids is None:
            return self
        missing = [t for t in track_ids if t not in self.track_ids]
        if missing:
            raise InputError(
                f"track id(s) {missing} not in the result; available: {self.track_ids}"
            )
        return replace(self, persons=[self.person(t) for t in track_ids])

    def frame_range(self) -> tuple[int, int]:
        """First and last frame id over all persons."""
        if not self.persons:
            raise InputError("the result holds no tracked person")
        return (min(int(p.frame_ids[0]) for p in self.persons),
                max(int(p.frame_ids[-1]) for p in self.persons))
