"""End to end on a tiny synthetic set written here in `meshvid synth`'s shard format:
`meshvid train` (all stages) -> `meshvid eval` (report, JSON) -> shipped weights round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from meshvid.cli.main import app

SIZE = 64


def _write_synth(folder, split, kind, n, t, seed):
    from meshvid.body import load_body_model
    from meshvid.synth import shards as fmt
    from meshvid.synth.generate import Sample

    rng = np.random.default_rng(seed)
    body = load_body_model("anny24")
    samples = []
    for _ in range(n):
        pose = np.zeros((t, 24, 3), np.float32)
        ph = rng.uniform(0, 6, (24, 3))
        pose[:] = 0.3 * np.sin(0.3 * np.arange(t)[:, None, None] + ph)
        pose[:, 0] = [math.pi, 0, 0]
        betas = rng.normal(size=10).astype(np.float32)
        with torch.no_grad():
            out = body(torch.from_numpy(pose), torch.from_numpy(betas)[None].expand(t, 10))
        frame = {}
        for k, (shape, dtype, _) in fmt.FRAME_KEYS.items():
            frame[k] = np.zeros((t, *shape), dtype)
        frame["pose"] = pose
        for name, j in (("smpl24", out.joints), ("lsp14", out.lsp14), ("coco17", out.coco17)):
            frame[f"joints3d_{name}"] = j.numpy() + [0, 0, 4.0]
            frame[f"joints2d_{name}_norm"] = 0.9 * j[..., :2].numpy()
            frame[f"vis_{name}"] = np.ones((t, j.shape[1]), np.uint8)
        images = rng.integers(0, 255, (t, SIZE, SIZE, 3), dtype=np.uint8)
        samples.append(Sample(images, frame, {"betas": betas, "clip_id": 0, "fps": 10.0 if t > 1 else 0.0}))
    folder.mkdir(parents=True)
    fmt.write_npz_deterministic(fmt.shard_path(folder, 0), fmt.pack_shard(samples, sequence=t > 1))
    (folder / "datacard.json").write_text(json.dumps({
        "config": {"split": split, "kind": kind, "crop_size": SIZE},
        "motion": {"clips": ["deepmimic/humanoid3d_walk" if split == "train" else "deepmimic/humanoid3d_cartwheel"]}}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from meshvid.train.toydata import TINY_MODEL

    root = tmp_path_factory.mktemp("e2e")
    data = root / "synth"
    _write_synth(data / "train_crops", "train", "crops", 24, 1, 0)
    _write_synth(data / "train_seq", "train", "sequences", 3, 12, 1)
    _write_synth(data / "heldout_seq", "heldout", "sequences", 2, 12, 2)
    model = json.loads(json.dumps(TINY_MODEL))
    model["dsd"]["backbone"]["image_size"] = SIZE
    recipe = {"name": "tiny", "seed": 1, "threads": 1, "model": model,
              "data": {"synthetic": str(data), "crop_size": SIZE},
              "dsd": {"epochs": 2, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
                      "cache_features": True},
              "satn": {"epochs": 1, "batch_size": 12, "optimizer": "adam", "lr": 1e-3}}
    (root / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    run = root / "run"
    res = CliRunner().invoke(app, ["train", "--config", str(root / "tiny.yaml"), "--out", str(run),
                                   "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    return root, data, run, json.loads(res.stdout)


def test_train_cli_on_synth_shards(trained):
    _, _, run, summary = trained
    assert summary["frames"] == 24 + 3 * 12 and summary["sequences"] == 3
    assert (run / "model.safetensors").is_file() and (run / "curves.png").is_file()


def test_eval_cli_report_and_json(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("MESHVID_CACHE_DIR", str(tmp_path / "cache"))
    root, data, run, _ = trained
    res = CliRunner().invoke(app, ["eval", "--dataset", "synthetic", "--data", str(data),
                                   "--weights", f"mine={run / 'model.safetensors'}",
                                   "--smooth", "savgol", "--out", str(tmp_path / "rep"),
                                   "--keypoints", "simulated", "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["sequences"] == 2 and out["frames"] == 24
    assert out["keypoints"] == "simulated from the labels"  # the rows say which input they had
    mine = "mine [simulated keypoints]"
    assert set(out["overall"]) == {mine, f"{mine} (single-frame)", f"{mine} (single-frame) + savgol"}
    o = out["overall"]
    assert o[f"{mine} (single-frame) + savgol"]["mpjae"] < o[f"{mine} (single-frame)"]["mpjae"]
    for m in out["overall"].values():
        assert set(m) >= {"mpjpe", "pa_mpjpe", "pve", "mpjve", "mpjae"}
        assert all(np.isfinite(v) and v >= 0 for v in m.values())
        assert m["pa_mpjpe"] <= m["mpjpe"] + 1e-6
    assert "humanoid3d_cartwheel" in out["per_group"][mine]
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "PA-MPJPE" in text and (tmp_path / "rep" / "metrics.png").is_file()


def test_eval_errors_are_one_line(tmp_path, meshvid_cli):
    from conftest import assert_one_line_error

    res = meshvid_cli("eval", "--dataset", "kitti", "--weights", tmp_path)
    assert_one_line_error(res, "kitti", "synthetic")
    res = meshvid_cli("eval", "--weights", tmp_path, "--smooth", "kalman")
    assert_one_line_error(res, "--smooth must be one of", "kalman")
    res = meshvid_cli("eval", "--weights", tmp_path / "missing")
    assert_one_line_error(res, "weights not found", "missing")


def test_smooth_theta_filters_noise_on_so3_and_keeps_smooth_motion():
    """The eval's fixed-filter reference: jitter on a slow rotation is cut, the slow rotation
    itself (a quadratic in angle: Savitzky-Golay order 2 reproduces it) is kept."""
    from meshvid.eval.evaluate import smooth_theta
    from meshvid.geometry.rotations import axis_angle_to_matrix, geodesic_angle, matrix_to_sixd
    from meshvid.model.theta import Theta
    from meshvid.train.tables import FrameTable

    t = 40
    angle = 0.0005 * torch.arange(t, dtype=torch.float32) ** 2
    clean = torch.zeros(t, 24, 3)
    clean[:, :, 2] = angle[:, None]
    gen = torch.Generator().manual_seed(0)
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=gen)
    table = FrameTable.__new__(FrameTable)
    table.seq = torch.zeros(t, dtype=torch.long)
    table.frame = torch.arange(t)
    table.seq_names, table.seq_fps = ["s"], [30.0]

    def theta(aa):
        return Theta(matrix_to_sixd(axis_angle_to_matrix(aa)), torch.zeros(t, 10), torch.zeros(t, 3))

    def err(th):
        return geodesic_angle(th.rotmat, axis_angle_to_matrix(clean)).mean().item()

    def jitter(th):  # mean rotation between consecutive frames
        r = th.rotmat
        return geodesic_angle(r[1:], r[:-1]).mean().item()

    assert err(smooth_theta(theta(clean), table, "savgol")) < 1e-3
    assert err(smooth_theta(theta(noisy), table, "savgol")) < 0.7 * err(theta(noisy))
    base, excess = jitter(theta(clean)), jitter(theta(noisy)) - jitter(theta(clean))
    for method in ("savgol", "oneeuro"):  # One Euro is causal: it lags, but it must de-jitter
        assert jitter(smooth_theta(theta(noisy), table, method)) - base < 0.5 * excess, method


def test_shipped_weights_round_trip(trained, tmp_path):
    from meshvid.model import load_checkpoint
    from meshvid.train.export import export_shipped, load_model

    model = load_checkpoint(trained[2] / "model.safetensors")
    sizes = export_shipped(model, tmp_path / "w")
    assert set(sizes) == {"dsd.safetensors", "satn.safetensors"}
    again = load_model(tmp_path / "w")
    x = torch.randn(2, 1280)
    kp = torch.rand(2, 17, 2) * 2 - 1
    a = model.dsd.forward_features(x, kp).feature
    b = again.dsd.forward_features(x, kp).feature
    torch.testing.assert_close(a, b, atol=2e-2, rtol=2e-2)
    w = torch.randn(1, 9, 64)
    torch.testing.assert_close(model.satn(w).theta.pose_6d, again.satn(w).theta.pose_6d,
                               atol=2e-2, rtol=2e-2)


def test_eval_makes_the_detector_keypoints_it_needs(trained, tmp_path):
    """`meshvid eval` feeds the real detector's keypoints by default: a held-out folder without
    them gets them (the `meshvid synth detect` pass), and a missing held-out set is made."""
    import shutil

    from meshvid.eval.run import ensure_heldout, heldout_command
    from meshvid.synth.detect import det_path
    from meshvid.synth.shards import list_shards

    _, data, _, _ = trained
    root = tmp_path / "synth"
    shutil.copytree(data / "heldout_seq", root / "heldout_seq")
    folders = ensure_heldout(root, detector=True)
    assert folders == [root / "heldout_seq"]
    assert all(det_path(p).is_file() for p in list_shards(root / "heldout_seq"))
    cmd = heldout_command(tmp_path / "x")
    assert "--split heldout" in cmd and "meshvid synth detect" in cmd


def test_tuned_smoother_specs_parse_and_bad_ones_are_one_line_errors():
    from meshvid.errors import InputError
    from meshvid.eval.evaluate import parse_smoother

    assert parse_smoother("savgol") == ("savgol", {})
    assert parse_smoother("savgol:window=5,order=2") == ("savgol", {"window": 5, "order": 2})
    assert parse_smoother("oneeuro:min_cutoff=0.05,beta=3") == ("oneeuro", {"min_cutoff": 0.05, "beta": 3.0})
    for bad, words in (("savgol:window=4", "odd"), ("savgol:width=5", "unknown parameter"),
                       ("oneeuro:beta=x", "must be a number"), ("kalman:q=1", "must be one of")):
        with pytest.raises(InputError, match=words):
            parse_smoother(bad)
