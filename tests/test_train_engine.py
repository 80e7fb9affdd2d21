"""The training engine on a toy table: every stage runs, resume after an interruption gives the
same weights as an uninterrupted run, recipes validate, logs and curves are written."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import load_file

from meshvid.errors import InputError
from meshvid.train.recipe import load_recipe, recipe_from_dict
from meshvid.train.run import run_training
from meshvid.train.toydata import TINY_MODEL, toy_table  # noqa: F401


def _recipe(**over):
    d = {"name": "toy", "seed": 3, "threads": 1, "model": copy.deepcopy(TINY_MODEL),
         "data": {"synthetic": None},
         "dsd": {"epochs": 2, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
                 "cache_features": True, "checkpoint_every": 3},
         "satn": {"epochs": 1, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
                  "checkpoint_every": 2, "adversarial": True}}
    d.update(over)
    return recipe_from_dict(d)


@pytest.fixture(scope="module")
def table():
    return toy_table()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, table):
    out = tmp_path_factory.mktemp("full")
    summary = run_training(_recipe(), out, table=table)
    return out, summary


def test_all_stages_and_outputs(full_run):
    out, summary = full_run
    for name in ("model.safetensors", "dsd.safetensors", "log.csv", "curves.png",
                 "satn_features.safetensors", "summary.json", "recipe.yaml"):
        assert (out / name).is_file(), name
    assert summary["dsd"]["steps"] == 2 * (128 // 16)
    assert summary["satn"]["steps"] == 4 * 24 // 16
    header = (out / "log.csv").read_text().splitlines()[0]
    for term in ("pm", "3d", "2d", "r", "disc", "s", "total"):
        assert f",{term}," in f",{header}," or header.endswith(f",{term}"), term
    from meshvid.model import load_checkpoint

    model = load_checkpoint(out / "model.safetensors")
    assert model.satn is not None and model.discriminator is None


def test_training_reduces_the_loss(full_run):
    import csv

    rows = [r for r in csv.DictReader(open(full_run[0] / "log.csv")) if r["stage"] == "dsd"]
    assert float(rows[-1]["3d"]) < float(rows[0]["3d"])


def test_branch_health_is_logged_every_epoch(full_run):
    """A collapsed branch must show in the log: one dsd-health row per DSD epoch."""
    import csv

    from meshvid.train.logger import HEALTH_STAGE

    rows = [r for r in csv.DictReader(open(full_run[0] / "log.csv")) if r["stage"] == HEALTH_STAGE]
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for r in rows:
        assert 0.0 <= float(r["detail_alive"]) <= 1.0 and 0.0 < float(r["skeleton_active"]) <= 1.0
        assert float(r["detail_dependence"]) >= 0.0 and float(r["skeleton_dependence"]) > 0.0


def test_resume_after_interruption_is_exact(tmp_path, table, full_run):
    class Stop(Exception):
        pass

    def interrupt(stage, step, total, losses):
        if (stage, step) in {("dsd", 5), ("satn", 15)}:
            raise Stop

    out = tmp_path / "resumed"
    with pytest.raises(Stop):  # dies in stage 1 after step 5 (checkpoint at 3)
        run_training(_recipe(), out, table=table, progress=interrupt)
    with pytest.raises(Stop):  # resumes, finishes stage 1, dies in stage 3 (checkpoint at 14)
        run_training(_recipe(), out, table=table, progress=interrupt)
    run_training(_recipe(), out, table=table)
    a = load_file(str(full_run[0] / "model.safetensors"))
    b = load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_feature_draws_are_distinct_noise_realisations(tmp_path, table, full_run):
    """feature_draws: stage 2 stores (draws, N, F); draw 0 is the single-draw features, the
    others differ (own keypoint noise); a one-draw file from an older run is recomputed."""
    single = load_file(str(full_run[0] / "satn_features.safetensors"))["features"]
    assert single.shape[0] == 1
    out = tmp_path / "draws"
    recipe = _recipe(satn={"epochs": 1, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
                           "feature_draws": 3})
    summary = run_training(recipe, out, table=table)
    # clone: load_file maps the file, which is rewritten below
    feats = load_file(str(out / "satn_features.safetensors"))["features"].clone()
    assert feats.shape == (3, *single.shape[1:]) and summary["features"]["draws"] == 3
    assert torch.allclose(feats[0], single[0], atol=1e-5)
    assert not torch.allclose(feats[1], feats[2])
    # an older run's (N, F) file: read as one draw, recomputed because 3 are asked for
    from safetensors.torch import save_file

    (out / "model.safetensors").unlink()
    save_file({"features": single[0].contiguous()}, str(out / "satn_features.safetensors"))
    run_training(recipe, out, table=table)
    again = load_file(str(out / "satn_features.safetensors"))["features"]
    assert torch.allclose(again, feats, atol=1e-5)


def test_satn_validation_keeps_the_best_epoch(tmp_path, table):
    """validation_fraction: held-out sequences are scored at the start and after every epoch
    (logged), the best weights are what the run ends with, and resuming keeps the record."""
    import csv

    from meshvid.model import load_checkpoint

    satn = {"epochs": 3, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
            "validation_fraction": 0.25, "checkpoint_every": 0}
    out = tmp_path / "val"
    summary = run_training(_recipe(satn=satn), out, table=table)
    val = summary["satn"]["validation"]
    assert val["sequences"] == 1 and val["frames"] == 24 and 0 <= val["epoch"] <= 3
    rows = [r for r in csv.DictReader(open(out / "log.csv")) if r.get("val_pa_mpjpe")]
    scores = {int(r["epoch"]): float(r["val_pa_mpjpe"]) for r in rows}
    assert sorted(scores) == [0, 1, 2, 3]
    assert val["pa_mpjpe"] == pytest.approx(min(scores.values()), rel=1e-3)
    assert min(scores, key=scores.get) == val["epoch"]
    best = load_file(str(out / "stage3_satn" / "best-satn.safetensors"))
    final = load_checkpoint(out / "model.safetensors").satn.state_dict()
    for k, v in best.items():
        assert torch.equal(final[k], v), k
    # 3 of 4 sequences train: every epoch has 3 * 24 // 16 steps
    assert summary["satn"]["steps"] == 3 * (3 * 24 // 16)


def test_validation_split_holds_out_whole_clips():
    from meshvid.train.engine import validation_split

    table = toy_table(sequences=8)
    table.seq_groups = ["walk", "walk", "run", "run", "run", "jump", "jump", "spin"]
    train, val = validation_split(table, 0.2, seed=0)
    assert sorted(train + val) == list(range(8)) and val
    held = {table.seq_groups[i] for i in val}
    assert not held & {table.seq_groups[i] for i in train}  # no clip on both sides
    assert validation_split(table, 0.0, seed=0) == (list(range(8)), [])
    assert validation_split(table, 0.99, seed=0)[0]  # never everything


def test_recipes_in_repo_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "train"
    names = sorted(p.name for p in root.glob("*.yaml"))
    assert {"paper.yaml", "cpu.yaml"} <= set(names)
    from meshvid.train.recipe import load_recipe_dict, recipe_from_dict

    for p in root.glob("*.yaml"):
        data = load_recipe_dict(p)
        if "seqdata" in data:  # train/train_satn_seq.py's recipes: the rest is a normal recipe
            data.pop("seqdata")
            r = recipe_from_dict(data, str(p))
        else:
            r = load_recipe(p)
        # the paper's loss weights everywhere, except the one recipe that measures a change
        expected_w3d = 240 if p.name == "corpus_dm_joints.yaml" else 60
        assert r.model.losses.w_pm == 20 and r.model.losses.w_3d == expected_w3d, p.name
    paper = load_recipe(root / "paper.yaml")
    assert (paper.dsd.optimizer, paper.dsd.lr, paper.dsd.momentum, paper.dsd.batch_size,
            paper.dsd.epochs) == ("sgd", 1e-4, 0.9, 16, 40)
    assert paper.model.dsd.backbone.name == "resnet50"


def test_recipe_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="unknown key"):
        recipe_from_dict({"dsd": {"epochz": 3}})
    with pytest.raises(InputError, match="cache_features needs skeleton.source"):
        recipe_from_dict({"dsd": {"cache_features": True},
                          "model": {"dsd": {"skeleton": {"source": "learned"}}}})
    p = tmp_path / "r.yaml"
    p.write_text("extends: missing.yaml\n")
    with pytest.raises(InputError, match=r"cannot read recipe .*missing\.yaml"):
        load_recipe(p)
    (tmp_path / "bad.yaml").write_text("dsd: [unclosed\n")
    p.write_text("extends: bad.yaml\n")
    with pytest.raises(InputError, match=r"bad\.yaml is not valid YAML"):
        load_recipe(p)


def test_train_cli_recipe_error_is_one_line(tmp_path, meshvid_cli):
    from conftest import assert_one_line_error

    p = tmp_path / "r.yaml"
    p.write_text("extends: missing.yaml\n")
    res = meshvid_cli("train", "--config", p, "--out", tmp_path / "run", "--quiet")
    assert_one_line_error(res, "cannot read recipe", "missing.yaml")
    assert not (tmp_path / "run").exists()


def test_joints_only_body_matches_the_full_body():
    from meshvid.body import load_body_model
    from meshvid.train.fastbody import check_equal, joints_only

    body = load_body_model("anny24")
    sub = joints_only(body)
    assert sub.num_vertices < body.num_vertices / 10
    assert check_equal(body, sub) < 1e-5


def test_torchrun_two_cpu_processes(tmp_path):
    """2 processes (gloo): each trains on its half of every epoch, gradients averaged; the
    ranks end with identical weights (checked inside the run) and rank 0 writes the model."""
    import json
    import os
    import subprocess
    import sys

    import yaml

    recipe = {"name": "ddp", "seed": 0, "threads": 1, "model": TINY_MODEL,
              "data": {"synthetic": None},
              "dsd": {"epochs": 1, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
                      "cache_features": True},
              "satn": {"epochs": 1, "batch_size": 16, "optimizer": "adam", "lr": 1e-3}}
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-port", "29531", "-m", "meshvid.cli.main", "train", "--config",
         str(tmp_path / "ddp.yaml"), "--out", str(tmp_path / "run"), "--toy", "--quiet"],
        capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["dsd"]["steps"] == (128 // 2) // 16  # each rank: half the epoch
    a, b = summary["rank_checksums"]
    assert a == b
    assert (tmp_path / "run" / "model.safetensors").is_file()


def _poisoned(table, rows):
    """A copy of the toy table whose cached features are NaN on `rows`: every batch that
    draws one of them has a NaN loss."""
    bad = copy.copy(table)
    bad.features = table.features.clone()
    bad.features[rows] = float("nan")
    return bad


def test_nan_batches_are_skipped_and_counted(tmp_path, table):
    import csv

    from meshvid.train.engine import _epoch_order

    rows = torch.tensor([5, 70, 101])
    recipe = _recipe()
    summary = run_training(recipe, tmp_path / "run", table=_poisoned(table, rows),
                           stop_after="dsd")
    # expected: the batches of each epoch's permutation (seed 3, stage 1) holding a bad row
    n, bs = len(table), recipe.dsd.batch_size
    expected = sum(bool(torch.isin(_epoch_order(n, recipe.seed, 1, e)[b * bs:(b + 1) * bs],
                                   rows).any())
                   for e in range(recipe.dsd.epochs) for b in range(n // bs))
    assert 1 <= expected < recipe.dsd.epochs * (n // bs)
    assert summary["dsd"]["skipped_batches"] == expected
    log = [r for r in csv.DictReader(open(tmp_path / "run" / "log.csv")) if r["stage"] == "dsd"]
    assert int(log[-1]["skipped_batches"]) == expected
    # no NaN reached the weights: the good batches trained on, the model is finite
    weights = load_file(str(tmp_path / "run" / "dsd.safetensors"))
    assert all(torch.isfinite(v.float()).all() for v in weights.values())


def test_nan_batches_in_a_row_stop_with_one_line(tmp_path, table):
    from meshvid.errors import MeshvidError
    from meshvid.train.engine import TrainingDivergedError

    recipe = _recipe(dsd={"epochs": 2, "batch_size": 16, "optimizer": "adam", "lr": 1e-3,
                          "cache_features": True, "max_bad_batches": 3})
    with pytest.raises(TrainingDivergedError) as err:
        run_training(recipe, tmp_path / "run", table=_poisoned(table, torch.arange(len(table))),
                     stop_after="dsd")
    msg = str(err.value)
    assert isinstance(err.value, MeshvidError) and "\n" not in msg
    assert "3 batches in a row" in msg and "step 3" in msg and "dsd.lr" in msg
    assert not (tmp_path / "run" / "dsd.safetensors").exists()
    with pytest.raises(InputError, match="max_bad_batches must be >= 1"):
        _recipe(satn={"max_bad_batches": 0})
