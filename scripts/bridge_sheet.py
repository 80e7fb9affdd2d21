"""Contact sheets of every accepted bridge of a tracking run, to check by eye that a track
never passes from one person to another (issue 14).

    meshvid track CLIP -o OUT --det-stride 1
    python scripts/bridge_sheet.py CLIP OUT/<stem>.tracks.json --out sheets/ [--per-sheet 8]

Each row is one accepted bridge: the frames last detection - 2, last detection, the middle of
the gap, first detection after it, first + 2, each cropped around the bridged track's box (red)
with the gap's length, distance (body heights) and colour distance printed on the left.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CELL = 160


def _frames(path: str, wanted: set[int]) -> dict[int, np.ndarray]:
    import av

    out = {}
    last = max(wanted) if wanted else -1
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in wanted:
                out[i] = f.to_ndarray(format="bgr24")
            if i >= last:
                break
    return out


def _track_box(track: dict, frame: int) -> np.ndarray | None:
    ids = track["frame_ids"]
    if frame in ids:
        return np.asarray(track["boxes"][ids.index(frame)], float)
    return None


def _cell(img: np.ndarray, box: np.ndarray | None, ref: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = ref
    h = max(y2 - y1, 20.0) * 1.6
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a = np.array([[CELL / h, 0, CELL / 2 - cx * CELL / h], [0, CELL / h, CELL / 2 - cy * CELL / h]])
    im = img.copy()
    if box is not None:
        cv2.rectangle(im, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (0, 0, 255), 2)
    return cv2.warpAffine(im, a, (CELL, CELL), borderValue=(40, 40, 40))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("tracks_json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-sheet", type=int, default=8)
    ap.add_argument("--clear-only", action="store_true",
                    help="only the clear bridges that the strict rule would have refused "
                         "(size or colours over the strict thresholds; issue 26)")
    args = ap.parse_args()
    doc = json.loads(Path(args.tracks_json).read_text())
    tracks = {t["id"] if "id" in t else t["track_id"]: t for t in doc["tracks"]}
    bridges = [b for b in doc["meta"]["bridges"] if b["accepted"] and b.get("track_id") in tracks]
    if args.clear_only:
        from meshvid.perception.tracker import TrackerConfig

        cfg = TrackerConfig()
        bridges = [b for b in bridges if b.get("clear") and (
            b["size_change"] > cfg.max_size_change
            or (b.get("appearance") or 0.0) > cfg.max_appearance)]
    rows = []
    for b in bridges:
        e, s = b["end_frame"], b["start_frame"]
        rows.append((b, [e - 2, e, (e + s) // 2, s, s + 2]))
    frames = _frames(args.clip, {f for _, fs in rows for f in fs if f >= 0})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(0, len(rows), args.per_sheet):
        lines = []
        for b, fs in rows[k:k + args.per_sheet]:
            t = tracks[b["track_id"]]
            ref = _track_box(t, b["end_frame"])
            if ref is None:
                ref = _track_box(t, b["start_frame"])
            cells = []
            for f in fs:
                img = frames.get(f)
                cells.append(_cell(img, _track_box(t, f), ref) if img is not None
                             else np.zeros((CELL, CELL, 3), np.uint8))
            label = np.full((CELL, 160, 3), 255, np.uint8)
            app = b.get("appearance")
            for i, text in enumerate([f"track {b['track_id']}", f"frames {b['end_frame']}-{b['start_frame']}",
                                      f"gap {b['start_frame'] - b['end_frame'] - 1}",
                                      f"dist {b['distance']:.2f}", f"colour {app:.2f}" if app is not None else "colour -",
                                      f"size {b['size_change']:.2f}{' clear' if b.get('clear') else ''}"]):
                cv2.putText(label, text, (4, 20 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
            lines.append(np.concatenate([label] + cells, 1))
        sheet = np.concatenate(lines, 0)
        cv2.imwrite(str(out / f"bridges_{k // args.per_sheet:02d}.png"), sheet)
    print(f"{len(bridges)} accepted bridges -> {out}")


if __name__ == "__main__":
    main()
