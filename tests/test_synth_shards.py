"""`meshvid synth` output: deterministic shards, resume, the split in the card, the readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from meshvid.synth import shards as fmt
from meshvid.synth.build import SynthConfig, build

CFG = SynthConfig(kind="crops", split="train", seed=7, crop_size=96, shard_size=3)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "a"
    build(root, CFG, frames=7)
    return root


def test_same_seed_same_bytes_and_resume(made: Path, tmp_path: Path) -> None:
    shards = fmt.list_shards(made)
    assert [p.name for p in shards] == ["shard-000000.npz", "shard-000001.npz", "shard-000002.npz"]
    # Remake shard 1 only (resume after an interruption): identical bytes, others untouched.
    other = tmp_path / "b"
    other.mkdir()
    for p in shards:
        if p.name != "shard-000001.npz":
            (other / p.name).write_bytes(p.read_bytes())
    (other / ".shard-000001.npz.tmp-123").write_bytes(b"half a shard")  # left by a crash
    result = build(other, CFG, frames=7)
    assert result.shards_made == 1 and result.shards_skipped == 2
    assert not list(other.glob(".shard-*"))
    for p in shards:
        assert (other / p.name).read_bytes() == p.read_bytes(), p.name
    assert json.loads((other / "datacard.json").read_text())["counts"] == \
        json.loads((made / "datacard.json").read_text())["counts"]
    # A different seed gives different data.
    third = build(tmp_path / "c", SynthConfig(**{**CFG.__dict__, "seed": 8}), frames=3)
    assert (third.root / "shard-000000.npz").read_bytes() != shards[0].read_bytes()


def test_config_mismatch_is_refused(made: Path) -> None:
    from meshvid.errors import InputError

    with pytest.raises(InputError, match="different config"):
        build(made, SynthConfig(**{**CFG.__dict__, "seed": 9}), frames=7)


def test_card_and_labels(made: Path) -> None:
    card = json.loads((made / "datacard.json").read_text())
    held = set(card["motion"]["held_out"])
    assert held == {"deepmimic/humanoid3d_dance_b", "deepmimic/humanoid3d_cartwheel",
                    "deepmimic/humanoid3d_getup_faceup"}
    assert not held & set(card["motion"]["clips"])
    assert card["counts"]["samples"] == 7 and card["config"]["seed"] == 7
    assert all(s["licence"] for s in card["sources"])
    assert (made / "DATACARD.md").read_text().startswith("# Synthetic data set")
    for p in fmt.list_shards(made):
        z = fmt.read_shard(p)
        n = len(z["clip_id"])
        assert len(z["jpeg_offsets"]) == n + 1 and z["pose"].shape == (n, 24, 3)
        for k in fmt.FRAME_KEYS:
            assert z[k].shape[0] == n and np.isfinite(z[k].astype(np.float64)).all(), k
        for ids in (z["clip_id"], z["clip_id2"]):
            names = {card["motion"]["clips"][i] for i in ids if i >= 0}
            assert not names & held
        img = fmt.decode_jpeg(z["jpeg"][z["jpeg_offsets"][0]:z["jpeg_offsets"][1]])
        assert img.shape == (96, 96, 3) and img.std() > 5


def test_heldout_split_has_only_heldout_clips(tmp_path: Path) -> None:
    cfg = SynthConfig(kind="sequences", split="heldout", seed=1, crop_size=64, shard_size=2, seq_len=3)
    res = build(tmp_path / "h", cfg, frames=6)
    card = res.card
    assert set(card["motion"]["clips"]) == set(card["motion"]["held_out"])
    z = fmt.read_shard(fmt.list_shards(tmp_path / "h")[0])
    assert z["pose"].shape == (2, 3, 24, 3) and len(z["jpeg_offsets"]) == 2 * 3 + 1
    assert set(card["counts"]["by_clip"]) <= set(card["motion"]["held_out"])
    assert (z["mirrored"] == 0).all() and (z["speed"] == 1.0).all()


def test_readers(made: Path) -> None:
    import torch

    from meshvid.synth.dataset import SynthIndexed, SynthStream

    stream = SynthStream(made, seed=0)
    assert len(stream) == 7
    loader = torch.utils.data.DataLoader(stream, batch_size=4, num_workers=0)
    batches = list(loader)
    assert sum(b["image"].shape[0] for b in batches) == 7
    b = batches[0]
    assert b["image"].shape[1:] == (3, 96, 96) and b["image"].dtype == torch.float32
    assert b["rotmat"].shape[1:] == (24, 3, 3) and b["betas"].shape[1:] == (10,)
    # Shuffled, but every sample exactly once per epoch (distinct clip times identify them).
    times = torch.cat([x["clip_time"] for x in batches])
    assert len(set(times.tolist())) == 7
    indexed = SynthIndexed(made)
    assert len(indexed) == 7
    assert torch.equal(indexed[6]["pose"], torch.from_numpy(fmt.read_shard(fmt.list_shards(made)[2])["pose"][0]))


def test_cli_json_and_one_line_errors(tmp_path: Path, meshvid_cli) -> None:
    from conftest import assert_one_line_error

    out = tmp_path / "cli"
    r = meshvid_cli("synth", "--out", out, "--frames", "2", "--seed", "3", "--crop-size", "64",
                    "--quiet", "--json", "--preview")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["frames"] == 2 and summary["shards_made"] == 1
    assert Path(summary["previews"][0]).is_file()
    before = sorted(p.name for p in out.iterdir())
    r = meshvid_cli("synth", "--out", out, "--frames", "2", "--seed", "4", "--quiet")
    assert_one_line_error(r, "different config", "seed")
    r = meshvid_cli("synth", "--out", out, "--kind", "videos", "--quiet")
    assert_one_line_error(r, "unknown --kind 'videos'", "crops, sequences")
    assert sorted(p.name for p in out.iterdir()) == before  # the set is left as it was


def test_detector_pass_is_resumable_and_read(made: Path, tmp_path: Path) -> None:
    """The detector sidecars: one per shard, right shapes, merged by the readers, skipped when
    present."""
    import shutil

    from meshvid.synth.dataset import SynthIndexed
    from meshvid.synth.detect import det_path, detect_dataset

    root = tmp_path / "d"
    shutil.copytree(made, root)
    first = fmt.list_shards(root)[0]
    summary = detect_dataset(root)
    assert summary["shards_made"] == 3 and summary["images_made"] == 7
    det = np.load(det_path(first))
    assert det["keypoints_coco17_det"].shape == (3, 17, 3) and det["det_score"].shape == (3,)
    assert summary["found_fraction"] > 0.3  # YOLO sees most rendered people
    item = SynthIndexed(root)[0]
    assert item["keypoints_coco17_det"].shape == (17, 3)
    before = det_path(first).read_bytes()
    again = detect_dataset(root)
    assert again["shards_made"] == 0 and det_path(first).read_bytes() == before
