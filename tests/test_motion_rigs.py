"""The joint-mapping layer on rigs of every convention (issue 28): small BVH files written here
from our own rest skeleton under each convention's names (helper bones included), an unnamed rig
mapped by its shape, units, a T-pose frame 0, a non-humanoid file, a binary FBX written by
Blender (bpy) and our own FBX / BVH exports read back. Nothing here reads ../shared."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from meshvid.body.joints import SMPL_24
from meshvid.motion.bvh import read_bvh
from meshvid.motion.corpus import default_rest_joints, load_clip
from meshvid.motion.library import ClipLibrary
from meshvid.motion.retarget import prepare, retarget

J = {n: i for i, n in enumerate(SMPL_24)}
HAS_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="bpy (Blender as a Python module) not installed")


@pytest.fixture(scope="module")
def rest() -> np.ndarray:
    return default_rest_joints()


# A rig: (name, parent name, where its joint sits: our joint, or (joint a, joint b, t) for a
# point between two of ours, as twist / share bones sit). `{S}`/`{s}` are the side spellings.
def _sided(rows, spell):
    out = []
    for side in ("left", "right"):
        big, small = spell[side]
        for name, parent, at in rows:
            fmt = {"S": big, "s": small}
            name, parent = name.format(**fmt), parent.format(**fmt) if parent else parent
            at = at.format(side=side) if isinstance(at, str) else tuple(
                a.format(side=side) if isinstance(a, str) else a for a in at)
            out.append((name, parent, at))
    return out


def rig_cmu_collar():
    centre = [("Hips", None, "pelvis"), ("LowerBack", "Hips", "spine1"), ("Spine", "LowerBack", "spine2"),
              ("Spine1", "Spine", "spine3"), ("Neck", "Spine1", "neck"), ("Neck1", "Neck", ("neck", "head", 0.5)),
              ("Head", "Neck1", "head")]
    limbs = [("{S}HipJoint", "Hips", "pelvis"), ("{L}Hip", "{S}HipJoint", "{side}_hip"),
             ("{L}Knee", "{L}Hip", "{side}_knee"), ("{L}Ankle", "{L}Knee", "{side}_ankle"),
             ("{L}Toe", "{L}Ankle", "{side}_foot"), ("{L}Collar", "Spine1", "{side}_collar"),
             ("{L}Shoulder", "{L}Collar", "{side}_shoulder"), ("{L}Elbow", "{L}Shoulder", "{side}_elbow"),
             ("{L}Wrist", "{L}Elbow", "{side}_wrist")]
    rows = []
    for side, (s, long) in {"left": ("L", "Left"), "right": ("R", "Right")}.items():
        for name, parent, at in limbs:
            f = {"S": s, "L": long, "side": side}
            rows.append((name.format(**f), parent.format(**f), at.format(**f)))
    return centre + rows


def rig_cc():
    centre = [("CC_Base_BoneRoot", None, ("pelvis", "pelvis", 0.0)), ("CC_Base_Hip", "CC_Base_BoneRoot", "pelvis"),
              ("CC_Base_Pelvis", "CC_Base_Hip", "pelvis"), ("CC_Base_Waist", "CC_Base_Hip", "spine1"),
              ("CC_Base_Spine01", "CC_Base_Waist", "spine2"), ("CC_Base_Spine02", "CC_Base_Spine01", "spine3"),
              ("CC_Base_NeckTwist01", "CC_Base_Spine02", "neck"), ("CC_Base_Head", "CC_Base_NeckTwist01", "head")]
    limbs = [("CC_Base_{S}_Thigh", "CC_Base_Pelvis", "{side}_hip"),
             ("CC_Base_{S}_ThighTwist01", "CC_Base_{S}_Thigh", ("{side}_hip", "{side}_knee", 0.3)),
             ("CC_Base_{S}_Calf", "CC_Base_{S}_Thigh", "{side}_knee"),
             ("CC_Base_{S}_KneeShareBone", "CC_Base_{S}_Calf", "{side}_knee"),
             ("CC_Base_{S}_Foot", "CC_Base_{S}_Calf", "{side}_ankle"),
             ("CC_Base_{S}_ToeBase", "CC_Base_{S}_Foot", "{side}_foot"),
             ("CC_Base_{S}_Clavicle", "CC_Base_Spine02", "{side}_collar"),
             ("CC_Base_{S}_Upperarm", "CC_Base_{S}_Clavicle", "{side}_shoulder"),
             ("CC_Base_{S}_UpperarmTwist01", "CC_Base_{S}_Upperarm", ("{side}_shoulder", "{side}_elbow", 0.4)),
             ("CC_Base_{S}_Forearm", "CC_Base_{S}_Upperarm", "{side}_elbow"),
             ("CC_Base_{S}_ElbowShareBone", "CC_Base_{S}_Forearm", "{side}_elbow"),
             ("CC_Base_{S}_Hand", "CC_Base_{S}_Forearm", "{side}_wrist")]
    return centre + _limbs(limbs, {"left": "L", "right": "R"})


def _limbs(limbs, spell):
    rows = []
    for side, s in spell.items():
        for name, parent, at in limbs:
            f = {"S": s, "side": side}
            at = at.format(**f) if isinstance(at, str) else (at[0].format(**f), at[1].format(**f), at[2])
            rows.append((name.format(**f), parent.format(**f), at))
    return rows


def rig_daz():  # Genesis 8 style: twist bones inside the chain
    centre = [("hip", None, "pelvis"), ("pelvis", "hip", "pelvis"), ("abdomenLower", "hip", "spine1"),
              ("chestUpper", "abdomenLower", "spine3"), ("neckLower", "chestUpper", "neck"), ("head", "neckLower", "head")]
    limbs = [("{S}ThighBend", "pelvis", "{side}_hip"), ("{S}ThighTwist", "{S}ThighBend", ("{side}_hip", "{side}_knee", 0.5)),
             ("{S}Shin", "{S}ThighTwist", "{side}_knee"), ("{S}Foot", "{S}Shin", "{side}_ankle"),
             ("{S}Toe", "{S}Foot", "{side}_foot"), ("{S}Collar", "chestUpper", "{side}_collar"),
             ("{S}ShldrBend", "{S}Collar", "{side}_shoulder"),
             ("{S}ShldrTwist", "{S}ShldrBend", ("{side}_shoulder", "{side}_elbow", 0.5)),
             ("{S}ForearmBend", "{S}ShldrTwist", "{side}_elbow"),
             ("{S}ForearmTwist", "{S}ForearmBend", ("{side}_elbow", "{side}_wrist", 0.5)),
             ("{S}Hand", "{S}ForearmTwist", "{side}_wrist"),
             ("{S}Index1", "{S}Hand", "{side}_hand")]
    return centre + _limbs(limbs, {"left": "l", "right": "r"})


def rig_biped():
    centre = [("Bip01", None, "pelvis"), ("Bip01 Pelvis", "Bip01", "pelvis"), ("Bip01 Spine", "Bip01 Pelvis", "spine1"),
              ("Bip01 Spine1", "Bip01 Spine", "spine3"), ("Bip01 Neck", "Bip01 Spine1", "neck"),
              ("Bip01 Head", "Bip01 Neck", "head")]
    limbs = [("Bip01 {S} Thigh", "Bip01 Spine", "{side}_hip"), ("Bip01 {S} Calf", "Bip01 {S} Thigh", "{side}_knee"),
             ("Bip01 {S} Foot", "Bip01 {S} Calf", "{side}_ankle"), ("Bip01 {S} Toe0", "Bip01 {S} Foot", "{side}_foot"),
             ("Bip01 {S} Clavicle", "Bip01 Neck", "{side}_collar"),
             ("Bip01 {S} UpperArm", "Bip01 {S} Clavicle", "{side}_shoulder"),
             ("Bip01 {S} Forearm", "Bip01 {S} UpperArm", "{side}_elbow"), ("Bip01 {S} Hand", "Bip01 {S} Forearm", "{side}_wrist"),
             ("Bip01 {S} Finger0", "Bip01 {S} Hand", "{side}_hand")]
    return centre + _limbs(limbs, {"left": "L", "right": "R"})


def rig_unreal():
    centre = [("root", None, ("pelvis", "pelvis", 0.0)), ("pelvis", "root", "pelvis"), ("spine_01", "pelvis", "spine1"),
              ("spine_03", "spine_01", "spine3"), ("neck_01", "spine_03", "neck"), ("head", "neck_01", "head"),
              ("ik_foot_root", "root", ("pelvis", "pelvis", 0.0))]
    limbs = [("thigh_{S}", "pelvis", "{side}_hip"), ("thigh_twist_01_{S}", "thigh_{S}", ("{side}_hip", "{side}_knee", 0.5)),
             ("calf_{S}", "thigh_{S}", "{side}_knee"), ("foot_{S}", "calf_{S}", "{side}_ankle"), ("ball_{S}", "foot_{S}", "{side}_foot"),
             ("clavicle_{S}", "spine_03", "{side}_collar"), ("upperarm_{S}", "clavicle_{S}", "{side}_shoulder"),
             ("lowerarm_{S}", "upperarm_{S}", "{side}_elbow"), ("hand_{S}", "lowerarm_{S}", "{side}_wrist"),
             ("ik_foot_{S}", "ik_foot_root", "{side}_ankle")]
    return centre + _limbs(limbs, {"left": "l", "right": "r"})


def rig_unnamed():
    """The Daz rig with every name replaced by 'jNN' (twist bones in the chains, fingers)."""
    rows = rig_daz() + _limbs([("{S}Mid1", "{S}Hand", ("{side}_wrist", "{side}_hand", 1.4)),
                               ("{S}Ring1", "{S}Hand", ("{side}_wrist", "{side}_hand", 1.2))], {"left": "l", "right": "r"})
    rename = {r[0]: f"j{k:02d}" for k, r in enumerate(rows)}
    return [(rename[n], rename.get(p), at) for n, p, at in rows], rename


def _where(rest: np.ndarray, at) -> np.ndarray:
    if isinstance(at, str):
        return rest[J[at]]
    a, b, t = at
    return rest[J[a]] + t * (rest[J[b]] - rest[J[a]])


# Per-frame local rotations (BVH "Zrotation Xrotation Yrotation", degrees) of the joints at our
# knees / elbows / shoulders / wrists, by the our-joint they sit at: a walk-like knee bend,
# elbow and wrist flexion, arms lowered from the T-pose.
def _motion(k: int, side: str) -> dict[str, tuple[float, float, float]]:
    s = 1.0 if side == "left" else -1.0
    ph = k * 0.5 + (0.0 if side == "left" else np.pi)
    return {f"{side}_knee": (0.0, 35.0 + 30.0 * np.sin(ph), 0.0),
            f"{side}_hip": (0.0, -20.0 * np.sin(ph), 0.0),
            f"{side}_shoulder": (-s * 60.0, 0.0, 0.0),
            f"{side}_elbow": (0.0, 0.0, -s * (30.0 + 20.0 * np.sin(ph))),
            f"{side}_wrist": (0.0, 0.0, -s * 20.0 * np.cos(ph))}


def write_bvh(path: Path, rest: np.ndarray, rig, frames: int = 24, unit: float = 100.0,
              tpose0: bool = False) -> Path:
    """A y-up BVH of our rest skeleton under the rig's names; frame k bends knees and elbows
    (_motion) at the rig joints that sit exactly at our joints (twist / share bones get none).
    unit: file units per metre. tpose0: frame 0 is the T-pose, frames 1.. start bent."""
    kids: dict = {}
    for name, parent, at in rig:
        kids.setdefault(parent, []).append((name, at))
    lines, order = ["HIERARCHY"], []

    def emit(name, at, parent_at, depth):
        pad = "  " * depth
        off = (_where(rest, at) - (_where(rest, parent_at) if parent_at is not None else 0.0)) * unit
        lines.append(f"{pad}{'ROOT' if parent_at is None else 'JOINT'} {name}\n{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        chans = "6 Xposition Yposition Zposition" if parent_at is None else "3"
        lines.append(f"{pad}  CHANNELS {chans} Zrotation Xrotation Yrotation")
        order.append((name, at, parent_at is None))
        for kid, kat in kids.get(name, []):
            emit(kid, kat, at, depth + 1)
        if not kids.get(name):
            lines.append(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET 0 {0.05 * unit:.4f} 0\n{pad}  }}")
        lines.append(f"{pad}}}")

    root = kids[None][0]
    emit(root[0], root[1], None, 0)
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.0333333"]
    for k in range(frames):
        rot: dict = {}
        if not (tpose0 and k == 0):
            for side in ("left", "right"):
                rot.update(_motion(k, side))
        vals = []
        for name, at, is_root in order:
            if is_root:
                vals += list((_where(rest, at) + np.array([0.0, 0.0, 0.04 * k])) * unit)
            vals += list(rot.get(at, (0.0, 0.0, 0.0)) if isinstance(at, str) and name == _owner(rig, at) else (0.0, 0.0, 0.0))
        lines.append(" ".join(f"{v:.5f}" for v in vals))
    path.write_text("\n".join(lines) + "\n")
    return path


def _owner(rig, at: str) -> str:
    """The rig joint that carries our joint's rotation: the deepest one sitting at it whose
    children include a joint elsewhere (a share bone sitting at the knee carries none)."""
    at_it = [n for n, _, a in rig if a == at]
    parents = {p for _, p, _ in rig}
    carrying = [n for n in at_it if n in parents]
    return carrying[-1] if carrying else at_it[-1]


EXPECT = {"left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow", "left_wrist"}


def _mapped_as(rig, jm_mapping: dict[str, str]) -> dict[str, object]:
    where = {n: at for n, _, at in rig}
    return {ours: where[theirs] for ours, theirs in jm_mapping.items() if theirs in where}


@pytest.mark.parametrize("rig_fn,family,helpers", [
    (rig_cmu_collar, "cmu-bvh", ()),
    (rig_cc, "iclone-cc", ("CC_Base_L_ThighTwist01", "CC_Base_L_KneeShareBone", "CC_Base_L_UpperarmTwist01")),
    (rig_daz, "daz", ("lThighTwist", "lShldrTwist", "lIndex1")),
    (rig_biped, "3dsmax-biped", ("Bip01 L Finger0",)),
    (rig_unreal, "unreal", ("thigh_twist_01_l", "ik_foot_l")),
])
def test_named_rigs_map_by_names_and_retarget(tmp_path: Path, rest: np.ndarray, rig_fn, family, helpers) -> None:
    rig = rig_fn()
    path = write_bvh(tmp_path / f"{family}.bvh", rest, rig)
    cap, jm = prepare(read_bvh(path))
    assert jm.method == "names" and jm.family == family
    got = _mapped_as(rig, jm.mapping)
    for ours in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
        for side in ("left", "right"):
            assert got[f"{side}_{ours}"] == f"{side}_{ours}", (ours, jm.mapping)
    assert set(helpers) <= set(jm.ignored)
    res = retarget(cap, rest, jmap=jm)
    assert res.error_mm < 10.0 and not res.problems, (res.error_mm, res.problems)


def test_cmu_bvh_collar_variant_and_cmu_trial_names_join_the_cmu_corpus(tmp_path: Path, rest: np.ndarray) -> None:
    """`LeftCollar` is the clavicle, `LeftShoulder` the upper arm (the issue's first refusal);
    a CMU-numbered file joins corpus cmu and its hold-out rule (subjects 03, *7)."""
    folder = tmp_path / "lib"
    (folder / "17").mkdir(parents=True)
    path = write_bvh(folder / "17" / "17_02.bvh", rest, rig_cmu_collar())
    res, rep = load_clip(path, folder, rest)
    assert rep.status == "ok", rep.reason
    assert rep.joint_map["left_collar"] == "LeftCollar" and rep.joint_map["left_shoulder"] == "LeftShoulder"
    assert rep.clip_id == "cmu/17/17_02" and rep.split == "heldout"


def test_unnamed_rig_is_mapped_by_its_shape(tmp_path: Path, rest: np.ndarray) -> None:
    rig, rename = rig_unnamed()
    path = write_bvh(tmp_path / "unnamed.bvh", rest, rig)
    cap, jm = prepare(read_bvh(path))
    assert jm.method == "shape" and jm.family == "inferred from shape"
    got = _mapped_as(rig, jm.mapping)
    for side in ("left", "right"):
        for ours in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist", "collar"):
            assert got[f"{side}_{ours}"] == f"{side}_{ours}", (side, ours, got)
    res = retarget(cap, rest, jmap=jm)
    assert res.error_mm < 10.0 and not res.problems


@pytest.mark.parametrize("unit,name", [(100.0, "cm"), (1.0, "m"), (1.0 / 0.0254, "inch")])
def test_units_from_the_legs(tmp_path: Path, rest: np.ndarray, unit: float, name: str) -> None:
    cap, _ = prepare(read_bvh(write_bvh(tmp_path / "u.bvh", rest, rig_biped(), unit=unit)))
    assert cap.unit_name == f"{name} (detected)"


def test_tpose_frame0_is_skipped(tmp_path: Path, rest: np.ndarray) -> None:
    path = write_bvh(tmp_path / "t.bvh", rest, rig_cc(), frames=12, tpose0=True)
    res, rep = load_clip(path, tmp_path, rest)
    assert rep.tpose_frame0 and rep.frames == 11 and rep.status == "ok"
    # Without the T-pose frame the first frame stays.
    path = write_bvh(tmp_path / "n.bvh", rest, rig_cc(), frames=12)
    _, rep = load_clip(path, tmp_path, rest)
    assert not rep.tpose_frame0 and rep.frames == 12


SNAKE = """HIERARCHY
ROOT seg0
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT seg1
  {
    OFFSET 0 0 10
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT seg2
    {
      OFFSET 0 0 10
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 0 10
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.04
0 0 0 0 0 0 0 0 0 0 0 0
0 0 1 0 0 0 0 10 0 0 10 0
0 0 2 0 0 0 0 20 0 0 20 0
"""


def test_motion_info_over_a_folder_of_conventions(tmp_path: Path, rest: np.ndarray) -> None:
    from meshvid.cli.main import app

    write_bvh(tmp_path / "cc.bvh", rest, rig_cc())
    write_bvh(tmp_path / "unnamed.bvh", rest, rig_unnamed()[0])
    (tmp_path / "snake.bvh").write_text(SNAKE)
    out = CliRunner().invoke(app, ["motion", "info", str(tmp_path), "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output
    lines = [ln for ln in out.output.splitlines() if "snake.bvh" in ln]
    assert len(lines) == 1 and "not a humanoid skeleton" in lines[0]
    assert "inferred from shape" in out.output and "iclone-cc" in out.output
    assert "left_shoulder<-CC_Base_L_Upperarm" in out.output
    res = CliRunner().invoke(app, ["motion", "info", str(tmp_path), "--json", "--workers", "2"])
    doc = json.loads(res.stdout)
    by = {Path(c["path"]).name: c for c in doc["clips"]}
    assert by["unnamed.bvh"]["method"] == "shape" and by["cc.bvh"]["error_mm"] < 10
    assert by["snake.bvh"]["status"] == "unreadable" and "seconds" in doc


def test_clip_library_split_cache_and_draws(tmp_path: Path, rest: np.ndarray, monkeypatch) -> None:
    monkeypatch.setenv("MESHVID_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "lib"
    for subject, trial in (("01", "01"), ("07", "02"), ("03", "01"), ("12", "03")):
        (folder / subject).mkdir(parents=True, exist_ok=True)
        write_bvh(folder / subject / f"{subject}_{trial}.bvh", rest, rig_cmu_collar(), frames=30)
    lib = ClipLibrary.build([folder], fps=15.0, workers=2)
    assert lib.clip_ids("heldout") == ["cmu/03/03_01", "cmu/07/07_02"]
    assert lib.clip_ids("train") == ["cmu/01/01_01", "cmu/12/12_03"]
    assert lib.num_frames == 4 * 15 and np.allclose(lib.fps, 15.0)
    rows = lib.draw_frames(1000, np.random.default_rng(0), split="train")
    assert set(lib.ids[np.unique(rows["clip"])]) == {"cmu/01/01_01", "cmu/12/12_03"}
    assert rows["pose"].shape == (1000, 24, 3) and 300 < rows["mirrored"].sum() < 700
    seq = lib.draw_windows(5, 4, np.random.default_rng(1), split="heldout", fps=5.0)
    assert seq["pose"].shape == (5, 4, 24, 3)
    again = ClipLibrary.build([folder], fps=15.0, workers=1)
    assert again.seconds == 0.0 and np.array_equal(again.pose, lib.pose)


# --- FBX (ufbx): a binary FBX written by Blender, and our own exports read back

BPY_WRITE = r'''
import sys, json
import bpy
from mathutils import Vector
spec = json.load(open(sys.argv[1]))
bpy.ops.wm.read_factory_settings(use_empty=True)
arm = bpy.data.armatures.new("Armature")
obj = bpy.data.objects.new("Armature", arm)
bpy.context.scene.collection.objects.link(obj)
bpy.context.view_layer.objects.active = obj
bpy.ops.object.mode_set(mode="EDIT")
for name, parent, head, tail in spec["bones"]:
    b = arm.edit_bones.new(name)
    b.head, b.tail = Vector(head), Vector(tail)
    if parent:
        b.parent = arm.edit_bones[parent]
bpy.ops.object.mode_set(mode="POSE")
scene = bpy.context.scene
scene.render.fps = 30
for f, rots in enumerate(spec["frames"]):
    for name, (axis, deg) in rots.items():
        pb = obj.pose.bones[name]
        pb.rotation_mode = "XYZ"
        pb.rotation_euler = (0, 0, 0)
        pb.rotation_euler["xyz".index(axis)] = deg * 3.14159265 / 180.0
        pb.keyframe_insert("rotation_euler", frame=f + 1)
scene.frame_start, scene.frame_end = 1, len(spec["frames"])
bpy.ops.object.mode_set(mode="OBJECT")
bpy.ops.export_scene.fbx(filepath=spec["out"], use_selection=False, add_leaf_bones=False, bake_anim=True)
'''


@needs_bpy
def test_bpy_binary_fbx_reads_and_maps(tmp_path: Path, rest: np.ndarray) -> None:
    """A Mixamo-named armature in Blender's z-up world, knees and elbows bending, exported as
    binary FBX 7.4 by Blender: ufbx reads it in metres, y up, and the map is Mixamo's."""
    from meshvid.motion.fbx import read_fbx

    zup = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # ours -> Blender
    bones = [("Hips", None, "pelvis", "spine1"), ("Spine", "Hips", "spine1", "spine3"), ("Neck", "Spine", "neck", "head"),
             ("Head", "Neck", "head", None)]
    for side, S in (("left", "Left"), ("right", "Right")):
        bones += [(f"{S}UpLeg", "Hips", f"{side}_hip", f"{side}_knee"), (f"{S}Leg", f"{S}UpLeg", f"{side}_knee", f"{side}_ankle"),
                  (f"{S}Foot", f"{S}Leg", f"{side}_ankle", f"{side}_foot"), (f"{S}ToeBase", f"{S}Foot", f"{side}_foot", None),
                  (f"{S}Shoulder", "Spine", f"{side}_collar", f"{side}_shoulder"),
                  (f"{S}Arm", f"{S}Shoulder", f"{side}_shoulder", f"{side}_elbow"),
                  (f"{S}ForeArm", f"{S}Arm", f"{side}_elbow", f"{side}_wrist"), (f"{S}Hand", f"{S}ForeArm", f"{side}_wrist", None)]
    spec_bones = []
    for name, parent, a, b in bones:
        head = rest[J[a]]
        tail = rest[J[b]] if b else head + np.array([0.0, 0.0, 0.08])
        spec_bones.append([f"mixamorig:{name}", f"mixamorig:{parent}" if parent else None,
                           list(zup @ head), list(zup @ tail)])
    frames = [{f"mixamorig:{S}Leg": ("x", 20.0 + 40.0 * (k % 2)) for S in ("Left", "Right")} for k in range(6)]
    out = tmp_path / "mixamo.fbx"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"bones": spec_bones, "frames": frames, "out": str(out)}))
    script = tmp_path / "write.py"
    script.write_text(BPY_WRITE)
    proc = subprocess.run([sys.executable, str(script), str(spec)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]
    assert out.read_bytes()[:18] == b"Kaydara FBX Binary"
    cap = read_fbx(out)
    assert cap.num_frames == 6 and cap.fps == pytest.approx(30.0) and cap.up == "+y"
    hips = cap.positions[0, cap.index("mixamorig:Hips")]
    assert np.allclose(hips, rest[J["pelvis"]], atol=1e-3)  # metres, y up, as we wrote it
    res = retarget(cap, rest)
    assert res.family == "mixamo" and res.error_mm < 10.0 and not res.problems


@needs_bpy
def test_our_fbx_and_bvh_exports_read_back(tmp_path: Path, rest: np.ndarray) -> None:
    """`meshvid export` round trip: the two-person FBX and a BVH per person read back, map by
    names (SMPL rig, and the Mixamo rig), and retarget with a small error."""
    from test_export_toybody import ToyBody, two_person_result

    from meshvid.export.exporter import export_motion
    from meshvid.motion.fbx import read_fbx, skeletons

    toy = ToyBody()
    result = two_person_result(frames=24, fps=24.0)
    export_motion(result, "fbx,bvh", tmp_path / "toy", body_model=toy, foot_lock=False)
    export_motion(result, "bvh", tmp_path / "mix", body_model=toy, foot_lock=False, rig="mixamo", track_ids=[1])
    fbx = tmp_path / "toy.fbx"
    assert skeletons(fbx) == 2
    for k in range(2):
        cap = read_fbx(fbx, index=k)
        assert cap.joints[0].startswith("person_")
        res = retarget(cap, toy_rest(toy))
        assert res.family == "smpl" and res.method == "names" and res.error_mm < 30.0, res.error_mm
    for bvh in sorted(tmp_path.glob("*.bvh")):
        res, rep = load_clip(bvh, tmp_path, toy_rest(toy))
        assert rep.status == "ok" and rep.error_mm < 30.0, (bvh.name, rep.reason, rep.error_mm)
    # `motion info` and the corpora take every person of the file, one row each.
    from meshvid.cli.main import app
    from meshvid.motion.corpus import scan

    out = CliRunner().invoke(app, ["motion", "info", str(fbx), "--json", "--workers", "1"])
    assert out.exit_code == 0, out.output
    rows = {Path(c["path"]).name: c for c in json.loads(out.stdout)["clips"]}
    assert set(rows) == {"toy.fbx#person_1", "toy.fbx#person_3"}, rows.keys()
    assert rows["toy.fbx#person_3"]["clip_id"] == "fbx/toy#person_3" and rows["toy.fbx#person_3"]["frames"] == 16
    assert all(r["status"] == "ok" and r["family"] == "smpl" for r in rows.values()), rows
    clips, _ = scan([tmp_path], toy_rest(toy), workers=1)
    assert sorted(c.clip.name for c in clips if c.clip.name.startswith("fbx/")) == ["fbx/toy#person_1", "fbx/toy#person_3"]


def toy_rest(toy) -> np.ndarray:
    import torch

    with torch.no_grad():
        _, joints = toy.rest_shape(torch.zeros(1, 10))
    return joints[0].double().numpy()


@pytest.mark.parametrize("names,expect", [
    (["Hips", "LeftUpperLeg", "LeftLowerLeg", "LeftFoot", "LeftToes", "RightUpperLeg", "RightLowerLeg", "RightFoot",
      "Spine", "Chest", "Neck", "Head", "LeftShoulder", "LeftUpperArm", "LeftLowerArm", "LeftHand", "RightShoulder",
      "RightUpperArm", "RightLowerArm", "RightHand"],
     {"family": "unity-humanoid", "left_collar": "LeftShoulder", "left_shoulder": "LeftUpperArm", "left_foot": "LeftToes"}),
    (["Pelvis", "L5", "L3", "T12", "T8", "Neck", "Head", "RightShoulder", "RightUpperArm", "RightForeArm", "RightHand",
      "LeftShoulder", "LeftUpperArm", "LeftForeArm", "LeftHand", "RightUpperLeg", "RightLowerLeg", "RightFoot",
      "LeftUpperLeg", "LeftLowerLeg", "LeftFoot", "LeftToe"],
     {"family": "xsens", "left_elbow": "LeftForeArm", "pelvis": "Pelvis", "left_ankle": "LeftFoot"}),
    (["person_2:pelvis", "person_2:left_hip", "person_2:right_hip", "person_2:left_knee", "person_2:right_knee",
      "person_2:left_ankle", "person_2:right_ankle", "person_2:left_foot", "person_2:right_foot", "person_2:neck",
      "person_2:left_collar", "person_2:right_collar", "person_2:head", "person_2:left_shoulder",
      "person_2:right_shoulder", "person_2:left_elbow", "person_2:right_elbow", "person_2:left_wrist",
      "person_2:right_wrist", "person_2:left_hand", "person_2:right_hand"],
     {"family": "smpl", "left_ankle": "person_2:left_ankle", "left_foot": "person_2:left_foot",
      "left_wrist": "person_2:left_wrist", "left_hand": "person_2:left_hand"}),
    (["mixamorig1:Hips", "mixamorig1:LeftUpLeg", "mixamorig1:LeftLeg", "mixamorig1:LeftFoot", "mixamorig1:RightUpLeg",
      "mixamorig1:RightLeg", "mixamorig1:RightFoot", "mixamorig1:Spine2", "mixamorig1:Neck", "mixamorig1:Head",
      "mixamorig1:HeadTop_End", "mixamorig1:LeftShoulder", "mixamorig1:LeftArm", "mixamorig1:LeftForeArm",
      "mixamorig1:LeftHand", "mixamorig1:LeftHandThumb1", "mixamorig1:RightShoulder", "mixamorig1:RightArm",
      "mixamorig1:RightForeArm", "mixamorig1:RightHand"],
     {"family": "mixamo", "left_collar": "mixamorig1:LeftShoulder", "head_top": "mixamorig1:HeadTop_End",
      "left_knee": "mixamorig1:LeftLeg"}),
])
def test_name_conventions(names, expect) -> None:
    from meshvid.motion.skeletons import map_by_names

    jm = map_by_names(tuple(names))
    assert jm.family == expect.pop("family")
    for ours, theirs in expect.items():
        assert jm.mapping[ours] == theirs
