"""Training recipes: a YAML file -> typed dataclasses (unknown keys are errors, like the model
config, so a typo never silently falls back to a default).

    name: cpu                       # run name (output under runs/<name>/ unless --out)
    seed: 0
    model: {...}                    # meshvid.model.config.ModelConfig
    data:
      synthetic: data/synth         # meshvid synth output (train split), or null
      real: [{kind: lsp, path: ..., image_root: ...}, ...]   # 3dpw | h36m | mpii | lsp
      crop_size: 224
      keypoint_noise: {...}         # simulated detector keypoints for the external skeleton
    dsd:   {epochs, batch_size, optimizer, lr, momentum, weight_decay, cache_features, ...}
    satn:  {epochs, batch_size, ...}   # or null to train DSD only

Stage 1 trains DSD (+ discriminator), stage 2 pre-computes DSD features of the training
sequences, stage 3 trains SATN on them (section 4.2: "we pre-compute the single-frame features
and train SATN with them directly").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from meshvid.errors import InputError
from meshvid.model.config import ModelConfig, _convert, _from_dict


@dataclass
class RealDataSpec:
    kind: Literal["3dpw", "h36m", "mpii", "lsp"]
    path: str  # 3DPW root / annotation file / LSP root
    image_root: str | None = None
    split: str = "train"  # 3DPW split
    subjects: list[str] | None = None  # Human3.6M subjects (default: the training five)
    weight: float = 1.0  # sampling weight relative to one synthetic sample


@dataclass
class KeypointNoise:
    """Simulated detector keypoints for the external skeleton (training and synthetic eval):
    Gaussian jitter (crop-normalised units, 0.02 ~ 2 px on a 224 crop), dropped joints, and
    confidences drawn like a detector's (high for kept joints, below threshold for dropped)."""

    # "measured": draw from the model of YOLO11n-pose's errors measured on rendered training
    # crops (meshvid.perception.noise_model; `path`, default the shipped
    # weights/keypoint_noise/yolo11n_pose.npz); "gaussian": the jitter below (round 2).
    kind: Literal["gaussian", "measured"] = "gaussian"
    path: str | None = None
    # "measured": the drawn offsets times this (the bank was measured on untextured renders,
    # which the detector reads worse than people; issue 24 measures the ratio on real footage)
    scale: float = 1.0
    sigma: float = 0.02
    outlier_prob: float = 0.02  # a joint lands somewhere wrong (sigma x 10)
    drop_prob: float = 0.08
    # share of the dropped (low-confidence) joints put where another of the person's keypoints
    # is, as a detector does with a joint it cannot see (issue 24: a wrist raised to the frame's
    # top edge reported on the hip at confidence 0.1-0.3); 0 leaves every dropped joint at its true
    # place, so a network learns to trust low-confidence keypoints
    misplace_prob: float = 0.0
    conf_low: float = 0.5
    conf_high: float = 1.0


@dataclass
class DataSpec:
    synthetic: str | None = "data/synth"
    real: list[RealDataSpec] = field(default_factory=list)
    crop_size: int = 224
    keypoint_noise: KeypointNoise = field(default_factory=KeypointNoise)
    # Skeleton-only rows (labels without renders; meshvid.train.skeleton_samples) added to the
    # DSD's training table, and the seed they are drawn with.
    skeleton_samples: int = 0
    skeleton_seed: int = 7
    # Motion-capture files / folders (meshvid.motion readers) whose training-split clips join
    # the skeleton-only rows' motion library (the held-out rule of synth/sources.py applies).
    motions: list[str] = field(default_factory=list)
    # {corpus: share} of the skeleton rows' motion draws (corpora: deepmimic, anny-walkcycle,
    # cmu, cmu8, bandai; MotionLibrary.build). None: uniform over clips, so a corpus weighs as
    # many files as it has. Chosen by measurement (docs/training.md, "Corpus mix").
    corpus_mix: dict[str, float] | None = None
    skeleton_workers: int = 1  # processes making the skeleton rows (with a corpus mix)
    max_frames: int | None = None  # cap on single training crops (time budget)
    max_sequences: int | None = None  # cap on training sequences
    loader_workers: int = 0


@dataclass
class OptimSpec:
    epochs: int = 40
    batch_size: int = 16
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay_epochs: list[int] = field(default_factory=list)  # x0.1 at each
    disc_lr: float = 1e-4
    grad_clip: float = 0.0  # 0 = off
    checkpoint_every: int = 200  # steps; plus one at every epoch end
    # A batch whose loss or gradient is NaN/inf is skipped (no update; counted in log.csv's
    # `skipped_batches`); this many in a row stop the run with a one-line error.
    max_bad_batches: int = 20


