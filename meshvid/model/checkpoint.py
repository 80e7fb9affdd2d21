"""Checkpoints: one .safetensors file holding the weights, with the ModelConfig (JSON) in its
metadata, so `load_checkpoint` rebuilds the exact network from the file alone.

Loading never unpickles anything (safetensors stores raw tensors); the backbone's ImageNet
weights are not re-read, they are in the checkpoint. `save_checkpoint(..., config_yaml=True)`
also writes the config beside it as YAML for people to read (the embedded copy is authoritative).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from meshvid.errors import InputError

if TYPE_CHECKING:  # annotations only: the model modules import this one
    from meshvid.model.config import ModelConfig
    from meshvid.model.net import MeshNet

FORMAT = "meshvid-model/1"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, model: "MeshNet", metadata: dict[str, Any] | None = None,
                    include_discriminator: bool = True, config_yaml: bool = False) -> Path:
    """Write `model` to `path` (.safetensors) atomically. `metadata`: JSON-able extras (e.g.
    training command, data, metrics) stored beside the config."""
    from safetensors.torch import save

    from meshvid.model.config import ModelConfig, save_config

    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError(f"checkpoint path must end in .safetensors: {path}")
    cfg = ModelConfig.from_dict(model.cfg.to_dict())
    state = model.state_dict()
    if not include_discriminator or model.discriminator is None:
        cfg.discriminator = None
        state = {k: v for k, v in state.items() if not k.startswith("discriminator.")}
    # safetensors refuses aliased storage: store contiguous private copies.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    header = {"format": FORMAT, "config": json.dumps(cfg.to_dict()),
              "metadata": json.dumps(metadata or {}, default=str)}
    atomic_write_bytes(path, save(tensors, metadata=header))
    if config_yaml:
        save_config(cfg, path.with_suffix(".yaml"))
    return path


def read_checkpoint_header(path: str | Path) -> tuple["ModelConfig", dict[str, Any]]:
    """(config, metadata) of a checkpoint, without reading its tensors."""
    from safetensors import safe_open

    from meshvid.model.config import ModelConfig

    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as err:  # noqa: BLE001 - a corrupt file is the user's to fix
        raise InputError(f"{path} is not a readable safetensors checkpoint: {err}") from None
    if header.get("format") != FORMAT or "config" not in header:
        raise InputError(f"{path} is not a meshvid model checkpoint (format "
                         f"{header.get('format')!r}, expected {FORMAT!r})")
    cfg = ModelConfig.from_dict(json.loads(header["config"]))
    return cfg, json.loads(header.get("metadata", "{}"))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    with_discriminator: bool = False) -> "MeshNet":
    """Rebuild the model from its embedded config and load its weights (strictly)."""
    from safetensors.torch import load_file

    from meshvid.model.net import MeshNet

    cfg, _ = read_checkpoint_header(path)
    if not with_discriminator:
        cfg.discriminator = None
    model = MeshNet(cfg, load_backbone_weights=False)
    state = load_file(str(path), device=str(map_location))
    if not with_discriminator:
        state = {k: v for k, v in state.items() if not k.startswith("discriminator.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"checkpoint {path} does not match its own config: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()
