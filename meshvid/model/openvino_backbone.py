"""The DSD backbone on OpenVINO's CPU runtime: the same network, about twice the crops/s.

`meshvid infer` spends most of its regression time in the frozen image backbone
(EfficientNet-Lite0). OpenVINO (already used for the detector) runs that CNN much faster on CPU
than PyTorch's eager kernels, and its thread pool does not spin-wait, which matters on a small,
shared machine. Only the backbone moves: the keypoint branch, the fusion and the Θ head are
small and stay in PyTorch.

What is converted is `CropEncoder`: uint8 RGB crops (B, S, S, 3) -> float, /255 -> the
backbone (ImageNet normalisation included) -> its feature map, mean-pooled to (B, C) unless the
heads need the map. The conversion (a PyTorch trace, ~10 s) happens once per set of backbone
weights; the IR is kept in meshvid's cache (`cache_dir()/regressor/`), keyed by a hash of the
weights, the crop size and the OpenVINO version, and compiled at every start (~0.3 s).
Inference runs in float32 (`INFERENCE_PRECISION_HINT f32`, not the bfloat16 OpenVINO picks by
default on CPUs with AVX512-BF16), so its output equals PyTorch's up to float rounding
(tests/test_openvino_backbone.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from meshvid.model.backbones import Backbone

BACKENDS = ("auto", "openvino", "torch")
FORMAT_VERSION = 1  # bump when CropEncoder's graph changes: old cached IRs are not reused


class CropEncoder(nn.Module):
    """uint8 crops -> backbone features, the graph that OpenVINO runs.

    Args:
        backbone: the DSD backbone (inference-optimised or not).
        pooled: mean over the spatial axes (the heads need only (B, C)).
    Shapes: crops (B, S, S, 3) uint8 RGB -> (B, C) if pooled, else (B, C, S/32, S/32) float32.
    """

    def __init__(self, backbone: Backbone, pooled: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooled = pooled

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        images = crops.permute(0, 3, 1, 2).float() / 255.0
        fmap = self.backbone(images)
        return fmap.mean(dim=(2, 3)) if self.pooled else fmap


def openvino_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def weights_key(module: nn.Module, *parts: object) -> str:
    """A short hash of a module's parameters and buffers (names, shapes, values) and `parts`."""
    h = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:16]


def cached_ir(encoder: CropEncoder, image_size: int, cache_root: Path | None = None) -> Path:
    """The OpenVINO IR (.xml + .bin) of `encoder`, converted once and kept in the cache.

    Args:
        encoder: the module to convert (eval mode).
        image_size: S, the crop side; the batch axis stays dynamic.
        cache_root: where IRs live (default: meshvid's cache_dir()/regressor).
    Returns:
        Path of the .xml; written atomically (a half-written IR never looks complete).
    """
    import openvino as ov

    from meshvid.paths import cache_dir

    root = Path(cache_root) if cache_root else cache_dir() / "regressor"
    key = weights_key(encoder, image_size, encoder.pooled, ov.__version__, FORMAT_VERSION)
    final = root / f"dsd-backbone-{key}"
    xml = final / "backbone.xml"
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        return xml
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=root))
    try:
        example = torch.zeros(2, image_size, image_size, 3, dtype=torch.uint8)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer chatter, not the user's concern
            model = ov.convert_model(encoder, example_input=example,
                                     input=[(ov.PartialShape([-1, image_size, image_size, 3]),
                                             ov.Type.u8)])
        # keep float32 weights (save_model would compress them to float16 by default)
        ov.save_model(model, str(work / "backbone.xml"), compress_to_fp16=False)
        try:
            os.replace(work, final)  # atomic: the folder appears complete or not at all
        except OSError:
            if not xml.is_file():  # lost a race with another process?
                raise
        return xml
    finally:
        shutil.rmtree(work, ignore_errors=True)


class OpenVINOBackbone:
    """A compiled CropEncoder: call it with uint8 crops, get float32 features.

    Args:
        backbone: the DSD backbone whose weights are converted.
        image_size: crop side S.
        pooled: return pooled (B, C) features instead of the map.
        cache_root: IR cache folder (default cache_dir()/regressor).
        chunk: crops per OpenVINO call; larger batches are split (a batch that no longer fits
            the CPU's caches runs slower per crop, see docs/infer.md).
    """

    def __init__(self, backbone: Backbone, image_size: int, *, pooled: bool = True,
                 cache_root: Path | None = None, chunk: int = 8) -> None:
        import openvino as ov

        encoder = CropEncoder(backbone, pooled).eval()
        self.xml = cached_ir(encoder, image_size, cache_root)
        core = ov.Core()
        self.compiled = core.compile_model(
            core.read_model(str(self.xml)), "CPU",
            {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
        self.request = self.compiled.create_infer_request()
        self.image_size = int(image_size)
        self.pooled = pooled
        self.chunk = max(1, int(chunk))

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 RGB crops -> (B, C) float32 features (or (B, C, h, w))."""
        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        outs = []
        for i in range(0, len(crops), self.chunk):
            self.request.infer({0: crops[i:i + self.chunk]})
            outs.append(self.request.get_output_tensor(0).data.copy())
        return np.concatenate(outs) if len(outs) != 1 else outs[0]


def make_openvino_backbone(backbone: Backbone, image_size: int, backend: str = "auto", *,
                           pooled: bool = True, cache_root: Path | None = None
                           ) -> tuple[OpenVINOBackbone | None, str | None]:
    """Build the OpenVINO backbone for `backend`, or explain why PyTorch runs instead.

    Args:
        backend: "auto" (OpenVINO when installed and the conversion works, else PyTorch with a
            warning), "openvino" (fail if it cannot) or "torch".
    Returns:
        (the compiled backbone or None, the reason it fell back to PyTorch or None).
    """
    from meshvid.errors import InputError, MissingDependencyError

    if backend not in BACKENDS:
        raise InputError(f"unknown DSD backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return None, None
    if not openvino_available():
        if backend == "openvino":
            raise MissingDependencyError("the openvino DSD backend needs the openvino package: "
                                         "pip install -r requirements.lock")
        return None, "openvino is not installed"
    try:
        return OpenVINOBackbone(backbone, image_size, pooled=pooled, cache_root=cache_root), None
    except Exception as err:  # noqa: BLE001 - fall back rather than fail a run on a conversion
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        if backend == "openvino":
            raise InputError(f"could not run the DSD backbone on OpenVINO ({first})") from None
        reason = f"OpenVINO DSD backbone failed ({first}); using PyTorch"
        warnings.warn(reason, stacklevel=2)
        return None, reason
