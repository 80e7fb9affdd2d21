"""FBX / GLB / .blend through Blender: export, import back with bpy (in a child process, as the
exporter runs), and check structure, timing, presets and that the animated joints and skinned
vertices land where our forward kinematics / body model put them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from meshvid.body.joints import SMPL_24
from meshvid.errors import MissingDependencyError
from meshvid.export import blender as blender_mod
from meshvid.export.exporter import export_motion
from meshvid.export.floor import with_floor
from meshvid.export.motion import MotionResult
from meshvid.export.presets import get_preset
from meshvid.export.rig import build_rig, sample_world_joints
from test_export_toybody import ToyBody, two_person_result, walking_person

HAS_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="bpy (Blender as a Python module) not installed")
FPS = 30.0
NTSC = 30000 / 1001
FRAMES = 24

# Runs under bpy in a child process: imports each file into a fresh scene and reports what it
# finds. Positions are world coordinates after Blender's own importer (axis/unit conversion).
INSPECT = r'''
import json, sys
import bpy
import numpy as np

spec = json.load(open(sys.argv[1]))
report, arrays = {}, {}
for item in spec["files"]:
    path = item["path"]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = int(spec["fps"])  # glTF stores seconds, not frames
    if path.endswith(".fbx"):
        bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0)
    elif path.endswith(".glb"):
        bpy.ops.import_scene.gltf(filepath=path)
    else:
        bpy.ops.wm.open_mainfile(filepath=path)
        scene = bpy.context.scene
    out = {"fps": scene.render.fps / scene.render.fps_base, "objects": {}}
    for o in scene.objects:
        info = {"type": o.type, "parent": o.parent.name if o.parent else None}
        if o.type == "ARMATURE":
            info["bones"] = [b.name for b in o.data.bones]
            act = o.animation_data.action if o.animation_data else None
            if act is not None:
                fcs = list(act.fcurves)
                info["fcurves"] = len(fcs)
                info["key_counts"] = sorted({len(fc.keyframe_points) for fc in fcs})
                info["key_frames"] = sorted({round(k.co[0], 3) for fc in fcs for k in fc.keyframe_points})
            pos = {}
            for f in item["frames"]:
                scene.frame_set(f)
                pos[str(f)] = {pb.name: list(o.matrix_world @ pb.head) for pb in o.pose.bones}
            info["pos"] = pos
        out["objects"][o.name] = info
    for f in item.get("mesh_frames", []):
        scene.frame_set(f)
        dg = bpy.context.evaluated_depsgraph_get()
        for o in scene.objects:
            if o.type == "MESH" and o.parent is not None and o.parent.type == "ARMATURE":
                ev = o.evaluated_get(dg)
                me = ev.to_mesh()
                co = np.zeros(len(me.vertices) * 3)
                me.vertices.foreach_get("co", co)
                m = np.array(ev.matrix_world)
                arrays[f"{item['key']}|{o.parent.name}|{f}"] = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
                ev.to_mesh_clear()
    if path.endswith(".fbx"):
        from io_scene_fbx import parse_fbx
        root, _ = parse_fbx.parse(path)
        gs = [e for e in root.elems if e.id == b"GlobalSettings"][0]
        p70 = [e for e in gs.elems if e.id == b"Properties70"][0]
        out["global"] = {e.props[0].decode(): e.props[-1] for e in p70.elems
                         if e.props[0] in (b"UpAxis", b"UpAxisSign", b"FrontAxis",
                                           b"FrontAxisSign", b"UnitScaleFactor")}
        objs = [e for e in root.elems if e.id == b"Objects"][0]
        rot = {}
        for m in (e for e in objs.elems if e.id == b"Model"):
            if m.props[2] != b"Null":
                continue
            props = [e for e in m.elems if e.id == b"Properties70"]
            vals = {e.props[0].decode(): list(e.props[-3:]) for e in props[0].elems} if props else {}
            rot[m.props[1].split(b"\x00")[0].decode()] = vals.get("Lcl Rotation", [0, 0, 0])
        out["root_rotations"] = rot
        out["custom_fps"] = [e.props[-1] for e in p70.elems if e.props[0] == b"CustomFrameRate"]
        curve = next(e for e in objs.elems if e.id == b"AnimationCurve")
        ktimes = next(e for e in curve.elems if e.id == b"KeyTime").props[0]
        out["key_seconds"] = [t / 46186158000 for t in ktimes[:3]]  # FBX time unit
    report[item["key"]] = out
np.savez(spec["arrays"], **arrays)
print("@@INSPECT " + json.dumps(report))
'''


def inspect_files(items: list[dict], workdir: Path) -> tuple[dict, dict]:
    script = workdir / "read_back_exports.py"  # not inspect.py: that would shadow the stdlib
    script.write_text(INSPECT)
    spec = workdir / "spec.json"
    arrays = workdir / "meshes.npz"
    spec.write_text(json.dumps({"files": items, "fps": FPS, "arrays": str(arrays)}))
    proc = subprocess.run([sys.executable, str(script), str(spec)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@INSPECT ")][-1]
    with np.load(arrays) as data:
        return json.loads(line[len("@@INSPECT "):]), dict(data)


def anny_result():
    persons = [walking_person(1, np.arange(12), FPS, seed=1, x0=-0.8),
               walking_person(2, np.arange(4, 12), FPS, seed=2, x0=0.6)]
    return MotionResult(persons=persons, fps=FPS, body_model="anny24", image_size=(640, 480),
                        focal_length=600.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if not HAS_BPY:
        pytest.skip("bpy not installed")
    out = tmp_path_factory.mktemp("blender")
    toy = ToyBody()
    result = two_person_result(frames=FRAMES, fps=FPS)
    gap = FRAMES // 2 + 1  # person 3 is missing at frames 12-14
    frames = [0, 5, gap, FRAMES - 1]
    # These files check the transport (our rig -> file -> reader), so feet are not locked
    # here; tests/test_export_readers.py covers foot locking.
    kw = {"body_model": toy, "foot_lock": False}
    reports = {
        "blender": export_motion(result, "fbx,glb,blend", out / "toy", **kw),
        "unity": export_motion(result, "fbx", out / "toy_unity", preset="unity", **kw),
        "unreal": export_motion(result, "fbx", out / "toy_unreal", preset="unreal",
                                track_ids=[3], **kw),
    }
    items = [
        {"key": "fbx", "path": str(out / "toy.fbx"), "frames": frames, "mesh_frames": [5, 20]},
        {"key": "glb", "path": str(out / "toy.glb"), "frames": frames, "mesh_frames": [5]},
        {"key": "blend", "path": str(out / "toy.blend"), "frames": frames},
        {"key": "unity", "path": str(out / "toy_unity.fbx"), "frames": frames},
        {"key": "unreal", "path": str(out / "toy_unreal.fbx"), "frames": frames},
    ]
    # NTSC rate, late start: key times must be frame / (30000/1001) seconds exactly.
    ntsc = MotionResult(persons=[walking_person(5, np.arange(1000, 1003), NTSC, seed=4)],
                        fps=NTSC, body_model="toy", image_size=(640, 480), focal_length=500.0)
    reports["ntsc"] = export_motion(ntsc, "fbx,glb", out / "ntsc", **kw)
    items.append({"key": "ntsc", "path": str(out / "ntsc.fbx"), "frames": []})
    anny = None
    try:
        from meshvid.body import load_body_model

        anny = load_body_model("anny24")
    except Exception:  # noqa: BLE001 - the shipped body is optional for this module
        pass
    if anny is not None:
        reports["anny"] = export_motion(anny_result(), "fbx", out / "anny", body_model=anny,
                                        foot_lock=False)
        items.append({"key": "anny", "path": str(out / "anny.fbx"), "frames": [3, 8],
                      "mesh_frames": [8]})
    info, meshes = inspect_files(items, out)
    return {"out": out, "result": result, "reports": reports, "info": info, "meshes": meshes,
            "frames": frames, "gap": gap, "toy": toy, "anny": anny}


def _armatures(info: dict) -> dict:
    return {k: v for k, v in info["objects"].items() if v["type"] == "ARMATURE"}


def _check_joint_positions(info, scene, frames, gap, tol_mm=0.5, gap_tol_mm=2.0):
    arms = _armatures(info)
    for person in scene.persons:
        arm = arms[person.name]
        expected = sample_world_joints(person, scene.frame_start, scene.frame_end,
                                       scene.parents, scene.located)
        expected = expected / scene.preset.length_scale  # Blender's importer works in metres
        for f in frames:
            if not person.frame_ids[0] <= f <= person.frame_ids[-1]:
                continue  # not there (scale 0): tests/test_export_readers.py checks that
            got = np.array([arm["pos"][str(f)][name] for name in person.bone_names])
            err_mm = 1000 * np.abs(got - expected[f - scene.frame_start]).max()
            limit = gap_tol_mm if f == gap else tol_mm
            assert err_mm < limit, f"{person.name} frame {f}: {err_mm:.3f} mm"


@needs_bpy
def test_fbx_holds_every_person_with_24_joints_one_key_per_frame(exported):
    info = exported["info"]["fbx"]
    arms = _armatures(info)
    assert sorted(arms) == ["person_1", "person_3"]
    for name, arm in arms.items():  # several people: bone names carry the person's namespace
        assert sorted(arm["bones"]) == sorted(f"{name}:{j}" for j in SMPL_24)
        assert arm["key_counts"] == [FRAMES]  # every channel: one key per frame
        assert arm["key_frames"] == [float(f) for f in range(FRAMES)]
        mesh = info["objects"][f"{name}_mesh"]
        assert mesh["type"] == "MESH" and mesh["parent"] == name
    assert info["fps"] == pytest.approx(FPS)
    assert "video_camera" in info["objects"]
    assert exported["reports"]["blender"].frames == (0, FRAMES - 1)


@needs_bpy
def test_fractional_frame_rate_and_late_start_keep_exact_key_times(exported):
    info = exported["info"]["ntsc"]
    assert info["custom_fps"][0] == pytest.approx(NTSC, rel=1e-9)
    assert info["key_seconds"] == pytest.approx([f / NTSC for f in (1000, 1001, 1002)], abs=1e-5)
    assert exported["reports"]["ntsc"].frames == (1000, 1002)
    import pygltflib  # Blender's glTF exporter gets fps_base wrong; we correct the times

    gltf = pygltflib.GLTF2().load(str(exported["out"] / "ntsc.glb"))
    times = gltf.accessors[gltf.animations[0].samplers[0].input]
    assert times.min[0] == pytest.approx(1000 / NTSC, abs=1e-4)
    assert times.max[0] == pytest.approx(1002 / NTSC, abs=1e-4)


@needs_bpy
def test_fbx_animated_joints_match_forward_kinematics(exported):
    scene = build_rig(exported["result"], exported["toy"], get_preset("blender"))
    _check_joint_positions(exported["info"]["fbx"], scene, exported["frames"], exported["gap"])
    _check_joint_positions(exported["info"]["blend"], scene, exported["frames"], exported["gap"])


@needs_bpy
def test_fbx_skinned_vertices_match_the_body_model(exported):
    result, toy = exported["result"], exported["toy"]
    scene = build_rig(result, toy, get_preset("blender"))
    for key, frames in (("fbx", (5, 20)), ("glb", (5,))):
        for person in result.persons:
            for f in frames:
                if f not in person.frame_ids:
                    continue
                i = int(np.nonzero(person.frame_ids == f)[0][0])
                with torch.no_grad():
                    out = toy(torch.tensor(person.pose[i:i + 1]).float(),
                              torch.tensor(person.betas[None]).float(),
                              torch.tensor(person.transl[i:i + 1]).float())
                expected = scene.to_world(out.vertices[0].double().numpy())
                got = exported["meshes"][f"{key}|person_{person.track_id}|{f}"]
                err_mm = 1000 * np.linalg.norm(got - expected, axis=1).max()
                assert err_mm < 0.5, f"{key} person {person.track_id} frame {f}: {err_mm:.3f} mm"
    # Exported people stand upright on the floor at Z = 0.
    verts = exported["meshes"]["fbx|person_1|5"]
    assert -0.05 < verts[:, 2].min() < 0.6 and verts[:, 2].max() > 1.5


@needs_bpy
def test_glb_structure_with_pygltflib_and_trimesh(exported):
    import pygltflib
    import trimesh

    path = exported["out"] / "toy.glb"
    gltf = pygltflib.GLTF2().load(str(path))
    assert len(gltf.skins) == 2 and [len(s.joints) for s in gltf.skins] == [24, 24]
    joint_names = [gltf.nodes[j].name for s in gltf.skins for j in s.joints]
    assert sorted(joint_names) == sorted(f"person_{i}:{j}" for i in (1, 3) for j in SMPL_24)
    assert len(gltf.meshes) == 2 and len(gltf.cameras) == 1
    assert len(gltf.animations) == 1  # one animation moves every person together
    anim = gltf.animations[0]
    counts = {gltf.accessors[s.input].count for s in anim.samplers}
    assert counts == {FRAMES}
    times = gltf.accessors[anim.samplers[0].input]
    assert times.max[0] == pytest.approx((FRAMES - 1) / FPS, abs=1e-4)
    animated = {gltf.nodes[c.target.node].name for c in anim.channels}
    assert {"person_1:pelvis", "person_3:left_wrist"} <= animated
    loaded = trimesh.load(str(path))
    assert isinstance(loaded, trimesh.Scene) and len(loaded.geometry) == 2
    scene = build_rig(exported["result"], exported["toy"], get_preset("blender"))
    _check_joint_positions(exported["info"]["glb"], scene, exported["frames"], exported["gap"])


@needs_bpy
def test_unity_and_unreal_presets(exported):
    unity = exported["info"]["unity"]
    g = unity["global"]
    assert (g["UpAxis"], g["UpAxisSign"], g["FrontAxis"], g["FrontAxisSign"]) == (1, 1, 2, 1)
    assert g["UnitScaleFactor"] == pytest.approx(100.0)  # 1 unit = 1 m
    for rot in unity["root_rotations"].values():  # no -90 deg X on the root nodes
        assert np.abs(rot).max() < 1e-3
    scene = build_rig(exported["result"], exported["toy"], get_preset("unity"))
    _check_joint_positions(unity, scene, exported["frames"], exported["gap"])

    unreal = exported["info"]["unreal"]
    assert unreal["global"]["UpAxis"] == 2
    assert unreal["global"]["UnitScaleFactor"] == pytest.approx(1.0)  # centimetres
    assert sorted(_armatures(unreal)) == ["person_3"]  # --track-ids 3
    # One floor for the result: person 3 alone stands on the floor of both people.
    only3 = with_floor(exported["result"], exported["toy"]).select_tracks([3])
    scene = build_rig(only3, exported["toy"], get_preset("unreal"))
    assert exported["reports"]["unreal"].frames == (8, FRAMES - 1)  # starts when person 3 does
    frames = [f for f in exported["frames"] if f >= 8]
    _check_joint_positions(unreal, scene, frames, exported["gap"])


@needs_bpy
def test_anny24_fbx_round_trip(exported):
    if exported["anny"] is None:
        pytest.skip("anny24 body not available")
    info = exported["info"]["anny"]
    body = exported["anny"]
    result = anny_result()
    scene = build_rig(result, body, get_preset("blender"))
    _check_joint_positions(info, scene, [3, 8], gap=None)
    for person in result.persons:
        i = int(np.nonzero(person.frame_ids == 8)[0][0])
        with torch.no_grad():
            out = body(torch.tensor(person.pose[i:i + 1]).float(),
                       torch.tensor(person.betas[None]).float(),
                       torch.tensor(person.transl[i:i + 1]).float())
        expected = scene.to_world(out.vertices[0].double().numpy())
        got = exported["meshes"][f"anny|person_{person.track_id}|8"]
        assert got.shape == expected.shape
        assert 1000 * np.linalg.norm(got - expected, axis=1).max() < 0.5


@needs_bpy
def test_blender_failure_leaves_no_output(tmp_path, monkeypatch):
    monkeypatch.setattr(blender_mod, "fbx_options", lambda scene: {"no_such_option": 1})
    from meshvid.errors import ExportError

    with pytest.raises(ExportError, match="Blender export failed") as err:
        export_motion(two_person_result(frames=4), "fbx,bvh", tmp_path / "x", body_model=ToyBody())
    assert "\n" not in str(err.value)  # one line, the child's own error line
    assert list(tmp_path.iterdir()) == []


def test_missing_bpy_is_a_one_line_dependency_error(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.delenv("MESHVID_BPY_PYTHON", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bpy" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install bpy==4\.5\.4"):
        export_motion(two_person_result(frames=4), "fbx", tmp_path / "x", body_model=ToyBody())
    assert list(tmp_path.iterdir()) == []
    # BVH needs no Blender.
    report = export_motion(two_person_result(frames=4), "bvh", tmp_path / "x", body_model=ToyBody())
    assert [p.suffix for p in report.files] == [".bvh", ".bvh"]


def test_worker_interpreter_without_bpy(tmp_path, monkeypatch):
    # a second interpreter that certainly lacks bpy: this Python without its site-packages (-S)
    (tmp_path / "bin").mkdir()
    bare = tmp_path / "bin" / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    probe = subprocess.run([str(bare), "-c", "import bpy"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'bpy'" in probe.stderr
    monkeypatch.setenv("MESHVID_BPY_PYTHON", str(bare))
    with pytest.raises(MissingDependencyError, match="cannot import bpy"):
        export_motion(two_person_result(frames=4), "glb", tmp_path / "x", body_model=ToyBody())
    assert [p.name for p in tmp_path.iterdir()] == ["bin"]
