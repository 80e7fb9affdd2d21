"""The on-disk format of a synthetic data set: numbered .npz shards and a data card.

    DIR/datacard.json            the card (config, sources, licences, split, counts)
    DIR/DATACARD.md              the same, for people
    DIR/shard-000000.npz ...     samples; each shard is a plain NumPy .npz (readable with
                                 np.load) whose bytes are a pure function of (config, seed, index)
    DIR/shard-000000.det.npz     optional detector keypoints for that shard (`meshvid synth detect`)

Inside a shard (N samples; sequences add a frame axis T after N; crops have no T axis):
    jpeg            (total,) uint8    all images' JPEG files, concatenated, sample-major
    jpeg_offsets    (N*T + 1,) int64  image i is jpeg[offsets[i]:offsets[i+1]]
    <frame label>   (N, [T,] ...)     see FRAME_KEYS
    <person label>  (N, ...)          see PERSON_KEYS

Determinism: the zip container gets fixed timestamps and attributes and the arrays are stored
uncompressed (JPEG is already compressed), so the same samples give the same bytes. Writes are
atomic (temporary file in the same directory, then os.replace): a shard that exists is complete.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from meshvid.errors import InputError

FORMAT = "meshvid-synth"
FORMAT_VERSION = 1
SHARD_RE = re.compile(r"^shard-(\d{6})\.npz$")
JPEG_QUALITY = 90

# Per-frame labels: name -> (per-frame shape, dtype, meaning). Docs/synth.md repeats this table.
FRAME_KEYS: dict[str, tuple[tuple[int, ...], str, str]] = {
    "pose": ((24, 3), "float32", "axis-angle, SMPL_24 order; root rotation in CAMERA axes"),
    "transl": ((3,), "float32", "body-model translation (camera frame): body(pose, betas, transl) = the rendered mesh"),
    "cam": ((3,), "float32", "weak-perspective (s, tx, ty) for the crop, x_norm = s * (X_xy + t), X posed with transl 0"),
    "world_transl": ((3,), "float32", "body-model translation in the world frame (y up, ground y = 0)"),
    "cam_R": ((3, 3), "float32", "world -> camera rotation (X_cam = R X_world + t)"),
    "cam_t": ((3,), "float32", "world -> camera translation"),
    "box": ((3,), "float32", "crop box in frame pixels: x0, y0, side"),
    "frame_size": ((2,), "int32", "virtual video frame width, height (pixels)"),
    "focal": ((), "float32", "frame focal length (pixels); principal point = frame centre"),
    "crop_focal": ((), "float32", "focal length of the crop image (crop pixels)"),
    "crop_center": ((2,), "float32", "principal point of the crop image (crop pixels)"),
    "silhouette_px": ((), "int32", "visible body pixels in the crop"),
    "occluded_px": ((), "int32", "body pixels hidden by synthetic occluders"),
}
for _name, _n in (("smpl24", 24), ("lsp14", 14), ("coco17", 17)):
    FRAME_KEYS[f"joints3d_{_name}"] = ((_n, 3), "float32", f"{_name} joints, camera frame, metres")
    FRAME_KEYS[f"joints2d_{_name}"] = ((_n, 2), "float32", f"{_name} joints projected, crop pixels")
    FRAME_KEYS[f"joints2d_{_name}_norm"] = ((_n, 2), "float32", f"{_name} joints, crop-normalised [-1, 1]")
    FRAME_KEYS[f"vis_{_name}"] = ((_n,), "uint8", f"1 = {_name} joint inside the crop and frame, not behind an occluder")

PERSON_KEYS: dict[str, tuple[tuple[int, ...], str, str]] = {
    "betas": ((10,), "float32", "shape coefficients"),
    "source_kind": ((), "int8", "0 deepmimic, 1 anny-walkcycle, 2 pose-sampler, 3 blend"),
    "clip_id": ((), "int16", "index into the card's motion.clips"),
    "clip_id2": ((), "int16", "second clip of a blend, else -1"),
    "clip_time": ((), "float32", "seconds into the clip (first frame)"),
    "speed": ((), "float32", "playback speed factor"),
    "mirrored": ((), "int8", "1 if the motion was mirrored left/right"),
    "background_id": ((), "int16", "index into the card's backgrounds.photos, -1 = procedural"),
    "fps": ((), "float32", "frame rate of a sequence (crops: 0)"),
}


def shard_path(root: Path, index: int) -> Path:
    return root / f"shard-{index:06d}.npz"


def list_shards(root: str | Path) -> list[Path]:
    root = Path(root)
    return sorted(p for p in root.iterdir() if SHARD_RE.match(p.name)) if root.is_dir() else []


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    # No EXIF, no timestamps: PIL's JPEG output depends only on the pixels and these options.
    Image.fromarray(image).save(buf, format="JPEG", quality=quality, optimize=False, subsampling=0)
    return buf.getvalue()


def decode_jpeg(data: bytes | np.ndarray) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"))


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez-compatible file with reproducible bytes, written atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                info.create_system = 3
                zf.writestr(info, buf.getvalue())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def pack_shard(samples: Iterable, sequence: bool) -> dict[str, np.ndarray]:
    """generate.Sample objects -> the shard's arrays."""
    jpegs: list[bytes] = []
    frame: dict[str, list[np.ndarray]] = {k: [] for k in FRAME_KEYS}
    person: dict[str, list] = {k: [] for k in PERSON_KEYS}
    for s in samples:
        for img in s.images:
            jpegs.append(encode_jpeg(img))
        for k, (shape, dtype, _) in FRAME_KEYS.items():
            v = np.asarray(s.frame[k], dtype=dtype)
            frame[k].append(v if sequence else v[0])
        for k, (shape, dtype, _) in PERSON_KEYS.items():
            person[k].append(np.asarray(s.person.get(k, 0), dtype=dtype))
    offsets = np.zeros(len(jpegs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(j) for j in jpegs])
    out = {"jpeg": np.frombuffer(b"".join(jpegs), dtype=np.uint8), "jpeg_offsets": offsets}
    for k, (_, dtype, _) in FRAME_KEYS.items():
        out[k] = np.stack(frame[k]).astype(dtype)
    for k, (_, dtype, _) in PERSON_KEYS.items():
        out[k] = np.stack(person[k]).astype(dtype)
    return out


