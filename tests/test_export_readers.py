"""Our FBX / GLB / BVH files read back by readers we did not write: the Khronos glTF validator
(node; optional: skipped only when node is absent), Blender's own FBX / BVH importers (bpy, in
a child process), the `bvh` PyPI parser and trimesh. One toy result (person 1 over frames
0-23, person 3 from frame 8 with a gap) exported a few ways, read back once."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from meshvid.body.joints import SMPL_24
from meshvid.export.exporter import export_motion
from meshvid.export.floor import with_floor
from meshvid.export.npz import load_npz, save_npz
from meshvid.export.presets import get_preset
from meshvid.export.rig import build_rig, sample_world_joints
from meshvid.export.skeletons import rig_spec
from test_export_toybody import ToyBody, two_person_result

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / "tools" / "gltf-validator"
HAS_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="bpy (Blender as a Python module) not installed")
FPS = 30.0
FRAMES = 24

# Runs under bpy in a child process: imports each file into a fresh scene with the given
# importer options and reports armatures, rest bones, keys and posed bone heads (world).
INSPECT = r'''
import json, sys
import bpy

spec = json.load(open(sys.argv[1]))
report = {}
for item in spec["items"]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    path, opts = item["path"], item.get("options", {})
    if path.endswith(".fbx"):
        bpy.ops.import_scene.fbx(filepath=path, **opts)
    elif path.endswith(".bvh"):
        bpy.ops.import_anim.bvh(filepath=path, **opts)
    out = {"fps": scene.render.fps / scene.render.fps_base, "armatures": {}}
    for o in scene.objects:
        if o.type != "ARMATURE":
            continue
        info = {"bones": [b.name for b in o.data.bones],
                "parents": {b.name: b.parent.name if b.parent else None for b in o.data.bones},
                "rest_heads": {b.name: list(o.matrix_world @ b.head_local) for b in o.data.bones},
                "rest_tails": {b.name: list(o.matrix_world @ b.tail_local) for b in o.data.bones}}
        act = o.animation_data.action if o.animation_data else None
        if act is not None:
            keys = [k.co[0] for fc in act.fcurves for k in fc.keyframe_points]
            info["key_range"] = [min(keys), max(keys)]
        pos = {}
        for f in item.get("frames", []):
            scene.frame_set(f)
            pos[str(f)] = {pb.name: list(o.matrix_world @ pb.head) for pb in o.pose.bones}
        info["pos"] = pos
        out["armatures"][o.name] = info
    report[item["key"]] = out
print("@@INSPECT " + json.dumps(report))
'''


def blender_import(items: list[dict], workdir: Path) -> dict:
    script = workdir / "read_back_readers.py"
    script.write_text(INSPECT)
    spec = workdir / "readers_spec.json"
    spec.write_text(json.dumps({"items": items}))
    proc = subprocess.run([sys.executable, str(script), str(spec)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@INSPECT ")][-1]
    return json.loads(line[len("@@INSPECT "):])


def gltf_validate(paths: list[Path]) -> dict[str, dict]:
    """Khronos glTF validator reports by file name; installs the pinned npm package into
    tools/gltf-validator when node is present and it is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the optional Khronos glTF validator check needs it "
                    "(see tools/gltf-validator/README.md)")
    if not (VALIDATOR / "node_modules" / "gltf-validator").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install gltf-validator"
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=VALIDATOR,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"`npm ci` in {VALIDATOR} failed: {proc.stderr[-2000:]}"
    proc = subprocess.run([node, str(VALIDATOR / "validate.js"), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {Path(r["file"]).name: r for r in reports}


def accessor_values(gltf, index: int) -> np.ndarray:
    """(count, components) float values of a tightly packed float accessor of a GLB."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    data = np.frombuffer(gltf.binary_blob(), np.float32, acc.count * width, start)
    return data.reshape(acc.count, width)


def toy_result():
    return two_person_result(frames=FRAMES, fps=FPS)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("readers")
    toy = ToyBody()
    result = with_floor(toy_result(), toy)  # one floor, as `meshvid infer` stores it
    npz = save_npz(result, out / "toy.npz")
    result = load_npz(npz)
    kw = {"body_model": toy, "foot_lock": False}
    reports = {"bvh": export_motion(result, "bvh", out / "toy", **kw),
               "sub_bvh": export_motion(result, "bvh", out / "sub", track_ids=[3],
                                        rig="mixamo", root_bone=True, **kw)}
    if HAS_BPY:
        reports.update({
            "all": export_motion(result, "fbx,glb", out / "toy", **kw),
            "unity": export_motion(result, "glb", out / "unity", preset="unity", **kw),
            # One person per file, as Unreal wants it: plain Mannequin names.
            "ue5": export_motion(result, "fbx,glb", out / "ue5", preset="unreal", rig="ue5",
                                 track_ids=[1], **kw),
        })
    return {"out": out, "result": result, "toy": toy, "reports": reports}


@pytest.fixture(scope="module")
def imported(files):
    if not HAS_BPY:
        pytest.skip("bpy not installed")
    out = files["out"]
    frames = [0, 5, 8, 16, 23]
    items = [
        {"key": "fbx_default", "path": str(out / "toy.fbx"), "frames": frames},
        {"key": "fbx_offset0", "path": str(out / "toy.fbx"), "options": {"anim_offset": 0.0}},
        {"key": "bvh_default", "path": str(out / "sub_person_3.bvh")},
        {"key": "bvh_fps", "path": str(out / "toy_person_1.bvh"), "frames": [1, 13],
         "options": {"update_scene_fps": True, "update_scene_duration": True}},
        {"key": "ue5", "path": str(out / "ue5.fbx"), "options": {"anim_offset": 0.0},
         "frames": [12]},
    ]
    return blender_import(items, out)


# --- glTF ---------------------------------------------------------------------------------


@needs_bpy
def test_every_glb_passes_the_khronos_validator_without_warnings(files):
    out = files["out"]
    reports = gltf_validate([out / "toy.glb", out / "unity.glb", out / "ue5.glb"])
    for name, report in reports.items():
        issues = report["issues"]
        messages = [f"{m['code']} {m.get('pointer', '')}" for m in issues["messages"]
                    if m["severity"] <= 1]
        assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, (name, messages)


@needs_bpy
def test_glb_is_y_up_metres_whatever_the_preset(files):
    """glTF is Y up, metres: the Unity and Unreal presets must not change the GLB (no
    centimetres, no rotated armature nodes, people upright even for readers that do not skin)."""
    import pygltflib
    import trimesh

    out = files["out"]
    for name in ("toy.glb", "unity.glb", "ue5.glb"):
        gltf = pygltflib.GLTF2().load(str(out / name))
        for skin in gltf.skins:  # armature nodes and skinned meshes carry no rotation/scale
            for node in gltf.nodes:
                if node.mesh is not None or skin.joints[0] in (node.children or []):
                    assert node.rotation in (None, [0, 0, 0, 1]), (name, node.name)
                    assert node.scale in (None, [1, 1, 1]), (name, node.name)
        meshes = [n for n in gltf.nodes if n.mesh is not None]
        roots = set(gltf.scenes[0].nodes)
        assert all(gltf.nodes.index(n) in roots for n in meshes)  # skinned meshes are roots
        # Static geometry as a non-skinning reader shows it: upright, metres.
        scene = trimesh.load(str(out / name))
        lo, hi = scene.bounds
        extent = hi - lo
        assert 1.0 < extent[1] < 3.0, (name, extent)  # Y up: about one body tall, in metres
        assert extent[1] > 0.8 * max(extent[0], extent[2]) or extent[1] > 1.3, (name, extent)
        # Root motion keys are Y up too: the pelvis about 0.9 m high (the UE5 rig's root bone
        # on the floor at 0).
        top = "root" if name == "ue5.glb" else "pelvis"
        nodes = [i for i, n in enumerate(gltf.nodes) if n.name.split(":")[-1] == top]
        chans = [c for a in gltf.animations for c in a.channels
                 if c.target.node in nodes and c.target.path == "translation"]
        assert chans, name
        keys = accessor_values(gltf, gltf.animations[0].samplers[chans[0].sampler].output)
        height = np.median(keys[:, 1])
        assert (abs(height) < 1e-5) if top == "root" else (0.5 < height < 1.5), (name, keys[:3])


@needs_bpy
def test_glb_bone_names_unique_and_one_channel_set_per_person(files):
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(files["out"] / "toy.glb"))
    names = [gltf.nodes[j].name for s in gltf.skins for j in s.joints]
    assert len(names) == len(set(names)) == 48
    targets = {(c.target.node, c.target.path) for a in gltf.animations for c in a.channels}
    rotated = {gltf.nodes[n].name for n, p in targets if p == "rotation"}
    assert len(rotated) == 48  # every bone of both people animated separately


# --- Blender's importers ------------------------------------------------------------------


@needs_bpy
def test_blender_fbx_import_frame_numbering(imported):
    """Blender's FBX importer adds `anim_offset` (default 1) to every key: our frame 0 lands on
    Blender frame 1 unless Animation Offset is set to 0 (docs/export.md says so)."""
    default = imported["fbx_default"]["armatures"]["person_1"]
    assert default["key_range"] == [1.0, float(FRAMES)]
    offset0 = imported["fbx_offset0"]["armatures"]["person_1"]
    assert offset0["key_range"] == [0.0, float(FRAMES - 1)]
    assert imported["fbx_default"]["fps"] == pytest.approx(FPS)


@needs_bpy
def test_blender_bvh_import_frame_numbering_and_rate(imported, files):
    """Blender's BVH importer puts row i on Start Frame + i (at least 1): a BVH's row 0 is
    source frame 0 for every subset, so Blender frame = frame id + 1; the scene keeps its own
    24 fps unless Update Scene FPS is on."""
    sub = imported["bvh_default"]
    arm = next(iter(sub["armatures"].values()))
    assert arm["key_range"] == [1.0, float(FRAMES)]  # rows 0..23 although person 3 starts at 8
    assert sub["fps"] == pytest.approx(24.0)
    assert imported["bvh_fps"]["fps"] == pytest.approx(FPS)
    # Blender's importer replaces OFFSET by the position channels: with OFFSET 0 its joints
    # are ours (its default axes turn BVH's Y up back into Z up), row i on frame i + 1.
    arm = next(iter(imported["bvh_fps"]["armatures"].values()))
    scene = build_rig(files["result"], files["toy"], get_preset("blender"))
    expected = sample_world_joints(scene.persons[0], 0, scene.frame_end)
    for blender_frame in (1, 13):
        got = np.array([arm["pos"][str(blender_frame)][n] for n in SMPL_24])
        assert 1000 * np.abs(got - expected[blender_frame - 1]).max() < 0.5


@needs_bpy
def test_people_exist_only_over_their_track(imported, files):
    """Person 3 (tracked over source frames 8-23) shrinks to a point before frame 8."""
    arm = imported["fbx_default"]["armatures"]["person_3"]
    # Default FBX import (anim_offset 1): Blender frame b shows source frame b - 1.
    for b, visible in ((0, False), (5, False), (8, False), (16, True), (23, True)):
        heads = np.array(list(arm["pos"][str(b)].values()))
        spread = np.ptp(heads, axis=0).max()
        assert spread > 0.5 if visible else spread < 1e-3, (b, spread)
    person1 = imported["fbx_default"]["armatures"]["person_1"]
    assert np.ptp(np.array(list(person1["pos"]["0"].values())), axis=0).max() > 0.5


@needs_bpy
def test_ue5_rig_names_hierarchy_rest_pose_and_root_bone(imported, files):
    ue5 = imported["ue5"]["armatures"]
    assert list(ue5) == ["person_1"]
    spec = rig_spec("ue5")
    arm = ue5["person_1"]
    assert sorted(arm["bones"]) == sorted(spec.names)  # one person: the plain Mannequin names
    for bone in spec.bones:
        parent = arm["parents"][bone.name]
        assert parent == (None if bone.parent < 0 else spec.bones[bone.parent].name), bone.name
    assert arm["parents"]["pelvis"] == "root" and arm["parents"]["thigh_l"] == "pelvis"
    assert abs(arm["rest_heads"]["root"][2]) < 1e-6  # on the floor
    # A-pose: the upper arms point 45 deg below horizontal in the bind pose.
    for side in "lr":
        d = np.array(arm["rest_heads"][f"lowerarm_{side}"]) - np.array(
            arm["rest_heads"][f"upperarm_{side}"])
        angle = np.degrees(np.arctan2(-d[2], np.hypot(d[0], d[1])))
        assert angle == pytest.approx(45.0, abs=3.0), (side, angle)
    # Animated joints (incl. the pelvis moving relative to the root) match our rig.
    result, toy = files["result"], files["toy"]
    scene = build_rig(result.select_tracks([1]), toy, get_preset("unreal"), rig="ue5")
    person = scene.persons[0]
    expected = sample_world_joints(person, scene.frame_start, scene.frame_end, scene.parents,
                                   scene.located)[12] / 100.0  # Blender imports metres
    got = np.array([arm["pos"]["12"][n] for n in spec.names])
    assert 1000 * np.abs(got - expected).max() < 0.5
    # The root bone carries the horizontal motion: under the pelvis, on the floor.
    root, pelvis = np.array(arm["pos"]["12"]["root"]), np.array(arm["pos"]["12"]["pelvis"])
    assert abs(root[2]) < 1e-4 and np.allclose(root[:2], pelvis[:2], atol=1e-4)


@needs_bpy
def test_mixamo_names_hierarchy_and_t_pose_in_blenders_bvh_import(imported):
    arm = next(iter(imported["bvh_default"]["armatures"].values()))
    spec = rig_spec("mixamo", root_bone=True)
    assert sorted(arm["bones"]) == sorted(spec.names)
    assert "mixamorig:Hips" in arm["bones"] and "mixamorig:LeftUpLeg" in arm["bones"]
    assert arm["parents"]["mixamorig:LeftForeArm"] == "mixamorig:LeftArm"
    assert arm["parents"]["mixamorig:Spine"] == "mixamorig:Hips"
    assert arm["parents"]["mixamorig:Hips"] == "root"
    # T-pose: arms horizontal in the rest pose.
    heads = arm["rest_heads"]
    d = np.array(heads["mixamorig:LeftForeArm"]) - np.array(heads["mixamorig:LeftArm"])
    assert abs(d[2]) < 0.02 * np.linalg.norm(d)


# --- BVH with the `bvh` PyPI parser ------------------------------------------------------


def bvh_package_fk(path: Path) -> tuple[list[str], np.ndarray, object]:
    """World joint positions (frames, J, 3) from the `bvh` package's parse, using the common
    reading of BVH: position = parent position + parent rotation (OFFSET + position channels)."""
    from bvh import Bvh

    mocap = Bvh(path.read_text())
    names = mocap.get_joints_names()
    n = mocap.nframes
    pos = np.zeros((n, len(names), 3))
    rots = [None] * len(names)
    for j, name in enumerate(names):
        chans = mocap.joint_channels(name)
        values = np.array(mocap.frames_joint_channels(name, chans), dtype=np.float64)
        offset = np.array(mocap.joint_offset(name))
        translation = np.tile(offset, (n, 1))
        rot = Rotation.identity(n)
        for c, ch in enumerate(chans):
            axis = "xyz".index(ch[0].lower())
            if ch.endswith("position"):
                translation[:, axis] += values[:, c]  # the reader that ADDS the offset
            else:
                rot = rot * Rotation.from_euler(ch[0].lower(), np.radians(values[:, c]))
        parent = mocap.joint_parent_index(name)
        if parent < 0:
            pos[:, j] = translation
            rots[j] = rot
        else:
            pos[:, j] = pos[:, parent] + rots[parent].apply(translation)
            rots[j] = rots[parent] * rot
    return names, pos, mocap


def test_bvh_read_by_the_bvh_package_matches_our_joints(files):
    """Root OFFSET is 0 (the channels are absolute), so a reader that adds OFFSET to the
    position channels gets the same pelvis as one that replaces it."""
    from meshvid.export.bvh import WORLD_TO_BVH

    out, result, toy = files["out"], files["result"], files["toy"]
    scene = build_rig(result, toy, get_preset("blender"))
    for person in scene.persons:
        names, got, mocap = bvh_package_fk(out / f"toy_{person.name}.bvh")
        assert mocap.joint_offset(names[0]) == (0.0, 0.0, 0.0)
        expected = sample_world_joints(person, 0, scene.frame_end) @ WORLD_TO_BVH.T
        order = [names.index(n) for n in SMPL_24]
        assert np.abs(got[:, order] - expected).max() < 1e-4
        assert mocap.nframes == scene.frame_end + 1  # row i = source frame i


def test_bvh_of_a_subset_starts_at_frame_0_on_the_whole_results_floor(files):
    from meshvid.export.bvh import WORLD_TO_BVH

    out, result, toy = files["out"], files["result"], files["toy"]
    names, got, mocap = bvh_package_fk(out / "sub_person_3.bvh")
    assert mocap.nframes == FRAMES  # person 3 starts at frame 8, the file at frame 0
    assert names[:2] == ["root", "mixamorig:Hips"]
    assert mocap.joint_channels("mixamorig:Hips")[:3] == ["Xposition", "Yposition", "Zposition"]
    assert files["reports"]["sub_bvh"].notes["bvh_first_frame"] == 0
    # Same floor as the export of everybody: person 3's joints agree with the full scene's.
    full = build_rig(result, toy, get_preset("blender"))
    p3 = full.persons[1]
    expected = sample_world_joints(p3, 0, FRAMES - 1) @ WORLD_TO_BVH.T
    spec = rig_spec("mixamo", root_bone=True)
    order = [names.index(spec.names[spec.bone_of_joint(j)]) for j in range(24)]
    assert np.abs(got[:, order] - expected).max() < 1e-4
    root = got[:, names.index("root")]
    assert np.abs(root[:, 1]).max() < 1e-6  # the root bone stays on the floor (BVH Y up)
    np.testing.assert_allclose(root[:, [0, 2]], got[:, names.index("mixamorig:Hips")][:, [0, 2]],
                               atol=1e-6)


def test_one_floor_for_every_subset(files):
    """The floor comes from the NPZ (estimated once from every person), not from the people
    exported: exporting person 3 alone keeps the camera height of the whole result."""
    result, toy = files["result"], files["toy"]
    assert result.floor is not None
    alone = build_rig(result.select_tracks([3]), toy, get_preset("blender"))
    both = build_rig(result, toy, get_preset("blender"))
    assert alone.notes["camera_height_m"] == both.notes["camera_height_m"]
    np.testing.assert_allclose(alone.persons[0].joint_pos, both.persons[1].joint_pos)
    # Without the stored floor person 3 alone would get another one.
    from dataclasses import replace

    refit = build_rig(replace(result, floor=None).select_tracks([3]), toy, get_preset("blender"))
    assert refit.notes["camera_height_m"] != pytest.approx(both.notes["camera_height_m"], abs=1e-3)
