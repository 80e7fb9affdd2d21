"""Several processes or machines through torch.distributed, launched by `torchrun`.

`torchrun --nproc-per-node 2 -m meshvid.cli.main train --config ...` sets RANK/WORLD_SIZE/
MASTER_ADDR; we initialise the process group with gloo on CPU and nccl on GPU. Each rank reads
its own shard of every epoch (a DistributedSampler-style split of one seeded permutation) and
gradients are averaged with all_reduce after every backward pass — what DistributedDataParallel
does, done by hand because a training step here updates two networks (regressor and
discriminator) whose parameters are not all used in every step (the sorting module, the
frozen backbone), which DDP's bucketed hooks handle poorly. Only rank 0 writes checkpoints, logs
and plots; every rank resumes from the same checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Initialise from torchrun's environment; a plain single process when absent."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if world <= 1:
        return DistInfo(device=torch.device(device))
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    dev = torch.device(f"cuda:{local}") if device == "cuda" else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """All-reduce (mean) the gradients of `params` over ranks, in one flat buffer."""
    if not info.enabled:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def all_mean(value: float, info: DistInfo) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t) / info.world_size


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shard(indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's part of an epoch's permutation (DistributedSampler's split: pad by wrapping
    so every rank gets the same number of items, then take every world_size-th)."""
    if not info.enabled:
        return indices
    n = len(indices)
    per = -(-n // info.world_size)
    padded = torch.cat([indices, indices[: per * info.world_size - n]])
    return padded[info.rank::info.world_size]


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
