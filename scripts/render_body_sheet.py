"""Render a contact sheet of the body model: poses (front + side) and shapes (front).

    .venv/bin/python scripts/render_body_sheet.py -o docs/img/anny24_contact.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshvid.body import load_body_model  # noqa: E402
from meshvid.body.preview import pose_preset, posed_vertices, render_body, save_png  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("docs/img/anny24_contact.png"))
    ap.add_argument("--tile", type=int, default=200)
    ap.add_argument("--model", default="anny24")
    ap.add_argument("--smpl-dir", default=None)
    args = ap.parse_args()
    body = load_body_model(args.model, smpl_dir=args.smpl_dir)
    zero = np.zeros(10, np.float32)
    # Row 1: poses, front + side, same scale.
    row1 = [render_body(posed_vertices(body, pose_preset(p), zero), body.faces, ("front", "side"),
                        size=args.tile, extent=2.0) for p in ("rest", "walk", "wave", "sit")]
    # Row 2: shapes in an A-pose, same scale: -2/+2 sigma on betas 0..2, then random N(0,1) shapes.
    shapes = []
    for k in range(3):
        for s in (-2.0, 2.0):
            b = zero.copy()
            b[k] = s
            shapes.append(b)
    rng = np.random.default_rng(0)
    shapes += [rng.standard_normal(10).astype(np.float32) for _ in range(2)]
    colors = [(0.86, 0.70, 0.62)] * 6 + [(0.62, 0.80, 0.66)] * 2
    row2 = [render_body(posed_vertices(body, pose_preset("a"), b), body.faces, ("front",),
                        size=args.tile, extent=2.2, color=c) for b, c in zip(shapes, colors)]
    sheet = np.concatenate([np.concatenate(row1, 1), np.concatenate(row2, 1)], 0)
    save_png(sheet, args.out)
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
