"""The shipped weights' accuracy on a held-out synthetic set made here (seeded renders of the
held-out motions, the real detector's keypoints), against the bounds in
weights/dsd_satn_cpu/regression.json (their one owner: train/regression_bounds.py, which runs
the same function). A model that always answers its mean pose must fail those bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshvid.eval import regression as R

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "dsd_satn_cpu"


@pytest.fixture(scope="module")
def bounds():
    return R.load_bounds(WEIGHTS)


@pytest.fixture(scope="module")
def shipped():
    from meshvid.train.export import load_model

    return load_model(WEIGHTS)


@pytest.fixture(scope="module")
def regression_set(tmp_path_factory):
    work = tmp_path_factory.mktemp("regression")
    return R.make_regression_set(work / "set"), work / "cache"


def test_shipped_weights_stay_within_their_bounds(shipped, regression_set, bounds):
    root, cache = regression_set
    got = R.regression_metrics(shipped, root, cache)
    assert got["frames"] == bounds["set"]["frames"] and got["clips"] == bounds["set"]["clips"]
    assert len(got["clips"]) == 3  # every held-out motion is in the set
    for key, limit in bounds["bounds"].items():
        for metric, bound in limit.items():
            assert got[key][metric] <= bound, (
                f"{key} {metric} {got[key][metric]:.1f} mm > bound {bound:.1f} mm "
                f"(measured at shipping: {bounds['measured'][key][metric]:.1f}); "
                f"if the weights were re-shipped on purpose: {bounds['command']}")


def test_a_mean_pose_model_fails_the_bounds(shipped, regression_set, bounds):
    root, cache = regression_set
    got = R.regression_metrics(R.mean_pose_model(shipped), root, cache)
    for key, limit in bounds["bounds"].items():
        assert got[key]["mpjpe"] > limit["mpjpe"] and got[key]["pa_mpjpe"] > limit["pa_mpjpe"], (
            key, got[key], limit)


def test_bounds_file_and_model_card_agree(bounds):
    """One owner: the card's section is regression.json rendered, the bounds its own rule."""
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    assert R.card_section(bounds) in card
    for key, vals in bounds["measured"].items():
        for metric, v in vals.items():
            assert bounds["bounds"][key][metric] == round(v * (1 + R.REL_MARGIN) + R.ABS_MARGIN_MM, 1)
    assert set(bounds["bounds"]) == {"single_frame", "temporal"}
