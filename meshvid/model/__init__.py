"""The DSD-SATN model (Sun et al., ICCV 2019): DSD single-frame network, SATN temporal network,
order recovery, HMR-style discriminator, losses, configs and checkpoints. See docs/model.md."""

from meshvid.model.checkpoint import load_checkpoint, save_checkpoint
from meshvid.model.config import ModelConfig, cpu_config, load_config, paper_config
from meshvid.model.dsd import DSDNet, DSDOutput
from meshvid.model.net import MeshNet, build_model
from meshvid.model.satn import SATN, SATNOutput
from meshvid.model.theta import Theta

__all__ = [
    "DSDNet", "DSDOutput", "MeshNet", "ModelConfig", "SATN", "SATNOutput", "Theta",
    "build_model", "cpu_config", "load_checkpoint", "load_config", "paper_config",
    "save_checkpoint",
]
