"""Issue 24: how much of lab4cam's PA-MPJPE is the predicted knees' extra bend?

Reads a `meshvid eval --dataset multiview` run's variant (as train/lab4cam_joint_bias.py does),
re-poses every matched row with both knees' axis-angle scaled by each factor (1: as written,
0: straight), regresses the mesh keypoints again and scores them on the body-12 joints against
the reference: an upper bound on what a straighter-knee prior could gain, since the factor is
chosen looking at the answer. Prints per camera and person the reference's median knee flexion
and, per factor, PA-MPJPE and the prediction's median flexion; then the means.

    python train/lab4cam_knee_probe.py ../shared/realbench/lab4cam out/mv_base "DSD+SATN" 1,0.8,0.6,0.4
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "train"))

from lab4cam_articulation import flexion  # noqa: E402
from lab4cam_joint_bias import matched_pairs, procrustes_errors  # noqa: E402

KNEES = (4, 5)  # SMPL_24 left / right knee


def knee_flexion(x: np.ndarray) -> float:
    """Median flexion (degrees) of both knees of body-12 keypoints (F, 12, 3)."""
    return float(np.nanmedian(np.concatenate([flexion(x, 6, 8, 10), flexion(x, 7, 9, 11)])))


def main() -> None:
    from meshvid.body import load_body_model
    from meshvid.geometry.rotations import axis_angle_to_matrix

    root, out, variant = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    factors = [float(s) for s in sys.argv[4].split(",")]
    body = load_body_model("anny24")
    scores = {s: [] for s in factors}
    for name, _cam, pi, _ref, result, view, m, _got, ok in matched_pairs(root, out, variant):
        g = view.joints[pi][ok][:, 5:]
        rows = [(result.persons[int(m.track[f])], int(m.row[f])) for f in np.flatnonzero(ok)]
        pose = np.stack([p.pose[r] for p, r in rows]).astype(np.float32)
        betas = torch.as_tensor(np.stack([p.betas for p, _ in rows]), dtype=torch.float32)
        line = [f"{name} person {pi}: reference knee {knee_flexion(g):.0f} deg"]
        for s in factors:
            q = pose.copy()
            q[:, list(KNEES)] *= s
            with torch.no_grad():
                k = body.forward_rotmat(axis_angle_to_matrix(torch.as_tensor(q)), betas).coco17
            k = k.numpy()[:, 5:]
            scores[s].append(1000 * float(np.nanmean(procrustes_errors(k, g))))
            line.append(f"x{s:g}: {scores[s][-1]:.1f} mm, knee {knee_flexion(k):.0f} deg")
        print("; ".join(line))
    print("mean PA-MPJPE: " + ", ".join(f"x{s:g} {np.mean(v):.1f}" for s, v in scores.items()))


if __name__ == "__main__":
    main()
