"""Contact sheets of a synthetic data set: crops in a grid, sequences as strips (one row per
sequence), optionally with the 2D COCO-17 labels drawn on top, to check the labels by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from meshvid.body.joints import COCO_17_BONES
from meshvid.synth import shards as fmt


def _draw_labels(img: Image.Image, joints: np.ndarray, vis: np.ndarray, scale: float) -> None:
    d = ImageDraw.Draw(img)
    for a, b in COCO_17_BONES:
        colour = (60, 230, 60) if vis[a] and vis[b] else (230, 60, 60)
        d.line([tuple(joints[a] * scale), tuple(joints[b] * scale)], fill=colour, width=1)
    for j, (x, y) in enumerate(joints * scale):
        c = (255, 255, 0) if vis[j] else (255, 0, 0)
        d.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=c)


def contact_sheet(root: str | Path, out: str | Path, max_items: int = 48, tile: int = 112,
                  labels: bool = False, max_frames: int = 16) -> Path:
    """Write a PNG: crops (cols x rows grid) or sequences (one strip per row)."""
    root, out = Path(root), Path(out)
    tiles: list[list[Image.Image]] = []
    for p in fmt.list_shards(root):
        z = fmt.read_shard(p)
        seq = z["pose"].ndim == 4
        offsets = z["jpeg_offsets"]
        n = len(z["clip_id"])
        t = z["pose"].shape[1] if seq else 1
        step = max(1, t // max_frames)
        for i in range(n):
            row = []
            for f in range(0, t, step):
                k = i * t + f
                im = Image.fromarray(fmt.decode_jpeg(z["jpeg"][offsets[k]:offsets[k + 1]]))
                size = im.size[0]
                im = im.resize((tile, tile), Image.BILINEAR)
                if labels:
                    key = (i, f) if seq else (i,)
                    _draw_labels(im, z["joints2d_coco17"][key], z["vis_coco17"][key], tile / size)
                row.append(im)
            tiles.append(row)
            if len(tiles) >= (max_items if not seq else max(1, max_items // 6)):
                break
        if len(tiles) >= (max_items if not seq else max(1, max_items // 6)):
            break
    if not tiles:
        raise FileNotFoundError(f"no shards in {root}")
    if len(tiles[0]) == 1:  # crops: square-ish grid
        flat = [r[0] for r in tiles]
        cols = int(np.ceil(np.sqrt(len(flat) * 1.5)))
        rows = int(np.ceil(len(flat) / cols))
        sheet = Image.new("RGB", (cols * tile, rows * tile), (255, 255, 255))
        for k, im in enumerate(flat):
            sheet.paste(im, ((k % cols) * tile, (k // cols) * tile))
    else:
        cols = max(len(r) for r in tiles)
        sheet = Image.new("RGB", (cols * tile, len(tiles) * (tile + 4)), (255, 255, 255))
        for r, row in enumerate(tiles):
            for c, im in enumerate(row):
                sheet.paste(im, (c * tile, r * (tile + 4)))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    sheet.save(tmp, format="PNG")
    tmp.replace(out)
    return out
