"""The tracklet file (`tracks.json`, schema in docs/tracks-format.md): write and read.

JSON so that a person can open it; values are rounded (pixels to 0.01, scores to 1e-4,
seconds to 1e-6), which is far below detector noise. Written atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from meshvid.body.joints import COCO_17
from meshvid.errors import InputError
from meshvid.records import Track, VideoInfo

FORMAT = "meshvid.tracks"
VERSION = 1


def _r(a: np.ndarray, nd: int | None) -> list:
    """Rounded to nd decimals for a readable file; nd None keeps every bit (JSON floats
    round-trip exactly), for a tracking result that is read back in place of a new run."""
    a = np.asarray(a, dtype=np.float64)
    return (a if nd is None else np.round(a, nd)).tolist()


def track_to_dict(t: Track, exact: bool = False) -> dict[str, Any]:
    def r(a, nd):
        return _r(a, None if exact else nd)

    interp = t.interpolated if t.interpolated is not None else np.zeros(len(t), bool)
    return {
        "id": int(t.track_id),
        "num_frames": int(len(t)),
        "first_frame": int(t.frame_ids[0]) if len(t) else None,
        "last_frame": int(t.frame_ids[-1]) if len(t) else None,
        "frame_ids": [int(x) for x in t.frame_ids],
        "timestamps": r(t.timestamps, 6),
        "boxes": r(t.boxes, 2),
        "scores": r(t.scores, 4),
        "keypoints": r(t.keypoints, 2),
        "keypoint_scores": r(t.keypoint_scores, 4),
        "interpolated": [int(x) for x in interp],
        "gap": [int(x) for x in (t.gap if t.gap is not None else np.zeros(len(t), bool))],
    }


def track_from_dict(d: dict[str, Any]) -> Track:
    n = len(d["frame_ids"])
    return Track(track_id=int(d["id"]),
                 frame_ids=np.asarray(d["frame_ids"], dtype=np.int64),
                 timestamps=np.asarray(d["timestamps"], dtype=np.float64),
                 boxes=np.asarray(d["boxes"], dtype=np.float64).reshape(n, 4),
                 scores=np.asarray(d["scores"], dtype=np.float64),
                 keypoints=np.asarray(d["keypoints"], dtype=np.float64).reshape(n, 17, 2),
                 keypoint_scores=np.asarray(d["keypoint_scores"], dtype=np.float64).reshape(n, 17),
                 interpolated=np.asarray(d["interpolated"], dtype=bool),
                 # tracks.json written before issue 27 has no gap flags: none known
                 gap=np.asarray(d.get("gap", np.zeros(n, int)), dtype=bool))


def tracks_document(info: VideoInfo, tracks: list[Track], *, num_frames: int,
                    timestamps: np.ndarray, meta: dict[str, Any] | None = None,
                    exact: bool = False) -> dict[str, Any]:
    video = asdict(info)
    video["num_frames"] = int(num_frames)  # what was actually decoded
    return {
        "format": FORMAT,
        "version": VERSION,
        "video": video,
        "frame_timestamps": _r(timestamps, None if exact else 6),
        "keypoint_names": list(COCO_17),
        "meta": meta or {},
        "tracks": [track_to_dict(t, exact) for t in tracks],
    }


def save_tracks(path: str | Path, document: dict[str, Any]) -> Path:
    from meshvid.export.atomic import write_text_atomic

    path = Path(path)
    write_text_atomic(path, json.dumps(document, separators=(",", ":")) + "\n")
    return path


def load_tracks(path: str | Path) -> tuple[VideoInfo, list[Track], dict[str, Any]]:
    """-> (video info, tracks, the whole document) from a tracks.json."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} does not exist: run `meshvid track` first") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path} as a tracks file: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path} is not a meshvid tracks file")
    if int(doc.get("version", 0)) > VERSION:
        raise InputError(f"{path} has tracks format version {doc['version']}; this meshvid reads "
                         f"up to {VERSION}: upgrade meshvid")
    info = VideoInfo(**doc["video"])
    return info, [track_from_dict(t) for t in doc["tracks"]], doc
