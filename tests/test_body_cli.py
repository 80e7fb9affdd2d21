"""`meshvid body show`: a real PNG of the body, presets, and one-line errors."""

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from meshvid.body.preview import POSE_PRESETS, pose_preset

MESHVID = [sys.executable, "-m", "meshvid.cli.main"]


def test_body_show_writes_front_and_side_png(tmp_path):
    out = tmp_path / "body.png"
    res = subprocess.run([*MESHVID, "body", "show", "-o", str(out), "--pose", "walk", "--side",
                          "--size", "160", "--betas", "1,0.5", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["model"] == "anny24" and summary["betas"][:2] == [1.0, 0.5]
    assert 1.3 < summary["height_m"] < 2.2
    img = np.asarray(Image.open(out))
    assert img.shape[:2] == (160, 320)
    # a body is drawn in each view: non-background pixels in both halves
    for half in (img[:, :160], img[:, 160:]):
        drawn = (half[..., :3] < 240).any(-1)
        assert 0.03 < drawn.mean() < 0.6
        rows = np.flatnonzero(drawn.any(1))
        assert rows[-1] - rows[0] > 100  # the body is upright and fills most of the height


def test_body_show_pose_from_npy_and_bad_inputs(tmp_path):
    np.save(tmp_path / "pose.npy", pose_preset("wave"))
    ok = subprocess.run([*MESHVID, "body", "show", "-o", str(tmp_path / "w.png"), "--pose",
                         str(tmp_path / "pose.npy"), "--size", "96", "--quiet"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "w.png").is_file()
    bad = subprocess.run([*MESHVID, "body", "show", "-o", str(tmp_path / "x.png"), "--pose", "moonwalk"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "rest" in bad.stderr
    assert not (tmp_path / "x.png").exists()


def test_presets_are_valid_axis_angle():
    for name in POSE_PRESETS:
        p = pose_preset(name)
        assert p.shape == (24, 3) and np.isfinite(p).all() and np.linalg.norm(p, axis=1).max() < np.pi
    assert not pose_preset("rest").any()
