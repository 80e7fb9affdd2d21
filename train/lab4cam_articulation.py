"""Issue 24: is lab4cam's remaining PA-MPJPE in the bodies' proportions or in their articulation?

Reads a `meshvid eval --dataset multiview` run's variant (as train/lab4cam_joint_bias.py does) and
prints, on the body-12 mesh keypoints:

1. per camera and person, the median knee and elbow flexion (degrees, 0 = straight) of the
   reference and of the prediction, and the median shoulder width, hip width, thigh, shin and
   trunk (mid-hip to mid-shoulder) lengths of both (m);
2. PA-MPJPE as scored, and with every predicted segment given the reference's median length
   (directions kept): what a perfect body shape would gain;
3. PA-MPJPE with a constant offset per joint removed, the offset expressed in the reference body's
   own frame (x: right hip to left hip, y: mid-hip to mid-shoulder, z: forward) after each frame's
   Procrustes alignment and estimated from all pairs, from the other cameras, from the other
   person, or from the same person: how much of the error is a fixed bias that carries between
   people (no re-alignment after the correction, so the first figure is the aligned error
   before it).

    python train/lab4cam_articulation.py ../shared/realbench/lab4cam out/mv_base "DSD+SATN"
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))

from lab4cam_joint_bias import (BODY12, matched_pairs, procrustes_errors,  # noqa: E402
                                similarity_align)

# body-12 rows: 0/1 shoulders, 2/3 elbows, 4/5 wrists, 6/7 hips, 8/9 knees, 10/11 ankles (L/R).
# Each joint's parent in a tree rooted at the mid-hip (None: the mid-hip itself).
PARENT = {6: None, 7: None, 8: 6, 9: 7, 10: 8, 11: 9, 0: None, 1: None, 2: 0, 3: 1, 4: 2, 5: 3}


def flexion(x: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """(F,) the bend at joint b of the chain a-b-c, degrees (0: straight)."""
    u, v = x[:, a] - x[:, b], x[:, c] - x[:, b]
    cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def segment_lengths(x: np.ndarray) -> np.ndarray:
    """(12,) each joint's median distance from its parent (the mid-hip for hips, shoulders)."""
    mid = (x[:, 6] + x[:, 7]) / 2
    return np.array([np.nanmedian(np.linalg.norm(x[:, j] - (mid if PARENT[j] is None
                                                            else x[:, PARENT[j]]), axis=-1))
                     for j in range(12)])


def with_lengths(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(F, 12, 3) the skeleton rebuilt from the mid-hip with x's directions and `lengths`."""
    mid = (x[:, 6] + x[:, 7]) / 2
    out = np.empty_like(x)
    for j in (6, 7, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5):  # parents first
        par = PARENT[j]
        d = x[:, j] - (mid if par is None else x[:, par])
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
        out[:, j] = (mid if par is None else out[:, par]) + d * lengths[j]
    return out


def aligned_residuals(pred: np.ndarray, ref: np.ndarray):
    """Per frame with both hips and shoulders: (residual in the reference body's frame (12, 3),
    that frame (3, 3), the aligned prediction (12, 3), the reference (12, 3))."""
    rows = []
    for p, g in zip(pred, ref):
        ok = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
        if ok.sum() < 6 or not ok[[0, 1, 6, 7]].all():
            continue
        a = np.full_like(p, np.nan)
        a[ok] = similarity_align(p[ok], g[ok])
        x = g[6] - g[7]
        x /= np.linalg.norm(x)
        y = (g[0] + g[1]) / 2 - (g[6] + g[7]) / 2
        y -= x * (x @ y)
        y /= np.linalg.norm(y)
        frame = np.stack([x, y, np.cross(x, y)])
        rows.append(((a - g) @ frame.T, frame, a, g))
    return rows


def main() -> None:
    root, out, variant = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    pairs, base, shaped = [], [], []
    for name, _cam, pi, _ref, _result, view, _m, got, ok in matched_pairs(root, out, variant):
        g, p = view.joints[pi][ok][:, 5:], got["keypoints3d"][ok][:, 5:]
        lg, lp = segment_lengths(g), segment_lengths(p)
        knees = [np.nanmedian(np.concatenate([flexion(x, 6, 8, 10), flexion(x, 7, 9, 11)]))
                 for x in (g, p)]
        elbows = [np.nanmedian(np.concatenate([flexion(x, 0, 2, 4), flexion(x, 1, 3, 5)]))
                  for x in (g, p)]
        width = [np.nanmedian(np.linalg.norm(x[:, 0] - x[:, 1], axis=-1)) for x in (g, p)]
        hips = [np.nanmedian(np.linalg.norm(x[:, 6] - x[:, 7], axis=-1)) for x in (g, p)]
        trunk = [np.nanmedian(np.linalg.norm((x[:, 0] + x[:, 1] - x[:, 6] - x[:, 7]) / 2, axis=-1))
                 for x in (g, p)]
        print(f"{name} person {pi} (reference / prediction): knee flexion {knees[0]:.0f} / "
              f"{knees[1]:.0f} deg, elbow {elbows[0]:.0f} / {elbows[1]:.0f} deg; shoulder width "
              f"{width[0]:.3f} / {width[1]:.3f}, hip width {hips[0]:.3f} / {hips[1]:.3f}, thigh "
              f"{lg[8]:.3f} / {lp[8]:.3f}, shin {lg[10]:.3f} / {lp[10]:.3f}, trunk {trunk[0]:.3f} "
              f"/ {trunk[1]:.3f} m")
        base.append(np.nanmean(procrustes_errors(p, g)))
        shaped.append(np.nanmean(procrustes_errors(with_lengths(p, lg), g)))
        pairs.append((name, pi, aligned_residuals(p, g)))
    print(f"\nPA-MPJPE {1000 * np.mean(base):.1f} mm; with the reference's segment lengths "
          f"{1000 * np.mean(shaped):.1f} mm")

    def bias(selected) -> np.ndarray:
        return np.nanmean(np.concatenate([np.stack([r[0] for r in rows]) for rows in selected]), 0)

    def error(rows, b: np.ndarray) -> float:
        return 1000 * float(np.mean([np.nanmean(np.linalg.norm(a - b @ frame - g, axis=-1))
                                     for _, frame, a, g in rows]))

    zero = np.zeros((12, 3))
    every = bias([rows for _, _, rows in pairs])
    figures = {
        "aligned, no correction": np.mean([error(rows, zero) for _, _, rows in pairs]),
        "one offset per joint, all pairs": np.mean([error(rows, every) for _, _, rows in pairs]),
        "from the other cameras": np.mean([error(rows, bias([r for n, _, r in pairs if n != name]))
                                           for name, _, rows in pairs]),
        "from the other person": np.mean([error(rows, bias([r for _, q, r in pairs if q != pi]))
                                          for _, pi, rows in pairs]),
        "from the same person": np.mean([error(rows, bias([r for _, q, r in pairs if q == pi]))
                                         for _, pi, rows in pairs]),
    }
    print("; ".join(f"{k} {v:.1f}" for k, v in figures.items()) + " (mm)")
    for person in sorted({pi for _, pi, _ in pairs}):
        b = 1000 * bias([r for _, q, r in pairs if q == person])
        print(f"person {person} offsets (x, y, z mm): " + ", ".join(
            f"{BODY12[j]} {np.round(b[j]).astype(int).tolist()}" for j in range(12)))


if __name__ == "__main__":
    main()
