"""Inference-time speed-ups that do not change what the network computes (beyond rounding):

* batch-norm folded into the preceding convolution (backbone, deconvolutions, TCN, sorter);
* TensorFlow-style static "same" padding of EfficientNet's stride-1 convolutions replaced by
  the convolution's own symmetric padding (identical output, one op instead of two);
* channels-last memory format for the 2D CNN parts (oneDNN's fast layout on CPU);
* optionally, bfloat16 autocast for the DSD backbone (`dsd_bf16=True`) and for SATN's attention
  and TCN (`satn_bf16=True`); the heads stay float32. A real precision trade (bf16 keeps ~3
  significant digits): docs/model.md has the measured speed and error.

`optimize_for_inference` works in place on an eval-mode model and makes it inference-only:
calling `.train()` on it afterwards raises, because the folded batch-norm cannot be trained.
Measured effects are in docs/model.md (`python scripts/bench_model.py`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONV = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


def _fold(owner: nn.Module, conv_name: str, bn_name: str) -> None:
    conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
    if isinstance(bn, nn.Identity):
        return
    fused = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
    setattr(owner, conv_name, fused)
    setattr(owner, bn_name, nn.Identity())


def fold_batchnorm(module: nn.Module) -> int:
    """Fold every (conv, batch-norm) pair the model's code applies back to back. Returns the
    number of pairs folded. The module must be in eval mode."""
    if module.training:
        raise ValueError("fold batch-norm only into an eval-mode model")
    count = 0
    for m in list(module.modules()):
        # nn.Sequential: consecutive children conv -> BN (deconvs, TCN blocks, sorter, stem).
        if isinstance(m, nn.Sequential):
            names = list(m._modules)
            for a, b in zip(names, names[1:]):
                if isinstance(m._modules[a], _CONV) and isinstance(m._modules[b], _BN):
                    _fold(m, a, b)
                    count += 1
        # EfficientNet (efficientnet_lite_pytorch): named pairs inside blocks and the network.
        for conv_name, bn_name in (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"),
                                   ("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                                   ("_project_conv", "_bn2")):
            if isinstance(getattr(m, conv_name, None), _CONV) and \
                    isinstance(getattr(m, bn_name, None), _BN):
                _fold(m, conv_name, bn_name)
                count += 1
        # torchvision ResNet bottlenecks.
        for i in (1, 2, 3):
            if isinstance(getattr(m, f"conv{i}", None), _CONV) and \
                    isinstance(getattr(m, f"bn{i}", None), _BN):
                _fold(m, f"conv{i}", f"bn{i}")
                count += 1
    return count


def native_same_padding(module: nn.Module) -> int:
    """EfficientNet's stride-1 'same' padding is symmetric: let the conv pad by itself."""
    count = 0
    for m in module.modules():
        static = getattr(m, "static_padding", None)
        if isinstance(m, nn.Conv2d) and static is not None and tuple(m.stride) == (1, 1) \
                and isinstance(static, nn.ZeroPad2d):
            kh, kw = m.kernel_size
            dh, dw = m.dilation
            pads = static.padding  # (left, right, top, bottom)
            if pads == ((kw - 1) * dw // 2,) * 2 + ((kh - 1) * dh // 2,) * 2 and kh % 2 and kw % 2:
                m.padding = ((kh - 1) * dh // 2, (kw - 1) * dw // 2)
                m.static_padding = nn.Identity()
                count += 1
    return count


def _no_train(self: nn.Module, mode: bool = True) -> nn.Module:
    if mode:
        raise RuntimeError("this model was optimised for inference (batch-norm folded) and "
                           "cannot be trained; load the checkpoint again to train")
    return nn.Module.train(self, False)


def optimize_for_inference(model: nn.Module, channels_last: bool = True,
                           dsd_bf16: bool = False, satn_bf16: bool = False) -> nn.Module:
    """Apply the speed-ups above in place to a MeshNet, DSDNet or SATN; returns it."""
    from meshvid.model.backbones import Backbone
    from meshvid.model.dsd import DSDNet
    from meshvid.model.satn import SATN

    model.eval()
    with torch.no_grad():
        fold_batchnorm(model)
        native_same_padding(model)
    for m in model.modules():
        if isinstance(m, Backbone) and channels_last:
            m.channels_last = True
        if isinstance(m, SATN):
            m.bf16_inference = satn_bf16
        if isinstance(m, DSDNet):
            m.bf16_inference = dsd_bf16
        m.train = _no_train.__get__(m)  # type: ignore[method-assign]
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model
