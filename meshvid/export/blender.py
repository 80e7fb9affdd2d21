"""FBX, GLB and .blend export through Blender (bpy), run in a child process.

Why a child process (and not `import bpy` here), measured on this 2-core machine:
* bpy works in the same process as torch (checked: `import torch; import bpy` runs), and its
  import costs ~0.7-2 s warm, ~6 s cold, the same inside or outside; the child adds only the
  interpreter start (~0.1 s) plus moving the rig through an .npz (milliseconds).
* Blender keeps global state (the current file, scenes, data-blocks, add-on registrations)
  across calls; a fresh process per export gives a clean factory scene every time, with no
  leftovers between two exports in one `meshvid infer` run or a long-lived Python session.
* A crash inside Blender (its C code can abort the process) fails the export with a message
  instead of taking down an inference run that took minutes, and the partial files are removed.
* bpy adds ~260 MB resident memory; the child returns it to the system when it ends, so
  `meshvid infer`'s peak memory is not raised by the exporter.
* The worker imports only numpy and bpy, so it can run under another interpreter: set
  MESHVID_BPY_PYTHON=/path/to/python (e.g. a Python 3.11 venv with `pip install bpy==4.5.4`)
  when the main environment cannot hold bpy (bpy needs numpy < 2).

Every output is written by Blender to a hidden temporary file beside the destination and moved
over it with os.replace only when the worker has finished successfully.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from meshvid.errors import ExportError, MissingDependencyError
from meshvid.export.atomic import ensure_parent, partial_path
from meshvid.export.rig import RigScene

BPY_PIN = "bpy==4.5.4"
WORKER = Path(__file__).with_name("blender_worker.py")
EXIT_NO_BPY = 3
INSTALL_HINT = (
    f"FBX/GLB export needs Blender's Python module: `pip install {BPY_PIN}` (Python 3.11 "
    "only, numpy<2), or point MESHVID_BPY_PYTHON at a Python that has it"
)


def bpy_python() -> str:
    """The interpreter that runs the worker."""
    return os.environ.get("MESHVID_BPY_PYTHON") or sys.executable


def check_bpy() -> None:
    """Fail early, with the install line, when bpy is absent (cheap: no import)."""
    if os.environ.get("MESHVID_BPY_PYTHON"):
        if not Path(os.environ["MESHVID_BPY_PYTHON"]).exists():
            raise MissingDependencyError(
                f"MESHVID_BPY_PYTHON={os.environ['MESHVID_BPY_PYTHON']} does not exist; "
                + INSTALL_HINT
            )
        return  # the worker reports a missing bpy itself (exit code 3)
    if importlib.util.find_spec("bpy") is None:
        raise MissingDependencyError(INSTALL_HINT)


def fbx_options(scene: RigScene) -> dict:
    p = scene.preset
    return {
        "use_selection": False,
        "object_types": ["ARMATURE", "MESH", "CAMERA"],
        "axis_up": p.fbx_axis_up,
        "axis_forward": p.fbx_axis_forward,
        "apply_unit_scale": True,
        "apply_scale_options": p.fbx_apply_scale_options,
        "global_scale": 1.0,
        "bake_space_transform": False,  # documented as broken with armatures/animation
        "add_leaf_bones": False,  # keep exactly the 24 named joints
        "primary_bone_axis": "Y",
        "secondary_bone_axis": "X",
        "armature_nodetype": "NULL",
        "mesh_smooth_type": "FACE",
        "use_mesh_modifiers": False,  # export the bind-pose mesh, skinned, not a baked pose
        "bake_anim": True,
        "bake_anim_use_all_bones": True,
        "bake_anim_use_nla_strips": False,
        "bake_anim_use_all_actions": False,  # one take with every person, not one per action
        "bake_anim_force_startend_keying": True,
        "bake_anim_step": 1.0,
        "bake_anim_simplify_factor": 0.0,  # one key per frame, nothing dropped
        "use_metadata": True,
        "path_mode": "AUTO",
    }


def glb_options(scene: RigScene) -> dict:
    return {
        "export_yup": True,
        "export_animations": True,
        "export_animation_mode": "SCENE",  # one animation moving every person together
        "export_anim_scene_split_object": False,
        "export_frame_range": True,
        "export_force_sampling": True,
        "export_optimize_animation_size": False,  # keep one key per frame
        "export_anim_slide_to_zero": False,
        "export_skins": True,
        "export_influence_nb": 4,
        "export_cameras": scene.camera is not None,
        "export_apply": False,
        "export_materials": "EXPORT",
        "export_def_bones": False,
        "export_leaf_bone": False,
    }


# World (Z up) -> Y-up object data: rotation of -90 deg about X, (x, y, z) -> (x, z, -y).
_Z_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def write_job(scene: RigScene, outputs: list[dict], job_dir: Path) -> None:
    # Objects keep their data in `q` coordinates and get the inverse rotation as their own
    # transform, so world-space results are the same whichever preset is used.
    q = _Z_TO_Y_UP if scene.preset.object_data_up == "Y" else np.eye(3)
    object_matrix = np.eye(4)
    object_matrix[:3, :3] = q.T
    arrays: dict[str, np.ndarray] = {
        "parents": np.array(scene.parents, dtype=np.int64),
        "joint_names": np.array(scene.joint_names),
        "located": np.array(scene.located, dtype=np.int64),
    }
    persons = []
    for i, p in enumerate(scene.persons):
        key = f"p{i}"
        arrays.update({
            f"{key}_rest_vertices": (p.rest_vertices @ q.T).astype(np.float32),
            f"{key}_faces": p.faces.astype(np.int32),
            f"{key}_weights": p.weights.astype(np.float32),
            f"{key}_rest_joints": p.rest_joints @ q.T,
            f"{key}_bone_tails": p.bone_tails @ q.T,
            f"{key}_joint_rot": q @ p.joint_rot @ q.T,
            f"{key}_joint_pos": p.joint_pos @ q.T,
            f"{key}_frame_ids": p.frame_ids.astype(np.int64),
            f"{key}_bone_names": np.array(p.bone_names),
        })
        persons.append({"name": p.name, "track_id": p.track_id, "color": list(p.color)})
    camera = None
    if scene.camera is not None:
        camera = {
            "position": scene.camera.position.tolist(),
            "rotation": scene.camera.rotation.tolist(),
            "focal_px": scene.camera.focal_px,
            "image_size": list(scene.camera.image_size),
            "length_scale": scene.preset.length_scale,
            "animated": scene.camera.rotations is not None,
        }
        if scene.camera.rotations is not None:  # a moving camera: one key per scene frame
            arrays["camera_rotations"] = np.asarray(scene.camera.rotations, np.float64)
            arrays["camera_positions"] = np.asarray(scene.camera.positions, np.float64)
    job = {
        "fps": scene.fps,
        "frame_start": scene.frame_start,
        "frame_end": scene.frame_end,
        "unit_scale_length": scene.preset.unit_scale_length,
        "object_matrix": object_matrix.tolist(),
        "persons": persons,
        "camera": camera,
        "outputs": outputs,
    }
    np.savez(job_dir / "arrays.npz", **arrays)
    (job_dir / "job.json").write_text(json.dumps(job, indent=1))


def run_blender(
    scene: RigScene,
    targets: dict[str, Path],
    *,
    on_stage: Callable[[str], None] | None = None,
    timeout_s: float | None = None,
) -> dict[str, float]:
    """Export `scene` to each {format: final path} in one Blender session; returns seconds per
    stage. Files appear at their final paths only if everything succeeded."""
    return run_blender_jobs([(scene, targets)], on_stage=on_stage, timeout_s=timeout_s)


def run_blender_jobs(
    jobs: list[tuple[RigScene, dict[str, Path]]],
    *,
    on_stage: Callable[[str], None] | None = None,
    timeout_s: float | None = None,
) -> dict[str, float]:
    """Several scenes (e.g. the GLB's metric scene beside an Unreal FBX's centimetre scene),
    one Blender session each; no file is moved into place unless every session succeeded."""
    check_bpy()
    pending: list[tuple[Path, Path]] = []
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        for scene, targets in jobs:
            outputs = []
            for fmt, final in targets.items():
                final = Path(final)
                ensure_parent(final)
                tmp = partial_path(final)
                pending.append((tmp, final))
                opts = {"fbx": fbx_options, "glb": glb_options}.get(fmt, lambda s: {})(scene)
                outputs.append({"format": fmt, "path": str(tmp), "options": opts})
            limit = timeout_s
            if limit is None:
                frames = (scene.frame_end - scene.frame_start + 1) * max(1, len(scene.persons))
                limit = 300.0 + 0.5 * frames * len(targets)
            with tempfile.TemporaryDirectory(prefix="meshvid-bpy-") as job_dir:
                t1 = time.perf_counter()
                write_job(scene, outputs, Path(job_dir))
                timings["job"] = timings.get("job", 0.0) + time.perf_counter() - t1
                _run_worker(Path(job_dir), timings, on_stage, limit)
        for tmp, final in pending:
            os.replace(tmp, final)
    finally:
        for tmp, _ in pending:
            if tmp.exists():
                tmp.unlink()
    timings["total"] = time.perf_counter() - t0
    return timings


def _run_worker(job_dir: Path, timings: dict[str, float],
                on_stage: Callable[[str], None] | None, timeout_s: float) -> None:
    cmd = [bpy_python(), str(WORKER), str(job_dir)]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    # Blender's own session folder (blender_XXXXXX) goes inside the job folder: it is removed
    # with it even when the worker is killed (Ctrl-C, SIGTERM, a crash), which Blender cannot
    # clean up after itself.
    env.update({"TMPDIR": str(job_dir), "TMP": str(job_dir), "TEMP": str(job_dir)})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    stderr_lines: list[str] = []
    import threading

    # Drain stderr concurrently so a chatty Blender cannot fill the pipe and stall.
    reader = threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("@@meshvid "):
                msg = json.loads(line[len("@@meshvid "):])
                key = msg["stage"] if msg["stage"] != "wrote" else f"write_{msg['format']}"
                timings[key] = float(msg.get("seconds", 0.0))
                if on_stage is not None:
                    on_stage(key)
            if time.monotonic() > deadline:
                raise TimeoutError
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
        raise ExportError(f"Blender export did not finish within {timeout_s:.0f} s") from None
    except BaseException:  # KeyboardInterrupt included: never leave Blender running
        proc.kill()
        proc.wait()
        raise
    reader.join(timeout=5)
    if proc.returncode == EXIT_NO_BPY:
        raise MissingDependencyError(f"{bpy_python()} cannot import bpy; " + INSTALL_HINT)
    if proc.returncode != 0:
        raise ExportError(f"Blender export failed (exit {proc.returncode}): "
                          f"{_last_error_line(stderr_lines)}")


def _last_error_line(lines: list[str]) -> str:
    """The line of the worker's stderr that says what went wrong (the exception line of a
    traceback, else the last non-empty line); the full text is in MESHVID_DEBUG=1 runs."""
    text = [ln.strip() for ln in lines if ln.strip()]
    if os.environ.get("MESHVID_DEBUG"):
        sys.stderr.write("".join(lines))
    for line in reversed(text):
        if not line.startswith(("File ", "Traceback", "^", "~")) and (
                "Error" in line or "error" in line or "Exception" in line):
            return line[:300]
    return text[-1][:300] if text else "no message (see MESHVID_DEBUG=1)"
