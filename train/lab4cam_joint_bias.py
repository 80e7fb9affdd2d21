"""Issue 24: where a variant's MPJPE comes from, joint by joint, in the gravity frame.

Reads the NPZs `meshvid eval --dataset multiview` keeps (OUT/infer/<cache key>/<camera>.npz, the
key of each variant in OUT/results.json), matches tracks to reference people with the
evaluator's own matching and joint mask, and prints for the body-12 mesh keypoints
(mid-hip aligned, as MPJPE is):

- per camera and person: the mean error vector of the ankles and shoulders along the side,
  up (gravity: the calibration's world +z) and away-from-camera axes, the hip-to-ankle length
  of the reference and of the mesh, and the height of each matched track's body (its betas);
- per joint over every pair: the mean error vector and its RMS along the same axes;
- the error per joint after a per-frame Procrustes alignment (what PA-MPJPE averages);
- MPJPE as scored, and with each body scaled about its mid-hip by (mean body height / its own
  height): what the body model's mean shape would give, before running it.

    python train/lab4cam_joint_bias.py ../shared/realbench/lab4cam out/mv_base "DSD+SATN+refine"
    python train/lab4cam_joint_bias.py ../shared/realbench/lab4cam out/mv_base 0fca7876546b358b

The calibration's world must be z-up (lab4cam's is: its ankles sit at z ~ 0.12 m).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BODY12 = ("L shoulder", "R shoulder", "L elbow", "R elbow", "L wrist", "R wrist", "L hip",
          "R hip", "L knee", "R knee", "L ankle", "R ankle")


def body_height(body, betas: np.ndarray) -> float:
    import torch

    verts, _ = body.rest_shape(torch.as_tensor(np.asarray(betas, np.float32)[None]))
    v = verts[0].numpy()
    return float(v[:, 1].max() - v[:, 1].min())


def similarity_align(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(J, 3) `pred` after the similarity transform (rotation, scale, translation) that best
    aligns it to `ref` (J, 3), both without NaN."""
    pc, gc = pred - pred.mean(0), ref - ref.mean(0)
    u, sv, vt = np.linalg.svd(pc.T @ gc)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = (sv * np.diag(d)).sum() / (pc ** 2).sum()
    return scale * pc @ rot + ref.mean(0)


