"""The accuracy regression check of shipped weights: one evaluation, one owner of its bounds.

A small held-out synthetic set is made on the spot (seeded, `meshvid synth`'s builder: a few
16-frame sequences of the held-out DeepMimic motions, rendered with anny24), the real detector
runs on its renders (`meshvid synth detect`'s code path, so the skeleton branch sees what
inference feeds it), and the eval's own metrics (meshvid.eval.evaluate) give MPJPE and
PA-MPJPE for the single-frame DSD and for DSD+SATN.

`train/regression_bounds.py` runs `regression_metrics` on the shipped weights and writes the
measured values plus a margin to `weights/<name>/regression.json` (and the model card's
section quoting it); `tests/test_regression.py` runs the very same function and checks the
numbers stay below those bounds, and that a model which always answers the mean pose does not.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

from meshvid.model.net import MeshNet

# The set: 3 sequences x 16 frames of held-out motion at 10 fps, 224 px crops. Seed 11 draws
# all three held-out clips (cartwheel, dance_b, getup_faceup).
SET_SEED = 11
SET_SEQUENCES = 3
SEQ_LEN = 16
METRICS = ("mpjpe", "pa_mpjpe")
# Bound = measured x (1 + REL_MARGIN) + ABS_MARGIN_MM (~10 mm): room for another CPU's detector
# numerics (OpenVINO runs bfloat16 where the CPU has it) and library versions -- measured: the
# detector on PyTorch instead of OpenVINO moves keypoints by 0.46 px on average and these
# metrics by <= 0.3 mm -- and less than the gap to a model that ignores its input (the mean
# pose, regression.json's "mean_pose": +17 mm PA-MPJPE, +140 mm MPJPE for the current weights).
REL_MARGIN = 0.05
ABS_MARGIN_MM = 3.0
FILE_NAME = "regression.json"
CARD_BEGIN = "<!-- regression.json: begin (written by train/regression_bounds.py) -->"
CARD_END = "<!-- regression.json: end -->"


def set_config():
    """The SynthConfig of the regression set (held-out split, sequences)."""
    from meshvid.synth.build import SynthConfig

    return SynthConfig(kind="sequences", split="heldout", seed=SET_SEED, crop_size=224,
                       shard_size=SET_SEQUENCES, seq_len=SEQ_LEN, fps=10.0)


def make_regression_set(root: str | Path, detector_weights: str | None = None) -> Path:
    """Render the regression set into `root` and run the detector over it (both resumable:
    an existing complete set is reused).

    Args:
        root: output folder (a `meshvid synth` data set with .det.npz sidecars).
        detector_weights: detector checkpoint; None = the shipped YOLO11n-pose.
    Returns:
        root, as a Path.
    """
    from meshvid.synth.build import build
    from meshvid.synth.detect import detect_dataset

    root = Path(root)
    build(root, set_config(), frames=SET_SEQUENCES * SEQ_LEN, workers=1,
          command="meshvid.eval.regression.make_regression_set")
    detect_dataset(root, detector_weights)
    return root


@torch.no_grad()
def regression_metrics(model: MeshNet, root: str | Path, cache_dir: str | Path) -> dict[str, Any]:
    """MPJPE and PA-MPJPE (mm, LSP-14 joints) of `model` on the regression set in `root`.

    Args:
        model: a MeshNet (e.g. meshvid.train.export.load_model("weights/dsd_satn_cpu")).
        root: the set made by `make_regression_set`.
        cache_dir: where the backbone features of the set are cached.
    Returns:
        {"single_frame": {"mpjpe": mm, "pa_mpjpe": mm}, "temporal": {...} (models with SATN),
         "frames": int, "sequences": int, "clips": [held-out clip names]}
    """
    from meshvid.body import load_body_model
    from meshvid.eval.data import synthetic_test_table
    from meshvid.eval.evaluate import evaluate, methods_for
    from meshvid.train.recipe import KeypointNoise

    kp_set = (model.cfg.dsd.skeleton.joints if model.cfg.dsd.skeleton.source == "external"
              else "coco17")
    table = synthetic_test_table(root, model.dsd, kp_set, Path(cache_dir))
    if table.detections is None:
        raise ValueError(f"{root} has no detector keypoints: make it with make_regression_set")
    methods = methods_for("m", model)
    res = evaluate(methods, table, KeypointNoise(), load_body_model("anny24"))
    out: dict[str, Any] = {}
    for m in methods:
        key = "temporal" if m.temporal else "single_frame"
        out[key] = {k: round(float(res.overall[m.name][k]), 2) for k in METRICS}
    out.update(frames=res.frames, sequences=res.sequences,
               clips=sorted(set(table.seq_groups)))
    return out


def mean_pose_model(model: MeshNet) -> MeshNet:
    """A copy of `model` that ignores its input: the Θ heads' last layers zeroed, so every
    frame gets the heads' mean Θ (pose, shape and camera). The floor any trained model must
    beat."""
    blank = copy.deepcopy(model)
    heads = [blank.dsd.head] + ([blank.satn.head] if blank.satn is not None else [])
    for head in heads:
        torch.nn.init.zeros_(head.fc.weight)
        torch.nn.init.zeros_(head.fc.bias)
    return blank.eval()


def bounds_from(measured: dict[str, Any], mean_pose: dict[str, Any]) -> dict[str, Any]:
    """The regression.json document: measured values, bounds and the mean-pose floor."""
    bounds = {key: {k: round(v * (1 + REL_MARGIN) + ABS_MARGIN_MM, 1) for k, v in vals.items()}
              for key, vals in measured.items() if key in ("single_frame", "temporal")}
    return {
        "what": "accuracy bounds of these weights on meshvid.eval.regression's held-out set "
                "(tests/test_regression.py checks them)",
        "command": "python train/regression_bounds.py --weights <this folder>",
        "set": {"seed": SET_SEED, "sequences": measured["sequences"], "frames": measured["frames"],
                "seq_len": SEQ_LEN, "clips": measured["clips"],
                "keypoints": "YOLO11n-pose on the renders (meshvid synth detect)"},
        "margin": {"relative": REL_MARGIN, "absolute_mm": ABS_MARGIN_MM},
        "measured": {k: measured[k] for k in bounds},
        "bounds": bounds,
        "mean_pose": {k: mean_pose[k] for k in bounds},
    }


def load_bounds(weights_dir: str | Path) -> dict[str, Any]:
    """weights_dir/regression.json as a dict."""
    return json.loads((Path(weights_dir) / FILE_NAME).read_text())


def card_section(doc: dict[str, Any]) -> str:
    """The model card's section quoting regression.json (markdown, between the markers)."""
    names = {"single_frame": "DSD (single frame)", "temporal": "DSD+SATN"}
    rows = []
    for key in doc["bounds"]:
        m, b, f = doc["measured"][key], doc["bounds"][key], doc["mean_pose"][key]
        rows.append(f"| {names[key]} | {m['mpjpe']:.1f} | {b['mpjpe']:.1f} | {f['mpjpe']:.1f} | "
                    f"{m['pa_mpjpe']:.1f} | {b['pa_mpjpe']:.1f} | {f['pa_mpjpe']:.1f} |")
    import textwrap

    s = doc["set"]
    intro = (
        f"A small held-out set made by the test itself ({s['sequences']} sequences, "
        f"{s['frames']} frames of {', '.join(c.split('/')[-1] for c in s['clips'])}; seed "
        f"{s['seed']}), keypoints from the real detector on the renders. `tests/test_regression.py` "
        "fails when MPJPE or PA-MPJPE exceeds the bound (measured "
        f"x {1 + doc['margin']['relative']:.2f} + {doc['margin']['absolute_mm']:.0f} mm). "
        "A model that always answers its mean pose is listed for scale: it must fail.")
    return "\n".join([
        CARD_BEGIN,
        "## Accuracy regression bounds (regression.json)",
        "",
        *textwrap.wrap(intro, 96, break_on_hyphens=False),
        "",
        "| method | MPJPE (mm) | bound | mean pose | PA-MPJPE (mm) | bound | mean pose |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Regenerate after re-shipping: `{doc['command']}`.",
        CARD_END,
    ])


def write_card_section(card: Path, doc: dict[str, Any]) -> None:
    """Insert or replace the section in a model card (before "## Limits" when new)."""
    from meshvid.export.atomic import write_text_atomic

    text = card.read_text()
    section = card_section(doc)
    if CARD_BEGIN in text and CARD_END in text:
        head, rest = text.split(CARD_BEGIN, 1)
        text = head + section + rest.split(CARD_END, 1)[1]
    elif "\n## Limits" in text:
        head, tail = text.split("\n## Limits", 1)
        text = head + "\n" + section + "\n\n## Limits" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    write_text_atomic(card, text)
