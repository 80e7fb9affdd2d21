"""`meshvid infer` end to end on real footage, and its failures on bad input.

The pipeline is exercised with a randomly initialised regressor saved in the shipped format
(the geometry — tracking, crops, camera conversion, body, rendering, exports — does not depend
on the weights); the shipped weights are checked separately when they exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from meshvid import assets
from meshvid.export.npz import load_npz

MESHVID = [sys.executable, "-m", "meshvid.cli.main"]


def meshvid(*args, timeout=900):
    return subprocess.run([*MESHVID, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from meshvid.model.config import cpu_config
    from meshvid.model.net import build_model
    from meshvid.train.export import export_shipped

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("weights") / "random"
    export_shipped(build_model(cpu_config()).eval(), folder)
    return folder


@pytest.fixture(scope="module")
def demo_run(weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("infer")
    res = meshvid("infer", "--demo", "--weights", weights, "-o", out, "--max-frames", "60",
                  "--export", "fbx,glb,bvh", "--render", "side", "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    return out, json.loads(res.stdout)


def test_demo_clip_gives_two_tracks_with_meshes_on_the_people(demo_run):
    out, summary = demo_run
    result = load_npz(out / "demo.npz")
    assert len(result.persons) == 2 and result.body_model == "anny24"
    # the default shape is the body model's average adult (--shape-weight 0), whatever the
    # network says
    from meshvid.body import load_body_model

    adult = load_body_model("anny24").adult_betas().numpy()
    assert all(np.allclose(p.betas, adult, atol=1e-6) for p in result.persons)
    w, h = result.image_size
    for p in result.persons:
        assert p.pose.shape == (len(p), 24, 3) and np.isfinite(p.pose).all()
        # the root joint projects inside its detection box: the mesh sits on the person
        root = p.joints3d[:, 0]
        u = result.focal_length * root[:, 0] / root[:, 2] + w / 2
        v = result.focal_length * root[:, 1] / root[:, 2] + h / 2
        inside = ((u > p.boxes[:, 0]) & (u < p.boxes[:, 2]) &
                  (v > p.boxes[:, 1]) & (v < p.boxes[:, 3]))
        assert inside.mean() > 0.95
    assert summary["num_frames"] == 60 and len(summary["tracks"]) == 2
    # the demo's camera is still: detected, and the world is the camera frame exactly
    assert summary["camera_motion"]["mode"] == "static"
    assert result.camera is not None and result.camera.is_static


def test_demo_overlay_video_and_exports(demo_run):
    out, summary = demo_run
    with av.open(str(out / "demo_overlay.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 60
    assert frames[0].shape[1] == 2 * 1768  # frame + side view
    names = sorted(Path(p).name for p in summary["exports"])
    assert names == ["demo.fbx", "demo.glb", "demo_person_1.bvh", "demo_person_2.bvh"]
    bvh = (out / "demo_person_1.bvh").read_text()
    assert bvh.count("JOINT") == 23 and "Frames:" in bvh
    import pygltflib

    glb = pygltflib.GLTF2().load(str(out / "demo.glb"))
    assert len(glb.skins) == 2 and len(glb.animations) >= 1
    assert not list(out.glob("*.partial*")) and not list(out.glob(".*tmp*"))


_FBX_READBACK = """
import json, sys, bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.context.scene.render.fps = 30
bpy.ops.import_scene.fbx(filepath=sys.argv[1], anim_offset=0.0)
arms = {}
for o in bpy.context.scene.objects:
    if o.type == "ARMATURE":
        fcs = list(o.animation_data.action.fcurves)
        arms[o.name] = {"bones": len(o.data.bones),
                        "keys": sorted({len(fc.keyframe_points) for fc in fcs})}
