"""Parameter counts, FLOPs and CPU throughput of the DSD and SATN networks.

Used by `meshvid bench model`; numbers are printed, never asserted in tests. Throughput is
timed as best-of-N and median of N repeats after warm-up, under torch.inference_mode, with
the thread count given (other jobs on the machine lower every number: the load average is
reported with them).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from meshvid.model.config import BackboneConfig, ModelConfig, SkeletonConfig, cpu_config
from meshvid.model.inference import optimize_for_inference
from meshvid.model.net import MeshNet


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs (multiply-add = 2) of matmuls/convolutions in one call, via torch's counter."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    # Gradients enabled: under no_grad, nn.TransformerEncoder takes a fused native path whose
    # matmuls the counter does not see.
    with counter, torch.enable_grad():
        fn()
    return int(counter.get_total_flops())


def time_call(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> tuple[float, float]:
    """(best, median) seconds of `fn` over `repeats` calls."""
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def dsd_configs() -> dict[str, ModelConfig]:
    """The DSD set-ups worth comparing: the CPU default first."""
    learned = ModelConfig()
    learned.dsd.skeleton = SkeletonConfig(source="learned", joints="lsp14")
    paper = ModelConfig()
    paper.dsd.backbone = BackboneConfig(name="resnet50", pretrained=False)
    return {"cpu (lite0 + external coco17)": cpu_config(),
            "lite0 + learned lsp14": learned,
            "paper (resnet50 + learned lsp14)": paper}


def bench_dsd(cfg: ModelConfig, batch: int = 16, size: int = 224, repeats: int = 8,
              optimize: bool = True, bf16: bool = False) -> dict[str, Any]:
    cfg.dsd.backbone.image_size = size
    model = MeshNet(cfg, load_backbone_weights=False).eval()
    params = count_params(model.dsd)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=g)
    k = model.dsd.skeleton.num_joints if model.dsd.skeleton is not None else 17
    kp = torch.rand(batch, k, 2, generator=g) * 2 - 1
    conf = torch.ones(batch, k)

    def run() -> Any:
        return model.dsd(images, kp, conf)

    flops = count_flops(run) / batch
    if optimize:
        optimize_for_inference(model, dsd_bf16=bf16)
    best, median = time_call(run, repeats)
    return {"params": params, "gflops_per_crop": round(flops / 1e9, 3), "batch": batch,
            "size": size, "optimized": optimize, "precision": "bf16" if bf16 else "fp32",
            "crops_per_s_best": round(batch / best, 1),
            "crops_per_s_median": round(batch / median, 1)}


def bench_satn(cfg: ModelConfig, frames: int = 4096, repeats: int = 5,
               bf16: bool = False, optimize: bool = True) -> dict[str, Any]:
    cfg.dsd.backbone.pretrained = False
    model = MeshNet(cfg, load_backbone_weights=False).eval()
    assert model.satn is not None
    satn = model.satn
    feats = torch.randn(frames, cfg.satn.feature_dim, generator=torch.Generator().manual_seed(0))
    windows = torch.randn(64, cfg.satn.window, cfg.satn.feature_dim)
    flops = count_flops(lambda: satn(windows)) / len(windows)
    if optimize:
        optimize_for_inference(satn, channels_last=False, satn_bf16=bf16)
    best, median = time_call(lambda: satn.forward_sequence(feats), repeats, warmup=1)
    return {"variant": cfg.satn.variant, "params": count_params(satn),
            "params_inference": count_params(satn) - (count_params(satn.sorter)
                                                      if satn.sorter is not None else 0),
            "mflops_per_window": round(flops / 1e6, 1), "frames": frames,
            "precision": "bf16" if bf16 else "fp32", "optimized": optimize,
            "windows_per_s_best": round(frames / best, 1),
            "windows_per_s_median": round(frames / median, 1)}


def environment() -> dict[str, Any]:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "bf16_cpu": torch.backends.mkldnn.is_available()}
