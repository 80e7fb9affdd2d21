"""Issue 24: do 2D keypoints get closer to the person with a second look? Measured, not assumed.

For each camera of a multiview set, reads the tracks `meshvid eval --dataset multiview` keeps
(OUT/infer/tracks/<camera>-<key>.tracks.json), and on every detected (not interpolated) row of a
track matched to a reference person measures the keypoint error against the reference
projection, in the crop-normalised units the networks see, for:

- `main`: the tracker's keypoints (the detector on the whole frame, the pipeline's size);
- `crop<S>`: a second detector pass on the person's square crop (padding 1.25) resampled to S px;
- `mean<S>`: main and crop<S> averaged, weighted by their keypoint confidences;
- `crop<S>flip` / `mean<S>flip`: the same with the crop also seen mirrored (`--flip`);
- `savgol`: the main keypoints Savitzky-Golay filtered along the track (window 5, order 2).

    python train/keypoint_pass_probe.py ../shared/realbench/lab4cam out/mv/infer/tracks --sizes 256 384 512
    python train/keypoint_pass_probe.py ../shared/realbench/lab4cam out/mv/infer/tracks --flip

Prints per variant the body joints' (COCO 5-16) median, mean and 90th percentile, and the
detector time per crop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(root: Path, tracks_dir: Path, sizes: list[int], max_frames: int | None,
            flip: bool = False) -> dict:
    from scipy.signal import savgol_filter

    from meshvid.eval.multiview.dataset import load_multiview
    from meshvid.eval.multiview.reference_keypoints import with_reference_keypoints
    from meshvid.io.video import open_source
    from meshvid.perception.crops import make_crops
    from meshvid.perception.detector import PoseDetector
    from meshvid.perception.keypoint_pass import crop_keypoints
    from meshvid.perception.tracks_io import load_tracks

    data = load_multiview(root)
    detector = PoseDetector()
    errs: dict[str, list[np.ndarray]] = {}
    crop_seconds: dict[tuple[int, bool], float] = {}
    n_crops = 0

    def add(name: str, det: np.ndarray, ref: np.ndarray, boxes: np.ndarray, ok: np.ndarray) -> None:
        d = make_crops(None, boxes, det).keypoints_norm
        r = make_crops(None, boxes, ref).keypoints_norm
        e = np.linalg.norm(d - r, axis=-1)
        errs.setdefault(name, []).append(np.where(ok & np.isfinite(e), e, np.nan)[:, 5:])

    for name, video in data.videos.items():
        paths = sorted(tracks_dir.glob(f"{name}-*.tracks.json"))
        if not paths:
            continue
        _, tracks, _ = load_tracks(paths[0])
        exact = with_reference_keypoints(tracks, data.cameras[name], data.references)
        rows: dict[int, list[tuple[int, int]]] = {}  # frame -> (track, row)
        ok_rows = []
        for ti, (t, e) in enumerate(zip(tracks, exact)):
            matched = np.isin(e.keypoint_scores, (0.0, 1.0)).all(1) & (e.keypoint_scores > 0).any(1)
            matched &= ~np.asarray(t.interpolated, bool)
            ok_rows.append(matched)
            for r in np.nonzero(matched)[0]:
                rows.setdefault(int(t.frame_ids[r]), []).append((ti, int(r)))
        passes = [(s, False) for s in sizes] + ([(s, True) for s in sizes] if flip else [])
        second = {p: [np.full(np.shape(t.keypoints), np.nan) for t in tracks] for p in passes}
        second_conf = {p: [np.zeros(np.shape(t.keypoint_scores)) for t in tracks] for p in passes}
        for frame in open_source(video):
            if max_frames is not None and frame.index >= max_frames:
                break
            here = rows.get(frame.index)
            if not here:
                continue
            boxes = np.stack([tracks[ti].boxes[r] for ti, r in here])
            n_crops += len(here)
            for p in passes:
                t0 = time.perf_counter()
                kp, cf = crop_keypoints(detector, frame.image, boxes, p[0], flip=p[1])
                crop_seconds[p] = crop_seconds.get(p, 0.0) + time.perf_counter() - t0
                for (ti, r), k, c in zip(here, kp, cf):
                    second[p][ti][r], second_conf[p][ti][r] = k, c
        for ti, (t, e) in enumerate(zip(tracks, exact)):
            ok = ok_rows[ti][:, None] & (e.keypoint_scores > 0)
            if max_frames is not None:
                ok &= (np.asarray(t.frame_ids) < max_frames)[:, None]
            main = np.asarray(t.keypoints, np.float64)
            mc = np.asarray(t.keypoint_scores, np.float64)
            add("main", main, e.keypoints, t.boxes, ok)
            if len(t) >= 5:
                add("savgol", savgol_filter(main, 5, 2, axis=0), e.keypoints, t.boxes, ok)
            for s, flipped in second:
                k2, c2 = second[(s, flipped)][ti], second_conf[(s, flipped)][ti]
                tag = "flip" if flipped else ""
                have = np.isfinite(k2).all(-1)
                add(f"crop{s}{tag}", np.where(have[..., None], k2, main), e.keypoints, t.boxes, ok)
                w1, w2 = mc[..., None], np.where(have, c2, 0.0)[..., None]
                mean = (w1 * main + w2 * np.nan_to_num(k2)) / np.maximum(w1 + w2, 1e-9)
                add(f"mean{s}{tag}", mean, e.keypoints, t.boxes, ok)
                if not flipped:
                    add(f"half{s}", np.where(have[..., None], 0.5 * (main + np.nan_to_num(k2)),
                                             main), e.keypoints, t.boxes, ok)
    out = {}
    for k, v in errs.items():
        e = np.concatenate(v)
        e = e[np.isfinite(e)]
        out[k] = {"n": int(e.size), "median": float(np.median(e)), "mean": float(np.mean(e)),
                  "p90": float(np.percentile(e, 90))}
    out["seconds_per_crop"] = {f"{s}{'flip' if f else ''}": v / max(1, n_crops)
                               for (s, f), v in crop_seconds.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("tracks", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[384])
    ap.add_argument("--max-frames", type=int)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--flip", action="store_true",
                    help="also each size with the mirrored crop averaged in (crop<S>flip, mean<S>flip)")
    a = ap.parse_args(argv)
    out = measure(a.root, a.tracks, a.sizes, a.max_frames, a.flip)
    print(f"{'variant':10s} {'n':>7s} {'median':>8s} {'mean':>8s} {'p90':>8s}")
    for k, r in out.items():
        if k != "seconds_per_crop":
            print(f"{k:10s} {r['n']:7d} {r['median']:8.4f} {r['mean']:8.4f} {r['p90']:8.4f}")
    print("detector seconds per crop:", {s: round(v, 4) for s, v in out["seconds_per_crop"].items()})
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
