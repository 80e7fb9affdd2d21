"""One entry point for animation exports: `export_motion(result, ["fbx", "bvh"], "out/clip")`.

Used by `meshvid export` and by `meshvid infer --export`. Files written:
  <stem>.fbx, <stem>.glb, <stem>.blend   every selected person in one file (Blender)
  <stem>_person_<id>.bvh                 one per person (BVH holds a single skeleton)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from meshvid.errors import InputError
from meshvid.export.motion import MotionResult
from meshvid.export.presets import get_preset

FORMATS = ("fbx", "glb", "bvh", "blend")
BLENDER_FORMATS = ("fbx", "glb", "blend")


@dataclass
class ExportReport:
    files: list[Path]
    preset: str
    track_ids: list[int]
    frames: tuple[int, int]
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "files": [str(f) for f in self.files],
            "preset": self.preset,
            "track_ids": self.track_ids,
            "frame_start": self.frames[0],
            "frame_end": self.frames[1],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            **{k: round(v, 4) for k, v in self.notes.items()},
        }


def parse_formats(text: str | list[str]) -> list[str]:
    items = text if isinstance(text, list) else text.split(",")
    formats = []
    for item in items:
        fmt = item.strip().lower().lstrip(".")
        if not fmt:
            continue
        if fmt not in FORMATS:
            raise InputError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
        if fmt not in formats:
            formats.append(fmt)
    if not formats:
        raise InputError(f"no export format given; choose from {', '.join(FORMATS)}")
    return formats


def parse_track_ids(text: str | None) -> list[int] | None:
    if text is None or not text.strip():
        return None
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise InputError(f"--track-ids must be comma-separated integers, got {text!r}") from None


def load_body_model(name: str, smpl_dir: str | Path | None = None):
    """The body model a result was made with (it provides the rest mesh and weights)."""
    from meshvid.body import load_body_model as _load

    return _load(name, smpl_dir=smpl_dir) if name == "smpl" else _load(name)


def export_motion(
    result: MotionResult,
    formats: list[str] | str,
    out_stem: str | Path,
    *,
    preset: str = "blender",
    track_ids: list[int] | None = None,
    body_model=None,
    smpl_dir: str | Path | None = None,
    level: bool = False,
    with_camera: bool = True,
    on_stage: Callable[[str], None] | None = None,
) -> ExportReport:
    """Write the requested formats; every file appears atomically or not at all."""
    from meshvid.export.blender import check_bpy, run_blender
    from meshvid.export.bvh import write_bvh
    from meshvid.export.rig import build_rig

    formats = parse_formats(formats)
    chosen = get_preset(preset)
    result = result.select_tracks(track_ids)
    if not result.persons:
        raise InputError("nothing to export: the result holds no tracked person")
    if any(f in BLENDER_FORMATS for f in formats):
        check_bpy()  # before any heavy work
    out_stem = Path(out_stem)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if body_model is None:
        body_model = load_body_model(result.body_model, smpl_dir)
    seconds["body_model"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    scene = build_rig(result, body_model, chosen, level=level, with_camera=with_camera)
    seconds["rig"] = time.perf_counter() - t1
    if on_stage:
        on_stage("rig")

    # Blender first: if it fails, nothing at all has been written.
    files: list[Path] = []
    targets = {f: out_stem.with_name(f"{out_stem.name}.{f}") for f in formats
               if f in BLENDER_FORMATS}
    if targets:
        timings = run_blender(scene, targets, on_stage=on_stage)
        seconds.update({f"blender_{k}": v for k, v in timings.items()})
        files += list(targets.values())
    if "bvh" in formats:
        t1 = time.perf_counter()
        files += write_bvh(scene, out_stem)
        seconds["write_bvh"] = time.perf_counter() - t1
        if on_stage:
            on_stage("write_bvh")
    seconds["total"] = time.perf_counter() - t0
    return ExportReport(files=files, preset=chosen.name, track_ids=result.track_ids,
                        frames=(scene.frame_start, scene.frame_end), seconds=seconds,
                        notes=scene.notes)
