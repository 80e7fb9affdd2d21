"""`meshvid infer` on each camera's video, cached in the evaluation's output folder.

Each camera runs through `meshvid.pipeline.infer.run_infer`, the function `meshvid infer`
calls, with the user's options (no rendering, no exports). Its NPZ is kept under
`OUT/infer/<key>/<camera>.npz`, where `<key>` hashes everything that decides the result: every
`InferOptions` field, the content of the weights (and of a custom detector) and the meshvid
version; `<camera>.options.json` beside it records that and the video (name, size,
modification time), and a changed video is run again. So re-scoring (another joint set,
another matching threshold) reruns nothing, and a new network reruns only what it changes.

The detection + tracking stage (most of the time on a CPU) is shared between variants that
differ only after it (weights, SATN, the fit, the crop ray, ...): its result is kept exactly
under `OUT/infer/tracks/<camera>-<tracking key>.tracks.json`, where the tracking key hashes only
what decides the tracks (video, detector and its precision, detector and tracker options). A
variant may also change the tracks before the networks see them (`adjust`, e.g. reference
keypoints in the detector's place); its name enters the variant's key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from meshvid.export.atomic import write_text_atomic
from meshvid.pipeline.infer import InferOptions, Progress, TracksHook

# Loaded by the pipeline: these decide the result (model cards, plots and reports do not).
_WEIGHT_SUFFIXES = (".safetensors", ".yaml", ".yml", ".pt", ".pth", ".ckpt", ".onnx", ".xml",
                    ".bin")


@dataclass(frozen=True)
class Variant:
    """One way of running the pipeline, scored as one row.

    Attributes:
        label: the row's name ("DSD+SATN+refine").
        options: the InferOptions every camera runs with.
        command: the `meshvid eval` flags that select it (for the report).
    """

    label: str
    options: InferOptions
    command: str = ""


def file_digest(path: Path, h: "hashlib._Hash | None" = None) -> str:
    """sha256 of a file, or of a folder's model files (name + bytes, sorted)."""
    h = h or hashlib.sha256()
    path = Path(path)
    files = ([path] if path.is_file() else
             sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES))
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _cached_digest(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_digest(path)
    return _DIGESTS[key]


def resolved_weights(opts: InferOptions) -> Path:
    from meshvid.pipeline.regressor import default_weights_path

    return Path(opts.weights) if opts.weights else default_weights_path()


def video_identity(video: Path) -> dict:
    st = video.stat()
    return {"name": video.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def options_key(opts: InferOptions) -> tuple[str, dict]:
    """(hex key, the description it hashes) for a variant's infer runs."""
    from meshvid import __version__

    # the weights and detector count by content (a path to the shipped weights and the default
    # are the same run)
    fields = {k: (str(v) if isinstance(v, Path) else v)
              for k, v in dataclasses.asdict(opts).items() if k not in ("weights", "detector")}
    weights = resolved_weights(opts)
    from meshvid.body.anny24 import DETECTOR_SHOULDERS
    from meshvid.fitting.refine import RefineOptions

    desc = {
        "options": fields,
        # the keypoint fit's weights are code defaults, not options: a change to them must
        # not read the runs cached before it
        "refine_defaults": dataclasses.asdict(RefineOptions()) if opts.refine else None,
        # where shape_weight shrinks the networks' shape (BodyModel.adult_betas since the fifth
        # session of issue 24; the body model's mean before)
        "shape_prior": "adult_betas",
        # where the mesh's COCO-17 shoulders sit (body/anny24.py DETECTOR_SHOULDERS, since the
        # seventh session of issue 24): every scored keypoint and the fit's targets follow it
        "coco_shoulders": list(DETECTOR_SHOULDERS),
        "weights_sha256": _cached_digest(weights) if weights.exists() else str(weights),
        "detector_sha256": _cached_digest(Path(opts.detector)) if opts.detector else "default",
        "meshvid": __version__,
    }
    key = hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()
    return key[:16], desc


# InferOptions fields that decide detection + tracking (pipeline/infer.py, pass 1); the
# detection stride follows from mesh_rate and the video's rate
TRACKING_FIELDS = ("detector_backend", "imgsz", "det_stride", "mesh_rate", "tracker",
                   "max_people", "min_track_len", "max_gap", "device", "max_frames",
                   "image_fps", "keep_partial", "keypoint_crop", "keypoint_flip")


def tracking_key(opts: InferOptions, video: Path) -> str:
    """Hex key of the tracking stage's result for this video and options."""
    from meshvid import __version__
    from meshvid.cpu import cpu_info
    from meshvid.perception.detector import requested_precision

    desc = {
        "options": {k: getattr(opts, k) for k in TRACKING_FIELDS},
        "detector_sha256": _cached_digest(Path(opts.detector)) if opts.detector else "default",
        "precision": cpu_info().precision_for(requested_precision()),
        "video": video_identity(video), "meshvid": __version__,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def eval_options(opts: InferOptions) -> InferOptions:
    """The user's options with what evaluation does not need switched off (render, exports)."""
    return dataclasses.replace(opts, render="none", exports=(), keypoints=False)


def cached_infer(video: Path, camera: str, cache_root: Path, opts: InferOptions,
                 progress: Progress | None = None, refresh: bool = False,
                 on_run: Callable[[str], None] | None = None,
                 adjust: tuple[str, TracksHook] | None = None,
                 refresh_tracks: bool | None = None) -> tuple[Path, bool]:
    """The NPZ of `meshvid infer <video>` with `opts`, from the cache or run now.

    Args:
        video: the camera's video.
        camera: its name (the NPZ is `<camera>.npz`).
        cache_root: `OUT/infer`.
        opts: the pipeline options (render and exports are ignored).
        progress: the pipeline's stage progress.
        refresh: run again even when cached.
        refresh_tracks: run the tracking stage again too (default: as `refresh`).
        on_run: called with the cache folder when the pipeline actually runs.
        adjust: (name, hook): the hook changes the tracks before the networks run; the name
            enters the cache key.
    Returns:
        (NPZ path, whether it came from the cache).
    """
    from meshvid.pipeline.infer import run_infer

    opts = eval_options(opts)
    key, desc = options_key(opts)
    if adjust is not None:
        desc = {**desc, "tracks_adjusted": adjust[0]}
        key = hashlib.sha256(f"{key}/{adjust[0]}".encode()).hexdigest()[:16]
    folder = cache_root / key
    npz = folder / f"{video.stem}.npz"
    side = folder / f"{video.stem}.options.json"
    if npz.is_file() and side.is_file() and not refresh:
        try:
            recorded = json.loads(side.read_text(encoding="utf-8")).get("video")
            same = recorded == video_identity(video)
        except (OSError, ValueError):
            same = False
        if same:
            return npz, True
    if on_run is not None:
        on_run(str(folder))
    tracks_file = cache_root / "tracks" / f"{video.stem}-{tracking_key(opts, video)}.tracks.json"
    if (refresh if refresh_tracks is None else refresh_tracks) and tracks_file.is_file():
        tracks_file.unlink()
    result = run_infer(video, folder, opts, progress, tracks_file=tracks_file,
                       adjust_tracks=adjust[1] if adjust is not None else None)
    write_text_atomic(side, json.dumps({"camera": camera, "video": video_identity(video), **desc},
                                       indent=1, default=str) + "\n")
    return Path(result.npz_path), False


def cache_size(cache_root: Path) -> int:
    """Bytes under the cache (for the report)."""
    return sum(p.stat().st_size for p in cache_root.rglob("*") if p.is_file()) \
        if cache_root.is_dir() else 0


__all__ = ["Variant", "cached_infer", "options_key", "tracking_key", "file_digest",
           "eval_options"]
