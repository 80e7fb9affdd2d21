"""One entry point for animation exports: `export_motion(result, ["fbx", "bvh"], "out/clip")`.

Used by `meshvid export` and by `meshvid infer --export`. Files written:
  <stem>.fbx, <stem>.glb, <stem>.blend   every selected person in one file (Blender)
  <stem>_person_<id>.bvh                 one per person (BVH holds a single skeleton), rows
                                         from source frame 0
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
    rig: str = "smpl"

    def to_dict(self) -> dict:
        return {
            "files": [str(f) for f in self.files],
            "preset": self.preset,
            "rig": self.rig,
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


def _already_locked(result: MotionResult) -> bool:
    from meshvid.export.footlock import is_foot_locked

    return is_foot_locked(result)


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
    rig: str = "smpl",
    root_bone: bool = False,
    foot_lock: bool = True,
    on_stage: Callable[[str], None] | None = None,
) -> ExportReport:
    """Write the requested formats; every file appears atomically or not at all.

    Args:
        result: the whole result (its floor is estimated from all its people when the NPZ
            does not hold one, before `track_ids` selects people).
        formats: fbx, glb, bvh, blend (list or comma-separated).
        out_stem: path without extension; BVH adds `_person_<id>`.
        preset: blender, unity or unreal (FBX/BVH/.blend; GLB is always glTF's Y-up metres).
        track_ids: people to export (all when None).
        body_model: the result's body model (loaded by name when None).
        smpl_dir: SMPL folder for results made with the SMPL body.
        level: remove the camera pitch/roll (the floor's up direction becomes Z).
        with_camera: include the video camera (FBX, GLB, .blend).
        rig: bone names, hierarchy and rest pose: smpl, mixamo, ue5.
        root_bone: add a floor-level root bone carrying the horizontal motion.
        foot_lock: detect foot contacts and pin the feet to the floor during them.
        on_stage: called with each finished stage's name.
    Returns:
        ExportReport (files, frames, seconds per stage, notes such as the camera height).
    """
    from meshvid.export.blender import check_bpy, run_blender_jobs
    from meshvid.export.bvh import BVH_FIRST_FRAME, write_bvh
    from meshvid.export.rig import build_rig
    from meshvid.scene.floor import with_floor
    from meshvid.scene.world import result_in_world
    from meshvid.export.skeletons import rig_spec

    formats = parse_formats(formats)
    chosen = get_preset(preset)
    spec = rig_spec(rig, root_bone=root_bone)
    result.select_tracks(track_ids)  # unknown ids fail before any work
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
    # everything below works in the world frame (meshvid/scene/world.py): the camera frame
    # itself for a still camera; for a moving one, the video camera follows `camera_path`
    camera_path = result.camera
    # one floor for any subset
    result = with_floor(result_in_world(result), body_model).select_tracks(track_ids)
    seconds["floor"] = time.perf_counter() - t1
    notes: dict[str, float] = {}
    if foot_lock and not _already_locked(result):
        from meshvid.export.footlock import foot_lock_result

        t1 = time.perf_counter()
        result, stats = foot_lock_result(result, body_model, level=level)
        notes.update(stats)
        seconds["foot_lock"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    scene = build_rig(result, body_model, chosen, level=level, with_camera=with_camera, rig=spec,
                      camera_path=camera_path)
    seconds["rig"] = time.perf_counter() - t1
    if on_stage:
        on_stage("rig")

    # Blender first: if it fails, nothing at all has been written.
    files: list[Path] = []
    targets = {f: out_stem.with_name(f"{out_stem.name}.{f}") for f in formats
               if f in BLENDER_FORMATS}
    if targets:
        jobs = []
        if "glb" in targets and chosen.name != "blender":
            # glTF is Y up and metres by specification: the GLB is always made from the metric
            # scene (Blender's glTF exporter converts Z up to Y up), whatever the preset.
            glb_scene = build_rig(result, body_model, get_preset("blender"), level=level,
                                  with_camera=with_camera, rig=spec, camera_path=camera_path)
            jobs.append((glb_scene, {"glb": targets["glb"]}))
        rest = {f: p for f, p in targets.items() if f != "glb" or chosen.name == "blender"}
        if rest:
            jobs.append((scene, rest))
        timings = run_blender_jobs(jobs, on_stage=on_stage)
        seconds.update({f"blender_{k}": v for k, v in timings.items()})
        files += list(targets.values())
    if "bvh" in formats:
        t1 = time.perf_counter()
        files += write_bvh(scene, out_stem)
        seconds["write_bvh"] = time.perf_counter() - t1
        notes["bvh_first_frame"] = float(BVH_FIRST_FRAME)
        if on_stage:
            on_stage("write_bvh")
    seconds["total"] = time.perf_counter() - t0
    return ExportReport(files=files, preset=chosen.name, track_ids=result.track_ids,
                        frames=(scene.frame_start, scene.frame_end), seconds=seconds,
                        notes={**scene.notes, **notes}, rig=spec.name)
