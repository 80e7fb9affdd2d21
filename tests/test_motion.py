"""meshvid.motion: readers (BVH, ASF+AMC, cmu8 text) on tiny files written here, retargeting
by joint positions, the held-out rule, training access and `meshvid motion info`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from meshvid.body.joints import SMPL_24, SMPL_24_FLIP
from meshvid.errors import InputError
from meshvid.motion import cmu8
from meshvid.motion.asfamc import read_asf_amc
from meshvid.motion.bvh import read_bvh
from meshvid.motion.corpus import default_rest_joints, iter_motions, load_clip, training_frames
from meshvid.motion.retarget import retarget
from meshvid.motion.skeletons import map_by_names
from meshvid.synth.motion import mirror, resample
from meshvid.synth.sources import held_out

J = {n: i for i, n in enumerate(SMPL_24)}


@pytest.fixture(scope="module")
def rest() -> np.ndarray:
    return default_rest_joints()


# Mixamo-style skeleton built on our own rest joints: (name, parent, our joint at its start).
_MIXAMO = [
    ("Hips", None, "pelvis"), ("Spine", "Hips", "spine1"), ("Spine1", "Spine", "spine2"),
    ("Spine2", "Spine1", "spine3"), ("Neck", "Spine2", "neck"), ("Head", "Neck", "head"),
    *[(f"{S}{n}", p.format(S=S), j.format(s=s)) for S, s in (("Left", "left"), ("Right", "right"))
      for n, p, j in (("Shoulder", "Spine2", "{s}_collar"), ("Arm", "{S}Shoulder", "{s}_shoulder"),
                      ("ForeArm", "{S}Arm", "{s}_elbow"), ("Hand", "{S}ForeArm", "{s}_wrist"),
                      ("UpLeg", "Hips", "{s}_hip"), ("Leg", "{S}UpLeg", "{s}_knee"),
                      ("Foot", "{S}Leg", "{s}_ankle"), ("ToeBase", "{S}Foot", "{s}_foot"))],
]
# Ours (y up) -> file (z up): y -> z, z -> -y.
_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _write_bvh(path: Path, rest: np.ndarray, frames: list[dict[str, tuple[float, float, float]]],
               prefix: str = "mixamorig:", unit: float = 100.0, names: dict | None = None) -> None:
    """A Z-up, centimetre BVH of our own skeleton; frames: joint -> (z, x, y) degrees in file axes."""
    names = names or {}
    kids: dict[str | None, list] = {}
    for n, p, j in _MIXAMO:
        kids.setdefault(p, []).append((n, j))
    lines = ["HIERARCHY"]
    order = []

    def emit(name: str, joint: str, parent_joint: str | None, depth: int) -> None:
        pad = "  " * depth
        off = rest[J[joint]] - (rest[J[parent_joint]] if parent_joint else 0.0)
        off = _ZUP @ off * unit
        label = prefix + names.get(name, name)
        lines.append(f"{pad}{'ROOT' if parent_joint is None else 'JOINT'} {label}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        chans = "6 Xposition Yposition Zposition" if parent_joint is None else "3"
        lines.append(f"{pad}  CHANNELS {chans} Zrotation Xrotation Yrotation")
        order.append((name, parent_joint is None))
        for kid, kj in kids.get(name, []):
            emit(kid, kj, joint, depth + 1)
        if not kids.get(name):
            lines.append(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET 0 0 5\n{pad}  }}")
        lines.append(f"{pad}}}")

    emit("Hips", "pelvis", None, 0)
    lines += ["MOTION", f"Frames: {len(frames)}", "Frame Time: 0.0333333"]
    for k, fr in enumerate(frames):
        vals = []
        for name, is_root in order:
            if is_root:
                vals += list(_ZUP @ (rest[0] + np.array([0.0, 0.0, 0.05 * k])) * unit)
            vals += list(fr.get(name, (0.0, 0.0, 0.0)))
        lines.append(" ".join(f"{v:.5f}" for v in vals))
    path.write_text("\n".join(lines) + "\n")


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_bvh_reader_and_retarget_zup_cm(tmp_path: Path, rest: np.ndarray) -> None:
    path = tmp_path / "mine.bvh"
    # Frame 1: left knee flexed 60 deg (about x, the same axis in both frames), right arm
    # lowered 70 deg (about our z = the file's -y).
    _write_bvh(path, rest, [{}, {"LeftLeg": (0.0, 60.0, 0.0), "RightArm": (0.0, 0.0, 70.0)}])
    cap = read_bvh(path)
    assert cap.unit_name.startswith("cm") and cap.fps == pytest.approx(30.0, abs=1e-3)
    # The reader's FK: frame 0 is our rest skeleton in file axes.
    got = cap.positions[0, cap.index("mixamorig:LeftLeg")] / 100.0
    np.testing.assert_allclose(got, _ZUP @ rest[J["left_knee"]], atol=1e-5)
    res = retarget(cap, rest)
    assert res.family == "mixamo" and res.up_axis == "+z"
    assert res.scale == pytest.approx(1.0, abs=1e-3)
    assert res.error_mm < 3.0, res.frame_error_mm
    j, src = res.fitted[1], res.targets[1]

    def knee(p: np.ndarray) -> float:
        return _angle(p[J["left_knee"]] - p[J["left_hip"]], p[J["left_ankle"]] - p[J["left_knee"]])

    # Our rest knee is bent ~9.6 deg already: the file's 60 deg flex adds to it.
    assert knee(src) > 65.0 and knee(j) == pytest.approx(knee(src), abs=1.0)
    # The right arm leaves the horizontal by 70 deg, on ours as in the file.
    def elevation(p: np.ndarray) -> float:
        arm = p[J["right_elbow"]] - p[J["right_shoulder"]]
        return float(np.degrees(np.arcsin(arm[1] / np.linalg.norm(arm))))

    assert abs(elevation(src)) == pytest.approx(70.0, abs=1.0)
    assert elevation(j) == pytest.approx(elevation(src), abs=1.5)
    # Root translation follows the file (5 cm per frame forward).
    assert res.clip.root_pos[1, 2] - res.clip.root_pos[0, 2] == pytest.approx(0.05, abs=1e-3)


def test_twist_follows_the_knee_plane(tmp_path: Path, rest: np.ndarray) -> None:
    """A leg turned out 45 deg about its own axis, knee bent: the hip twists so our knee bends
    in the capture's plane (positions can't tell this apart without the hinge rule)."""
    path = tmp_path / "twist.bvh"
    # Hip: rotate about the thigh axis (file z ~ ours y, the leg is vertical) by 45 deg.
    _write_bvh(path, rest, [{}, {"LeftUpLeg": (45.0, 0.0, 0.0), "LeftLeg": (0.0, 70.0, 0.0)}])
    res = retarget(read_bvh(path), rest)
    assert res.error_mm < 3.0
    local = res.clip.rotmats[1, J["left_knee"]]
    axis_angle = np.array([local[2, 1] - local[1, 2], local[0, 2] - local[2, 0], local[1, 0] - local[0, 1]])
    # The knee's own rotation is (almost) a pure hinge about its rest x axis.
    assert abs(axis_angle[0]) / np.linalg.norm(axis_angle) > 0.97


def test_name_fallback_maps_an_unknown_skeleton() -> None:
    names = ("Bip01", "Bip01 Pelvis", "Bip01 L Thigh", "Bip01 L Calf", "Bip01 L Foot", "Bip01 R Thigh",
             "Bip01 R Calf", "Bip01 R Foot", "Bip01 Neck", "Bip01 Head", "Bip01 L Clavicle",
             "Bip01 L UpperArm", "Bip01 L Forearm", "Bip01 L Hand", "Bip01 R Clavicle",
             "Bip01 R UpperArm", "Bip01 R Forearm", "Bip01 R Hand")
    m = map_by_names(names).mapping
    assert m["left_hip"] == "Bip01 L Thigh" and m["right_elbow"] == "Bip01 R Forearm"
    assert m["left_ankle"] == "Bip01 L Foot" and m["pelvis"] == "Bip01 Pelvis"
    with pytest.raises(InputError, match="cannot map"):
        map_by_names(("Hips", "Spine", "Head"))


def _write_asf_amc(folder: Path, rest: np.ndarray, knee_deg: float) -> Path:
    """CMU-style ASF (bone directions from our rest joints, length unit 0.45 -> 1/0.45 inch)
    and a 3-frame AMC flexing the left knee (ltibia rx) on the last frame."""
    to_asf = 0.45 / 0.0254  # metres -> ASF length units
    bones = [  # name, parent, start joint, end joint
        ("lhipjoint", "root", "pelvis", "left_hip"), ("lfemur", "lhipjoint", "left_hip", "left_knee"),
        ("ltibia", "lfemur", "left_knee", "left_ankle"), ("lfoot", "ltibia", "left_ankle", "left_foot"),
        ("rhipjoint", "root", "pelvis", "right_hip"), ("rfemur", "rhipjoint", "right_hip", "right_knee"),
        ("rtibia", "rfemur", "right_knee", "right_ankle"), ("rfoot", "rtibia", "right_ankle", "right_foot"),
        ("lowerback", "root", "pelvis", "spine1"), ("upperback", "lowerback", "spine1", "spine3"),
        ("thorax", "upperback", "spine3", "neck"), ("upperneck", "thorax", "neck", "head"),
        ("lclavicle", "thorax", "neck", "left_shoulder"), ("lhumerus", "lclavicle", "left_shoulder", "left_elbow"),
        ("lradius", "lhumerus", "left_elbow", "left_wrist"),
        ("rclavicle", "thorax", "neck", "right_shoulder"), ("rhumerus", "rclavicle", "right_shoulder", "right_elbow"),
        ("rradius", "rhumerus", "right_elbow", "right_wrist"),
    ]
    lines = [":version 1.10", ":name test", ":units", "  mass 1.0", "  length 0.45", "  angle deg",
             ":root", "   order TX TY TZ RX RY RZ", "   axis XYZ", "   position 0 0 0", "   orientation 0 0 0",
             ":bonedata"]
    for k, (name, _, a, b) in enumerate(bones):
        d = rest[J[b]] - rest[J[a]]
        length = np.linalg.norm(d)
        lines += ["  begin", f"     id {k + 1}", f"     name {name}",
                  f"     direction {d[0] / length:.6f} {d[1] / length:.6f} {d[2] / length:.6f}",
                  f"     length {length * to_asf:.6f}", "     axis 0 0 0 XYZ",
                  "    dof rx ry rz", "  end"]
    lines += [":hierarchy", "  begin"]
    parents: dict[str, list[str]] = {}
    for name, p, _, _ in bones:
        parents.setdefault(p, []).append(name)
    lines += [f"    {p} {' '.join(c)}" for p, c in parents.items()] + ["  end"]
    (folder / "07.asf").write_text("\n".join(lines) + "\n")
    amc = [":FULLY-SPECIFIED", ":DEGREES"]
    for f in range(3):
        root = rest[0] * to_asf
        amc.append(str(f + 1))
        amc.append(f"root {root[0]:.4f} {root[1]:.4f} {root[2]:.4f} 0 0 0")
        for name, *_ in bones:
            rx = knee_deg if (name == "ltibia" and f == 2) else 0.0
            amc.append(f"{name} {rx:.4f} 0 0")
    path = folder / "07_01.amc"
    path.write_text("\n".join(amc) + "\n")
    return path


def test_asf_amc_reader_and_retarget(tmp_path: Path, rest: np.ndarray) -> None:
    path = _write_asf_amc(tmp_path, rest, knee_deg=50.0)
    cap = read_asf_amc(path)
    assert cap.family == "cmu-asf" and cap.fps == 120.0 and cap.num_frames == 3
    # Rest frame: the femur's end is our knee (ASF points are bone ends).
    np.testing.assert_allclose(cap.positions[0, cap.index("lfemur")] * cap.unit, rest[J["left_knee"]], atol=1e-4)
    res = retarget(cap, rest)
    assert res.error_mm < 3.0
    j, src = res.fitted[2], res.targets[2]

    def knee(p: np.ndarray) -> float:
        return _angle(p[J["left_knee"]] - p[J["left_hip"]], p[J["left_ankle"]] - p[J["left_knee"]])

    assert knee(src) > 50.0 and knee(j) == pytest.approx(knee(src), abs=1.0)
    # rx on a bone with axis 0 0 0 turns about +x: the shin swings backwards (-z).
    assert j[J["left_ankle"], 2] < j[J["left_knee"], 2] - 0.1


# cmu8 tree (parents by name; the 38 points of meshvid.motion.cmu8.NAMES).
_CMU8_PARENT = {
    "lhip_connector": "root", "lhipjoint": "lhip_connector", "lfemur": "lhipjoint", "ltibia": "lfemur",
    "lfoot": "ltibia", "ltoes": "lfoot", "spine_connector": "root", "lowerback": "spine_connector",
    "upperback": "lowerback", "neck_connector": "upperback", "lowerneck": "neck_connector",
    "upperneck": "lowerneck", "head": "upperneck", "lclavicle_connector": "upperback",
    "lclavicle": "lclavicle_connector", "lhumerus": "lclavicle", "lradius": "lhumerus",
    "lwrist_connector": "lradius", "lwrist": "lwrist_connector", "lhand": "lwrist",
    "lthumb_connector": "lradius", "lthumb": "lthumb_connector",
}
_CMU8_AT = {"root": "pelvis", "lhipjoint": "left_hip", "lfemur": "left_knee", "ltibia": "left_ankle",
            "lfoot": "left_foot", "lowerback": "spine1", "upperback": "neck", "lowerneck": "neck",
            "upperneck": "head", "lclavicle": "left_shoulder", "lhumerus": "left_elbow",
            "lradius": "left_wrist", "lwrist": "left_hand"}


def _write_cmu8(folder: Path, rest: np.ndarray, elbow_rad: float) -> Path:
    """A 38-joint cmu8 skeleton JSON built on our rest joints and a 2-row clip."""
    names = cmu8.NAMES
    par = {**_CMU8_PARENT}
    at = {**_CMU8_AT}
    for k, v in list(par.items()):  # mirror the left side
        if k.startswith("l") and k not in ("lowerback", "lowerneck"):
            par["r" + k[1:]] = ("r" + v[1:]) if v.startswith("l") and v not in ("lowerback", "lowerneck") else v
    for k, v in list(at.items()):
        if k.startswith("l") and k not in ("lowerback", "lowerneck"):
            at["r" + k[1:]] = v.replace("left", "right")

    def where(n: str) -> np.ndarray:
        while n not in at:
            n = par[n]  # connectors and unmapped points sit at their parent
        return rest[J[at[n]]]

    parents = [-1 if n == "root" else names.index(par[n]) for n in names]
    offsets = [np.zeros(3) if n == "root" else (where(n) - where(par[n])) / cmu8.UNIT for n in names]
    skel = {"parent": parents, "offset": [o.tolist() for o in offsets],
            "expmap_index": [[3 + 3 * i, 4 + 3 * i, 5 + 3 * i] for i in range(len(names))]}
    (folder / cmu8.SKELETON_FILE).write_text(json.dumps(skel))
    rows = np.zeros((2, cmu8.VALUES_PER_FRAME))
    rows[:, 0:3] = (rest[0] / cmu8.UNIT - 0.0) / cmu8.ROOT_SCALE
    rows[:, 0:3] -= offsets[0] / cmu8.ROOT_SCALE
    e = names.index("lhumerus")
    rows[1, 3 + 3 * e + 1] = elbow_rad  # exp-map about y at the elbow (row-vector convention)
    (folder / "test").mkdir()
    path = folder / "test" / "clip_1.txt"
    np.savetxt(path, rows, delimiter=",", fmt="%.6f")
    return path


def test_cmu8_reader_and_retarget(tmp_path: Path, rest: np.ndarray) -> None:
    path = _write_cmu8(tmp_path, rest, elbow_rad=1.0)
    cap = cmu8.read_cmu8(path)
    assert cap.num_frames == 2 and cap.fps == 120.0
    np.testing.assert_allclose(cap.positions[0, cap.index("lfemur")] * cap.unit, rest[J["left_knee"]], atol=1e-4)
    res = retarget(cap, rest)
    assert res.family == "cmu8" and res.error_mm < 5.0
    j = res.fitted[1]
    bend = _angle(j[J["left_elbow"]] - j[J["left_shoulder"]], j[J["left_wrist"]] - j[J["left_elbow"]])
    assert bend == pytest.approx(np.degrees(1.0), abs=2.0)
    # Row-vector exp-map: the forearm turns to -z... about y by -1 rad in column form: x -> +z.
    assert j[J["left_wrist"], 2] > j[J["left_elbow"], 2] + 0.1


def test_cmu8_without_skeleton_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHVID_CMU8_SKELETON", raising=False)
    p = tmp_path / "x.txt"
    p.write_text(",".join(["0"] * 117) + "\n" + ",".join(["0"] * 117) + "\n")
    with pytest.raises(InputError, match="skeleton"):
        cmu8.read_cmu8(p)


def test_held_out_rule() -> None:
    assert held_out("deepmimic/humanoid3d_cartwheel") and not held_out("deepmimic/humanoid3d_walk")
    assert held_out("cmu/subjects/03/03_01") and not held_out("cmu/subjects/02/02_03")
    assert held_out("cmu8/data/cmu_mocap/test/walking/walking_1")
    assert not held_out("cmu8/data/cmu_mocap/train/walking/walking_1")
    assert held_out("bandai/Bandai-1/data/dataset-1_walk_musical_001")
    assert not held_out("bandai/Bandai-1/data/dataset-1_walk_youthful_001")
    assert held_out("bandai/Bandai-2/data/dataset-2_walk_youthful_003")
    assert not held_out("bvh/my_capture_03_01") and not held_out("bandai/dataset-2_walk_musical_001")


def test_resample_and_mirror_of_a_retargeted_clip(tmp_path: Path, rest: np.ndarray) -> None:
    path = tmp_path / "m.bvh"
    _write_bvh(path, rest, [{}, {"LeftLeg": (0.0, 40.0, 0.0)}, {"LeftLeg": (0.0, 80.0, 0.0)}])
    res, rep = load_clip(path, tmp_path, rest)
    assert rep.status == "ok" and rep.clip_id == "mixamo/m" and rep.split == "train"
    none, rejected = load_clip(path, tmp_path, rest, max_error_mm=rep.error_mm / 2)
    assert none is None and rejected.status == "rejected" and "retarget error" in rejected.reason
    clip = res.clip
    assert resample(clip, 60.0).num_frames == 5  # 2 intervals at 30 fps -> 4 at 60 fps
    from meshvid.body.lbs import forward_kinematics
    import torch

    def fk(c):
        rj = torch.from_numpy(rest)[None].expand(c.num_frames, -1, -1)
        return forward_kinematics(torch.from_numpy(c.rotmats), rj, __import__("meshvid.body.joints", fromlist=["x"]).SMPL_24_PARENTS)[1].numpy()

    a, b = fk(clip), fk(mirror(clip))
    flipped = a[:, list(SMPL_24_FLIP)] * np.array([-1.0, 1.0, 1.0])
    # Mirroring is exact up to the rest skeleton's own asymmetry (< 1 cm on anny24).
    rel_a = flipped - flipped[:, :1]
    rel_b = b - b[:, :1]
    assert np.abs(rel_a - rel_b).max() < 0.01
    # The right knee of the mirror bends as the left one did.
    assert rel_b[2, J["right_ankle"], 2] < rel_b[2, J["right_knee"], 2] - 0.1


def test_iter_motions_and_training_frames_apply_the_split(tmp_path: Path, rest: np.ndarray,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHVID_CACHE_DIR", str(tmp_path / "cache"))
    corpus = tmp_path / "cmu8"
    corpus.mkdir()
    _write_cmu8(corpus, rest, elbow_rad=0.5)
    (corpus / "train").mkdir()
    (corpus / "train" / "clip_2.txt").write_text((corpus / "test" / "clip_1.txt").read_text())
    (corpus / "train" / "broken.bvh").write_text("HIERARCHY\n")
    (corpus / "notes.txt").write_text("not motion, skipped silently\n")
    seen = []
    items = list(iter_motions([corpus], split="train", fps=30.0, mirror=True, rest_joints=rest, on_clip=seen.append))
    assert [i.clip_id for i in items] == ["cmu8/train/clip_2", "cmu8/train/clip_2#mirror"]
    assert all(i.split == "train" and i.pose.shape[1:] == (24, 3) for i in items)
    assert sum(r.status == "unreadable" for r in seen) == 1
    held = list(iter_motions([corpus], split="heldout", fps=None, rest_joints=rest))
    assert [i.clip_id for i in held] == ["cmu8/test/clip_1"] and held[0].fps == 120.0
    arr = training_frames([corpus], fps=None)
    assert arr["pose"].shape == (2, 24, 3) and list(arr["clip_ids"]) == ["cmu8/train/clip_2"]
    again = training_frames([corpus], fps=None)  # from the cache
    np.testing.assert_array_equal(arr["pose"], again["pose"])
    assert len(list((tmp_path / "cache" / "motion").glob("*.npz"))) == 1


def test_motion_info_cli_reports_bad_files_and_continues(tmp_path: Path, rest: np.ndarray) -> None:
    from typer.testing import CliRunner

    from meshvid.cli.main import app

    _write_bvh(tmp_path / "good.bvh", rest, [{}, {"LeftLeg": (0.0, 30.0, 0.0)}])
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT x\n{\nOFFSET 0 0\n")
    result = CliRunner().invoke(app, ["motion", "info", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{"):])
    status = {Path(c["path"]).name: c["status"] for c in doc["clips"]}
    assert status == {"bad.bvh": "unreadable", "good.bvh": "ok"}
    assert doc["summary"]["mixamo"]["accepted"] == 1 and doc["summary"]["mixamo"]["error_median_mm"] < 3.0


def test_swapped_sides_and_mirrored_files_are_rejected(tmp_path: Path, rest: np.ndarray) -> None:
    """Joint positions fit a mirrored capture as well as the right one; the plausibility checks
    (knees bend backwards, hips and shoulders agree on left/right) catch it."""
    import copy

    path = tmp_path / "walk.bvh"
    frames = [{"LeftLeg": (0.0, 30.0 + 4 * k, 0.0), "RightLeg": (0.0, 70.0 - 4 * k, 0.0)} for k in range(12)]
    _write_bvh(path, rest, frames)
    cap = read_bvh(path)
    assert retarget(cap, rest).problems == ()
    mirrored = copy.copy(cap)
    mirrored.positions = cap.positions * np.array([-1.0, 1.0, 1.0])
    res = retarget(mirrored, rest)
    # It would pass the error threshold; the hinge check catches it.
    assert res.error_mm < 60.0 and any("knees bend forwards" in p for p in res.problems)
    m = retarget(cap, rest).joint_map
    arms = {f"{a}_{j}": m[f"{b}_{j}"] for a, b in (("left", "right"), ("right", "left"))
            for j in ("shoulder", "elbow", "wrist")}
    res = retarget(cap, rest, "mixamo", {**m, **arms})
    assert any("disagree on left/right" in p for p in res.problems)


def test_motion_library_takes_captures_per_split(tmp_path: Path, rest: np.ndarray) -> None:
    """`meshvid synth --motions`: a capture folder's clips join the library of their split only,
    and draws from them are labelled as mocap."""
    from meshvid.synth.sources import SOURCE_KINDS, MotionLibrary, library_clip_names

    corpus = tmp_path / "cmu8"
    corpus.mkdir()
    _write_cmu8(corpus, rest, elbow_rad=0.5)
    (corpus / "train").mkdir()
    (corpus / "train" / "clip_2.txt").write_text((corpus / "test" / "clip_1.txt").read_text())
    motions = (str(corpus),)
    train_names = library_clip_names("train", rest, motions)  # what a training card lists
    assert "cmu8/train/clip_2" in train_names and "cmu8/test/clip_1" not in train_names
    held = MotionLibrary.build("heldout", rest, motions)  # (the train library loads 17 clips: slow)
    assert "cmu8/test/clip_1" in held.clip_names and "cmu8/train/clip_2" not in held.clip_names
    assert held.clip_names == library_clip_names("heldout", rest, motions)
    k = held.clip_names.index("cmu8/test/clip_1")
    rng = np.random.default_rng(0)
    kinds = {SOURCE_KINDS[d.kind] for d in (held.draw_frame(rng) for _ in range(40)) if d.clip_id == k}
    assert kinds == {"mocap"}


def test_only_motions_library_and_corpus_mix(tmp_path: Path, rest: np.ndarray) -> None:
    """A held-out set of one corpus (`synth --only-motions`) has no built-in clip, and a corpus
    mix gives each corpus its share of the draws whatever its number of clips."""
    from meshvid.errors import InputError
    from meshvid.synth.sources import MotionLibrary, clip_probabilities, library_clip_names
    from meshvid.synth.motion import MotionClip

    corpus = tmp_path / "cmu8"
    corpus.mkdir()
    _write_cmu8(corpus, rest, elbow_rad=0.5)
    motions = (str(corpus),)
    only = MotionLibrary.build("heldout", rest, motions, builtin=False)
    assert only.clip_names == ["cmu8/test/clip_1"]
    assert only.clip_names == library_clip_names("heldout", rest, motions, builtin=False)
    with pytest.raises(InputError, match="no heldout motion clips"):
        MotionLibrary.build("heldout", rest, (), builtin=False)

    rot = np.tile(np.eye(3), (2, 24, 1, 1))
    clips = [MotionClip(f"{c}/{i}", f"{c}/{i}", 30.0, rot, np.zeros((2, 3)))
             for c, n in (("bandai", 30), ("deepmimic", 3)) for i in range(n)]
    p = clip_probabilities(clips, {"deepmimic": 3.0, "bandai": 1.0})
    assert p.sum() == pytest.approx(1.0)
    assert p[30:].sum() == pytest.approx(0.75) and p[:30].sum() == pytest.approx(0.25)
    assert clip_probabilities(clips, {"deepmimic": 1.0})[:30].sum() == 0.0
    with pytest.raises(InputError, match="names none of the corpora"):
        clip_probabilities(clips, {"cmu": 1.0})
    held = MotionLibrary.build("heldout", rest, motions)  # DeepMimic's 3 + the capture
    mixed = MotionLibrary.build("heldout", rest, motions, corpus_mix={"cmu8": 1.0})
    rng = np.random.default_rng(0)
    k = held.clip_names.index("cmu8/test/clip_1")
    assert {mixed.draw_frame(rng).clip_id for _ in range(30)} == {k}


def test_synth_only_motions_needs_motions(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meshvid.cli.main import app

    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), "--split", "heldout",
                                   "--only-motions"])
    assert res.exit_code != 0 and "--only-motions needs" in str(res.exception)  # one line at the entry point


def _reproportioned(rest: np.ndarray, widths: dict[str, float], bones: dict[str, float]) -> np.ndarray:
    """Our rest skeleton with the lateral part of some offsets and whole bones scaled."""
    from meshvid.motion.retarget import _from_offsets, _offsets

    off = _offsets(rest)
    for j, f in widths.items():
        off[J[j], 0] *= f
    for j, f in bones.items():
        off[J[j]] *= f
    return _from_offsets(off)


def test_retarget_fits_the_source_proportions(tmp_path: Path, rest: np.ndarray) -> None:
    """A skeleton with the CMU library's Daz proportions (shoulders 0.66x ours, hips 0.8x,
    thighs 0.9x): the pose is solved on a skeleton of those proportions, so joint positions and
    the capture's angles both come out right, and the clip's root is scaled to our legs."""
    from meshvid.motion.retarget import _leg

    narrow = {f"{s}_{j}": 0.66 for s in ("left", "right") for j in ("collar", "shoulder")}
    src_rest = _reproportioned(rest, {**narrow, "left_hip": 0.8, "right_hip": 0.8},
                               {"left_knee": 0.9, "right_knee": 0.9})
    path = tmp_path / "daz_like.bvh"
    frames = [{"LeftLeg": (0.0, 6.0 * k, 0.0), "RightArm": (0.0, 0.0, 7.0 * k)} for k in range(11)]
    _write_bvh(path, src_rest, frames)
    res = retarget(read_bvh(path), rest)
    assert not res.problems and res.error_mm < 2.0, (res.error_mm, res.problems)
    p = res.proportions
    assert p["shoulder_width"] == pytest.approx(0.66 * res.scale, rel=0.02)
    assert p["hip_width"] == pytest.approx(0.8 * res.scale, rel=0.02)
    assert p["left_hip_knee"] == pytest.approx(0.9 * res.scale, rel=0.02)
    # The capture's angles: the right arm lowered 70 deg, the left knee flexed 60 deg more.
    j, src = res.fitted[-1], res.targets[-1]
    arm = j[J["right_elbow"]] - j[J["right_shoulder"]]
    src_arm = src[J["right_elbow"]] - src[J["right_shoulder"]]
    assert _angle(arm, src_arm) < 1.0
    # The clip is for our body: the root's 5 cm per frame, scaled by our legs over the fitted ones.
    step = res.clip.root_pos[1, 2] - res.clip.root_pos[0, 2]
    assert step == pytest.approx(0.05 * res.scale * _leg(rest) / _leg(res.rest), rel=0.01)


def test_proportions_no_human_has_are_rejected(tmp_path: Path, rest: np.ndarray) -> None:
    """A broken clip (shoulders a fifth of the way up the trunk: CMU 138_31) would be partly
    absorbed by the proportion fit; the proportion check rejects it."""
    squashed = _reproportioned(rest, {}, {"spine1": 0.1, "spine2": 0.1, "spine3": 0.1})
    path = tmp_path / "broken.bvh"
    _write_bvh(path, squashed, [{"LeftLeg": (0.0, 6.0 * k, 0.0)} for k in range(11)])
    res, rep = load_clip(path, tmp_path, rest)
    assert res is None and rep.status == "rejected" and "proportions no human skeleton has" in rep.reason
    assert "spine" in rep.reason