print("@@FBX " + json.dumps(arms))
"""


def test_demo_fbx_loads_back_in_blender(demo_run, tmp_path):
    """The demo's FBX, imported with bpy: one armature of 24 joints per tracked person, named by
    track id, one key per frame of the scene's range on every channel."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("bpy") is None:
        pytest.skip("bpy not installed")
    out, summary = demo_run
    script = tmp_path / "fbx_readback.py"
    script.write_text(_FBX_READBACK)
    proc = subprocess.run([sys.executable, str(script), str(out / "demo.fbx")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@FBX ")][-1]
    arms = json.loads(line[len("@@FBX "):])
    ids = sorted(t["id"] for t in summary["tracks"])
    assert sorted(arms) == [f"person_{i}" for i in ids] and len(ids) == 2
    span = (max(t["last_frame"] for t in summary["tracks"])
            - min(t["first_frame"] for t in summary["tracks"]) + 1)  # the scene's frame range
    for info in arms.values():
        assert info["bones"] == 24 and info["keys"] == [span]


def test_mesh_rates_model_and_every_frame(weights, demo_run, tmp_path):
    """Default (model rate): the networks see every 3rd frame of the 30 fps clip and the frames
    between lie on the geodesic between their keys; --mesh-rate every runs DSD on all frames."""
    from meshvid.geometry.rotations import axis_angle_to_matrix, geodesic_angle

    model_rate = load_npz(demo_run[0] / "demo.npz")
    p = model_rate.persons[0]
    rot = axis_angle_to_matrix(torch.from_numpy(p.pose).double())
    f = p.frame_ids
    keys = [i for i in range(len(f)) if f[i] % 3 == 0]
    checked = 0
    for a, b in zip(keys, keys[1:]):
        if f[b] - f[a] != 3 or b - a != 3:
            continue
        for i in (a + 1, a + 2):
            through = geodesic_angle(rot[a], rot[i]) + geodesic_angle(rot[i], rot[b])
            torch.testing.assert_close(through, geodesic_angle(rot[a], rot[b]), atol=1e-4, rtol=0)
        checked += 1
    assert checked >= 5
    res = meshvid("infer", "--demo", "--weights", weights, "-o", tmp_path, "--max-frames", "30",
                  "--mesh-rate", "every", "--render", "none", "--json", "--quiet",
                  "--shape-weight", "1", "--keypoint-crop", "256", "--keypoint-flip")
    assert res.returncode == 0, res.stderr
    every = load_npz(tmp_path / "demo.npz").persons[0]
    assert np.isfinite(every.pose).all() and len(every) >= 20
    # --shape-weight 1 keeps the network's shape: its per-frame estimates' mean
    np.testing.assert_allclose(every.betas, every.betas_per_frame.mean(0), atol=1e-5)
    assert np.abs(every.betas).max() > 0
    bad = meshvid("infer", "--demo", "--weights", weights, "-o", tmp_path / "x", "--mesh-rate",
                  "often")
    assert_one_line_failure(bad, tmp_path / "x", "mesh rate")
    bad = meshvid("infer", "--demo", "--weights", weights, "-o", tmp_path / "y", "--keypoint-flip")
    assert_one_line_failure(bad, tmp_path / "y", "add --keypoint-crop")


def test_single_image_gives_every_person_and_a_png(weights, tmp_path):
    res = meshvid("infer", assets.bus_jpg(), "--weights", weights, "-o", tmp_path, "--json",
                  "--quiet")
    assert res.returncode == 0, res.stderr
    result = load_npz(tmp_path / "bus.npz")
    assert len(result.persons) == 4 and all(len(p) == 1 for p in result.persons)
    assert (tmp_path / "bus_overlay.png").stat().st_size > 10_000


def assert_one_line_failure(res, outdir: Path, words: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr
    assert words in res.stderr, res.stderr
    assert not any(p.suffix in (".npz", ".mp4", ".fbx", ".glb", ".bvh", ".png")
                   for p in outdir.glob("*")) if outdir.exists() else True


def test_missing_input(weights, tmp_path):
    res = meshvid("infer", tmp_path / "nope.mp4", "--weights", weights, "-o", tmp_path / "o")
    assert_one_line_failure(res, tmp_path / "o", "does not exist")


def test_missing_weights(tmp_path):
    res = meshvid("infer", assets.bus_jpg(), "--weights", tmp_path / "none", "-o", tmp_path / "o")
    assert_one_line_failure(res, tmp_path / "o", "no trained weights")


def test_missing_smpl_files(weights, tmp_path):
    (tmp_path / "smpl").mkdir()
    res = meshvid("infer", assets.bus_jpg(), "--weights", weights, "--body-model", "smpl",
                  "--smpl-dir", tmp_path / "smpl", "-o", tmp_path / "o")
    assert_one_line_failure(res, tmp_path / "o", "SMPL")


def test_truncated_video_leaves_no_output(weights, tmp_path):
    demo = assets.sports2d_demo().read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo[: len(demo) // 5])
    res = meshvid("infer", cut, "--weights", weights, "-o", tmp_path / "o")
    assert_one_line_failure(res, tmp_path / "o", "corrupt or truncated")
    assert not (tmp_path / "o").exists()  # a refused input leaves no (empty) output folder


def test_no_people_gives_an_empty_result_and_a_warning(weights, tmp_path):
    from meshvid.io import VideoWriter

    clip = tmp_path / "empty.mp4"
    with VideoWriter(clip, fps=10) as w:
        for i in range(12):
            img = np.full((240, 320, 3), 90, np.uint8)
            img[100:140, 40 + 10 * i:80 + 10 * i] = (200, 60, 60)
            w.write(img)
    res = meshvid("infer", clip, "--weights", weights, "-o", tmp_path / "o", "--json",
                  "--export", "bvh")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "no people" in res.stderr
    assert json.loads(res.stdout)["tracks"] == []
    assert load_npz(tmp_path / "o" / "empty.npz").persons == []


def test_shipped_weights_run_by_default(tmp_path):
    """No --weights: the shipped weights/dsd_satn_cpu load and give sane people."""
    res = meshvid("infer", assets.bus_jpg(), "-o", tmp_path, "--json", "--quiet",
                  "--render", "none")
    assert res.returncode == 0, res.stderr
    result = load_npz(tmp_path / "bus.npz")
    assert len(result.persons) == 4
    for p in result.persons:
        assert np.isfinite(p.pose).all() and np.isfinite(p.transl).all()
        assert 1.0 < p.transl[0, 2] < 40.0  # metres in front of the camera
        assert np.abs(p.betas).max() < 5.0
    _check_camera_translation(result)


def _check_camera_translation(result) -> None:
    """The camera translation, checked against something it was not made from: the body
    (pose, betas, transl from the NPZ) posed again here, its COCO-17 keypoints projected with
    the frame's pinhole camera (focal, principal point at the centre), lands on the detector's
    own keypoints (median < 10 % of the person's height; measured 4-7 % on bus.jpg with the
    shipped weights). A wrong focal length (x2) or principal point (+10 % of the width) puts
    them 16-90 % off, so the check can tell."""
    from meshvid.body import load_body_model

    body = load_body_model(result.body_model)
    w, h = result.image_size
    checked = 0
    for p in result.persons:
        with torch.no_grad():
            out = body(torch.from_numpy(p.pose).float(),
                       torch.from_numpy(p.betas).float()[None].expand(len(p), -1),
                       torch.from_numpy(p.transl).float())
        np.testing.assert_allclose(out.joints.numpy(), p.joints3d, atol=1e-4)
        for i in range(len(p)):
            good = p.keypoint_scores[i] > 0.5
            if good.sum() < 5:  # bus.jpg's fourth person is cut by the edge
                continue
            height = p.boxes[i, 3] - p.boxes[i, 1]

            def median_error(focal, cx, cy):
                x = out.coco17[i].numpy()
                uv = np.stack([focal * x[:, 0] / x[:, 2] + cx, focal * x[:, 1] / x[:, 2] + cy], 1)
                return np.median(np.linalg.norm(uv - p.keypoints2d[i], axis=1)[good]) / height

            f = result.focal_length
            assert median_error(f, w / 2, h / 2) < 0.10, (p.track_id, median_error(f, w / 2, h / 2))
            assert median_error(2 * f, w / 2, h / 2) > 0.15
            assert median_error(f, 0.6 * w, h / 2) > 0.12
            checked += 1
    assert checked >= 3