def read_shard(path: str | Path, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """All (or some) arrays of a shard, plus the detector sidecar's when present."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in (keys if keys is not None else z.files)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise InputError(f"cannot read shard {path}: {err}; delete it and resume to regenerate") from None
    det = path.with_name(path.name.replace(".npz", ".det.npz"))
    if det.exists() and keys is None:
        with np.load(det, allow_pickle=False) as z:
            out.update({k: z[k] for k in z.files})
    return out


def shard_num_samples(path: Path) -> int:
    with np.load(path, allow_pickle=False) as z:
        return int(z["clip_id"].shape[0])


# --- the card

def card_path(root: Path) -> Path:
    return Path(root) / "datacard.json"


def read_card(root: Path) -> dict | None:
    p = card_path(root)
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except ValueError as err:
        raise InputError(f"{p} is not valid JSON ({err}); delete it to start afresh") from None


def write_card(root: Path, card: dict) -> None:
    root = Path(root)
    for name, text in (("datacard.json", json.dumps(card, indent=2, sort_keys=False) + "\n"),
                       ("DATACARD.md", card_markdown(card))):
        tmp = root / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, root / name)


def card_markdown(card: dict) -> str:
    cfg = card["config"]
    lines = [
        f"# Synthetic data set: {cfg['kind']}, split `{cfg['split']}`",
        "",
        f"Made by `{card['command']}` (meshvid {card['meshvid_version']}), format "
        f"{FORMAT} v{FORMAT_VERSION} (docs/synth.md).",
        "",
        "## Counts",
        "",
    ]
    counts = card.get("counts", {})
    lines += [f"- {k}: {v}" for k, v in counts.items() if not isinstance(v, dict)]
    for k, v in counts.items():
        if isinstance(v, dict):
            lines.append(f"- {k}: " + ", ".join(f"{a} {b}" for a, b in v.items()))
    m = card["motion"]
    lines += ["", "## Split", "", m["split_rule"], "",
              "Held out (never in a training split): " + ", ".join(m["held_out"]), "",
              "Clips in this set: " + ", ".join(m["clips"]), "", "## Sources and licences", ""]
    for s in card["sources"]:
        lines.append(f"- **{s['name']}**: {s['what']} — licence: {s['licence']}")
    lines += ["", "Background photos: " + ", ".join(p["name"] for p in card["backgrounds"]["photos"]),
              "", "## Config", "", "```json", json.dumps(cfg, indent=2), "```", ""]
    return "\n".join(lines)