def procrustes_errors(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(F, J, 3) x 2 -> (F, J) distances after each frame's similarity alignment of `pred` to
    `ref` (NaN for joints missing in either; frames with fewer than 4 joints all NaN)."""
    out = np.full(pred.shape[:2], np.nan)
    for f, (p, g) in enumerate(zip(pred, ref)):
        ok = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
        if ok.sum() < 4:
            continue
        out[f, ok] = np.linalg.norm(similarity_align(p[ok], g[ok]) - g[ok], axis=-1)
    return out


def camera_results(root: Path, out: Path, variant: str):
    """Each camera of a `meshvid eval --dataset multiview` run's variant (a name of its
    results.json or a cache key): yields (camera name, calibration, its MotionResult), and the
    data set itself first."""
    from meshvid.eval.multiview.dataset import load_multiview
    from meshvid.export.npz import load_npz

    key = variant if (out / "infer" / variant).is_dir() else \
        json.loads((out / "results.json").read_text())["variants"][variant]["cache_key"]
    data = load_multiview(root)
    yield data
    for name, cam in data.cameras.items():
        yield name, cam, load_npz(out / "infer" / key / f"{name}.npz")


def matched_pairs(root: Path, out: Path, variant: str):
    """Every camera-person pair of a `meshvid eval --dataset multiview` run's variant (a name of
    its results.json or a cache key), matched with the evaluator's own matching: yields
    (camera name, calibration, person index, reference person, result, reference view, match,
    the matched rows per frame (score.gather), frames scored (matched and in the image))."""
    from meshvid.eval.multiview.matching import match_people
    from meshvid.eval.multiview.score import gather, reference_view

    cameras = camera_results(root, out, variant)
    data = next(cameras)
    for name, cam, result in cameras:
        view = reference_view(data.references, cam)
        matches = match_people(result.persons, view.pixels, view.visible, view.in_image,
                               view.heights, 0.3)
        for pi, ref in enumerate(data.references):
            m = matches[pi]
            yield name, cam, pi, ref, result, view, m, gather(result, m, view.num_frames), \
                m.matched & m.in_image


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("out", type=Path, help="the eval's --out folder")
    ap.add_argument("variant", help='a variant name of its results.json, e.g. "DSD+SATN+refine", '
                    "or a cache key (a folder of OUT/infer: results.json holds the last run's)")
    a = ap.parse_args(argv)
    from meshvid.body import load_body_model

    body = load_body_model("anny24")
    mean_height = body_height(body, np.zeros(10))
    errors, mpjpe, scaled, aligned = [], [], [], []
    for name, cam, pi, ref, result, view, m, got, ok in matched_pairs(a.root, a.out, a.variant):
        heights = {p.track_id: body_height(body, p.betas) for p in result.persons}
        up = cam.R[:, 2]  # world +z in the camera
        away = np.array([0.0, 0.0, 1.0]) - up * up[2]
        away /= np.linalg.norm(away)
        axes = np.stack([np.cross(up, away), up, away])  # side, up, away
        g = view.joints[pi][ok][:, 5:]
        p = got["keypoints3d"][ok][:, 5:]
        scale = np.array([mean_height / heights[result.persons[t].track_id]
                          for t in m.track[ok]])[:, None, None]
        gr = g - g[:, [6, 7]].mean(1, keepdims=True)
        pr = p - p[:, [6, 7]].mean(1, keepdims=True)
        valid = np.isfinite(gr).all(-1) & np.isfinite(pr).all(-1)
        e = np.where(valid[..., None], (pr - gr) * 1000.0, np.nan) @ axes.T
        errors.append(e)
        aligned.append(1000.0 * procrustes_errors(pr, gr))
        mpjpe.append(np.nanmean(np.linalg.norm(e, axis=-1)))
        scaled.append(1000.0 * np.nanmean(np.where(valid, np.linalg.norm(pr * scale - gr,
                                                                         axis=-1), np.nan)))
        leg = lambda x: np.nanmedian(np.linalg.norm(x[:, 10] - x[:, 6], axis=-1))  # noqa: E731
        tracks = sorted({result.persons[t].track_id for t in m.track[ok]})
        print(f"{name} {ref.name}: ankles (side, up, away) "
              f"{np.round(np.nanmean(e[:, 10:12], axis=(0, 1)))} mm, shoulders "
              f"{np.round(np.nanmean(e[:, 0:2], axis=(0, 1)))} mm; hip-ankle reference "
              f"{leg(gr):.3f} m, mesh {leg(pr):.3f} m; body heights "
              + ", ".join(f"track {t} {heights[t]:.2f} m" for t in tracks)
              + f"; MPJPE {mpjpe[-1]:.1f}, at the mean height {scaled[-1]:.1f}")
    e = np.concatenate(errors)
    pa = np.concatenate(aligned)
    print(f"\n{'joint':11s} {'mean side/up/away (mm)':>26s} {'RMS side/up/away (mm)':>26s} "
          f"{'after Procrustes (mm)':>22s}")
    for j, n in enumerate(BODY12):
        print(f"{n:11s} {str(np.round(np.nanmean(e[:, j], 0))):>26s} "
              f"{str(np.round(np.sqrt(np.nanmean(e[:, j] ** 2, 0)))):>26s} "
              f"{np.nanmean(pa[:, j]):22.1f}")
    print(f"\nmean body height {mean_height:.3f} m; MPJPE over the {len(mpjpe)} pairs "
          f"{np.mean(mpjpe):.1f} mm, every body scaled to the mean height {np.mean(scaled):.1f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