@dataclass
class DSDStage(OptimSpec):
    # Frozen backbone: pre-compute its pooled features once per crop and train the heads on
    # them (needs the external skeleton or the direct variant; the learned skeleton reads the
    # feature map, which is too big to cache, so it trains end to end).
    cache_features: bool = False
    # With real detector keypoints in the data (`meshvid synth detect`), the fraction of
    # samples per batch whose keypoints are drawn from data.keypoint_noise instead: more
    # detector-like variation than the one detection each render has.
    simulated_keypoints: float = 0.0
    # Whether the discriminator (L_r) is used.
    adversarial: bool = True
    # Initialise the head's mean Θ from training-label statistics (HMR's mean parameters).
    init_mean_from_data: bool = True


@dataclass
class SATNStage(OptimSpec):
    adversarial: bool = False
    window_stride: int = 1  # centre frames used per epoch: every `window_stride`-th
    feature_noise: float = 0.0  # Gaussian noise on cached DSD features (augmentation)
    # Stage 2 computes the features this many times, each with its own simulated detector
    # noise, and every training frame picks one at random: with a single draw SATN memorises
    # one noise realisation of its few thousand frames (docs/training.md).
    feature_draws: int = 1
    # Every window takes all its frames from one draw (instead of one draw per frame): for
    # draws whose detector noise is correlated in time (meshvid.train.skeleton_sequences).
    window_draws: bool = False
    # Hold out this fraction of the training sequences (whole motion clips) to pick the best
    # epoch by PA-MPJPE, the start included: SATN then never ends worse than its residual base
    # on clips it did not train on (0 = no validation, train to the last epoch).
    validation_fraction: float = 0.0
    # Keep SATN's Θ head fixed (with a residual SATN: the trained DSD head it starts from), so
    # stage 3 learns only what the window adds to the feature, not a new feature-to-Θ mapping
    # from the few thousand sequence frames.
    freeze_head: bool = False


@dataclass
class Recipe:
    name: str = "run"
    seed: int = 0
    threads: int = 0  # torch threads per process (0 = leave torch's default)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataSpec = field(default_factory=DataSpec)
    dsd: DSDStage = field(default_factory=DSDStage)
    satn: SATNStage | None = field(default_factory=SATNStage)
    # An existing DSD checkpoint: skip stage 1 and use it (ablations of the temporal part).
    dsd_checkpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recipe_from_dict(data: dict[str, Any], where: str = "recipe") -> Recipe:
    data = dict(data)
    model = data.pop("model", {}) or {}
    recipe = _from_dict(Recipe, {k: v for k, v in data.items()}, where) if data else Recipe()
    recipe.model = ModelConfig.from_dict(model)
    if not isinstance(recipe.data.real, list):
        raise InputError(f"{where}: data.real must be a list")
    recipe.data.real = [r if isinstance(r, RealDataSpec) else
                        _from_dict(RealDataSpec, r, f"{where}.data.real[{i}]")
                        for i, r in enumerate(recipe.data.real)]
    if recipe.model.satn is None:
        recipe.satn = None
    _check(recipe)
    return recipe


def _check(r: Recipe) -> None:
    d = r.model.dsd
    if r.dsd.cache_features and d.variant != "direct" and d.skeleton.source == "learned":
        raise InputError("dsd.cache_features needs skeleton.source: external (or the direct "
                         "variant): the learned skeleton reads the backbone feature map")
    if r.dsd.cache_features and d.backbone.frozen_stages < 8 and d.backbone.name == "efficientnet_lite0":
        raise InputError("dsd.cache_features needs a fully frozen backbone "
                         "(model.dsd.backbone.frozen_stages: 8 for efficientnet_lite0)")
    if r.satn is not None and r.model.satn is None:
        raise InputError("the recipe has a satn stage but model.satn is null")
    for name, stage in (("dsd", r.dsd), ("satn", r.satn)):
        if stage is not None and stage.max_bad_batches < 1:
            raise InputError(f"{name}.max_bad_batches must be >= 1 (got {stage.max_bad_batches})")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe; `overrides` are dotted `key=value` strings (value parsed as YAML)."""
    path = Path(path)
    data = _read_yaml(path)
    base = data.pop("extends", None)
    if base:
        parent = load_recipe_dict(path.parent / base)
        data = _merge(parent, data)
    return recipe_from_dict(apply_overrides(data, overrides), str(path))


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply dotted `key.sub=value` strings (value parsed as YAML) to a recipe mapping."""
    import yaml

    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"override {item!r} must look like key.sub=value")
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(f"override {item!r}: {p} is not a mapping")
        node[parts[-1]] = yaml.safe_load(value)
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    """A recipe file as a mapping; unreadable, invalid or non-mapping files are InputErrors."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise InputError(f"cannot read recipe {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise InputError(f"recipe {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"recipe {path} must be a mapping")
    return data


def load_recipe_dict(path: Path) -> dict[str, Any]:
    data = _read_yaml(path)
    base = data.pop("extends", None)
    return _merge(load_recipe_dict(path.parent / base), data) if base else data


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


__all__ = ["DSDStage", "DataSpec", "KeypointNoise", "Recipe", "SATNStage", "load_recipe",
           "recipe_from_dict", "_convert"]
