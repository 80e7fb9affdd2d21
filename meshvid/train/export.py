"""The shipped weights folder (weights/dsd_satn_cpu/): two safetensors files, each < 50 MB.

* dsd.safetensors  — a normal meshvid checkpoint (meshvid.model.load_checkpoint) of the
  single-frame network alone (config with satn: null), tensors stored as float16;
* satn.safetensors — the SATN's tensors only (keys "satn.*", float16), with the FULL model
  config (DSD + SATN) in its metadata, so the pair rebuilds the whole MeshNet.
float16 halves the files (the DSD's bilinear tensor A alone is 51 x 512 x 512); weights are
cast back to float32 on load, so inference runs in float32.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from meshvid.errors import InputError
from meshvid.model.checkpoint import FORMAT, atomic_write_bytes, load_checkpoint, read_checkpoint_header
from meshvid.model.config import ModelConfig
from meshvid.model.net import MeshNet

SATN_FORMAT = "meshvid-satn/1"


def _half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous().clone()
            for k, v in state.items()}


def export_shipped(model: MeshNet, folder: Path, metadata: dict | None = None) -> dict[str, int]:
    """Write dsd.safetensors (+ satn.safetensors when the model has one); returns file sizes."""
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    full = ModelConfig.from_dict(model.cfg.to_dict())
    full.discriminator = None
    dsd_cfg = ModelConfig.from_dict(full.to_dict())
    dsd_cfg.satn = None
    meta = json.dumps(metadata or {}, default=str)
    dsd_state = {k: v for k, v in model.state_dict().items() if k.startswith("dsd.")}
    atomic_write_bytes(folder / "dsd.safetensors", save(_half(dsd_state), metadata={
        "format": FORMAT, "config": json.dumps(dsd_cfg.to_dict()), "metadata": meta}))
    sizes = {"dsd.safetensors": (folder / "dsd.safetensors").stat().st_size}
    if model.satn is not None:
        satn_state = {k: v for k, v in model.state_dict().items() if k.startswith("satn.")}
        atomic_write_bytes(folder / "satn.safetensors", save(_half(satn_state), metadata={
            "format": SATN_FORMAT, "config": json.dumps(full.to_dict()), "metadata": meta}))
        sizes["satn.safetensors"] = (folder / "satn.safetensors").stat().st_size
    import yaml

    atomic_write_bytes(folder / "config.yaml", yaml.safe_dump(full.to_dict(), sort_keys=False).encode())
    return sizes


def load_model(path: str | Path) -> MeshNet:
    """A model from a checkpoint file (model.safetensors, dsd.safetensors) or a shipped folder
    (dsd.safetensors [+ satn.safetensors]); float32, eval mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_file():
        return load_checkpoint(path).float()
    if not (path / "dsd.safetensors").is_file():
        if (path / "model.safetensors").is_file():
            return load_checkpoint(path / "model.safetensors").float()
        raise InputError(f"{path} holds no meshvid weights (expected dsd.safetensors [+ "
                         "satn.safetensors], or model.safetensors)")
    satn_file = path / "satn.safetensors"
    if not satn_file.is_file():
        return load_checkpoint(path / "dsd.safetensors").float()
    with safe_open(str(satn_file), framework="pt") as f:
        header = f.metadata() or {}
    if header.get("format") != SATN_FORMAT:
        raise InputError(f"{satn_file} is not a meshvid SATN file")
    cfg = ModelConfig.from_dict(json.loads(header["config"]))
    dsd_cfg, _ = read_checkpoint_header(path / "dsd.safetensors")
    if dsd_cfg.dsd != cfg.dsd:
        raise InputError(f"{path}: dsd.safetensors and satn.safetensors come from different models")
    model = MeshNet(cfg, load_backbone_weights=False)
    state = {**load_file(str(path / "dsd.safetensors")), **load_file(str(satn_file))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{path}: weights do not match the config: {missing[:3]} {unexpected[:3]}")
    return model.float().eval()
