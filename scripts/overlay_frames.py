"""Overlay frames for looking at alignment and identity: the mesh of each NPZ given, with the
detector's keypoints (white) and the mesh's projected COCO keypoints (red) on chosen frames.

    python scripts/overlay_frames.py CLIP --npz before.npz --npz after.npz \
        --frames 20,90,150,200 --out docs/img/x.png [--crop] [--width 480]

One row per NPZ (labelled with its file name), one column per frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from meshvid.body import load_body_model
from meshvid.export.npz import load_npz
from meshvid.io.video import open_source
from meshvid.pipeline.alignment import person_keypoints3d
from meshvid.render.overlay import OverlayRenderer, PersonInFrame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--npz", action="append", required=True)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=480, help="width of each cell")
    ap.add_argument("--crop", action="store_true", help="crop each cell around the people")
    args = ap.parse_args()
    frames = [int(f) for f in args.frames.split(",")]
    results = [load_npz(p) for p in args.npz]
    body = load_body_model(results[0].body_model)
    images = {}
    for fr in open_source(args.clip, stop=max(frames) + 1):
        if fr.index in frames:
            images[fr.index] = fr.image
    h, w = next(iter(images.values())).shape[:2]
    rows = []
    with OverlayRenderer(w, h, np.asarray(body.faces)) as renderer:
        for path, res in zip(args.npz, results):
            cells = []
            for f in frames:
                people, marks, boxes = [], [], []
                for p in res.persons:
                    hit = np.flatnonzero(p.frame_ids == f)
                    if not len(hit):
                        continue
                    r = int(hit[0])
                    with torch.inference_mode():
                        v = body(torch.from_numpy(p.pose[r:r + 1]), torch.from_numpy(p.betas)[None],
                                 torch.from_numpy(p.transl[r:r + 1])).vertices[0].numpy()
                    people.append(PersonInFrame(p.track_id, v, p.keypoints2d[r], p.keypoint_scores[r]))
                    kp3 = person_keypoints3d(res, p, body)[r]
                    proj = res.focal_length * kp3[:, :2] / kp3[:, 2:] + np.array(res.image_size) / 2
                    marks.append((proj, p.keypoints2d[r], p.keypoint_scores[r]))
                    boxes.append(p.boxes[r])
                img = renderer.render(images[f], people, res.focal_length)
                rad = max(2, h // 200)
                for proj, det, sc in marks:
                    for k in range(17):
                        if sc[k] > 0.5:
                            cv2.circle(img, tuple(int(x) for x in det[k]), rad + 1, (255, 255, 255), -1)
                            cv2.circle(img, tuple(int(x) for x in proj[k]), rad, (230, 20, 20), -1)
                if args.crop and boxes:
                    b = np.array(boxes)
                    x0, y0 = b[:, :2].min(0) - 0.15 * (b[:, 3] - b[:, 1]).max()
                    x1, y1 = b[:, 2:].max(0) + 0.15 * (b[:, 3] - b[:, 1]).max()
                    x0, y0, x1, y1 = int(max(0, x0)), int(max(0, y0)), int(min(w, x1)), int(min(h, y1))
                    img = img[y0:y1, x0:x1]
                cell_h = int(round(img.shape[0] * args.width / img.shape[1]))
                img = cv2.resize(img, (args.width, cell_h), interpolation=cv2.INTER_AREA)
                cv2.putText(img, f"{Path(path).parent.name} f{f}", (6, 20), cv2.FONT_HERSHEY_SIMPLEX,
                            0.55, (255, 255, 0), 2, cv2.LINE_AA)
                cells.append(img)
            hmax = max(c.shape[0] for c in cells)
            cells = [np.pad(c, ((0, hmax - c.shape[0]), (0, 0), (0, 0))) for c in cells]
            rows.append(np.concatenate(cells, axis=1))
    wmax = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 0), (0, wmax - r.shape[1]), (0, 0))) for r in rows])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(args.out, grid.shape)


if __name__ == "__main__":
    main()
