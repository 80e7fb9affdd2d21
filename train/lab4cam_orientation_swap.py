"""Issue 24 probe: one network's articulation with another's root orientation, scored on a
multi-view set from cached `meshvid eval --dataset multiview` runs (no pipeline run).

    python train/lab4cam_orientation_swap.py ../shared/realbench/lab4cam \
        --pose out/mv/infer/<key A> --orient out/mv/infer/<key B>

Both cache folders must come from the same tracks (the evaluator shares them between variants),
so their rows line up. Joint rotations 1-23 (and shape, translation) come from --pose, the root
rotation from --orient (or, with --body-blend W, the root from --pose and joints 1-23 averaged);
keypoints are re-posed with anny24 and scored as the evaluator scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def swapped(a, b, body, trust=None, blend=None):
    persons = []
    for pa, pb in zip(a.persons, b.persons):
        if pa.track_id != pb.track_id or not np.array_equal(pa.frame_ids, pb.frame_ids):
            raise SystemExit("the two runs do not share tracks")
        pose = pa.pose.copy()
        if blend is not None:  # joints 1-23: chordal mean, weight `blend` on the second run
            import roma

            ra = roma.rotvec_to_rotmat(torch.from_numpy(pa.pose).double())
            rb = roma.rotvec_to_rotmat(torch.from_numpy(pb.pose).double())
            mixed = roma.special_procrustes((1.0 - blend) * ra + blend * rb)
            pose[:, 1:] = roma.rotmat_to_rotvec(mixed[:, 1:]).float().numpy()
        elif trust is None:
            pose[:, 0] = pb.pose[:, 0]
        else:
            from meshvid.geometry.rotations import (axis_angle_to_sixd, matrix_to_axis_angle,
                                                    sixd_to_matrix)
            from meshvid.pipeline.regressor import gated_root

            r = gated_root(axis_angle_to_sixd(torch.from_numpy(pa.pose[:, 0]).float()),
                           axis_angle_to_sixd(torch.from_numpy(pb.pose[:, 0]).float()), trust)
            pose[:, 0] = matrix_to_axis_angle(sixd_to_matrix(r)).numpy()
        with torch.no_grad():
            out = body.forward(torch.from_numpy(pose).float(),
                               torch.from_numpy(np.repeat(pa.betas[None], len(pose), 0)).float())
        t = pa.transl[:, None, :]
        persons.append(dataclasses.replace(pa, pose=pose, joints3d=out.joints.numpy() + t,
                                           keypoints3d=out.coco17.numpy() + t))
    return dataclasses.replace(a, persons=persons)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("--pose", type=Path, required=True)
    ap.add_argument("--orient", type=Path, required=True)
    ap.add_argument("--trust", type=float, nargs=2, default=None,
                    help="gate the swap as infer does (regressor.gated_root), degrees")
    ap.add_argument("--body-blend", type=float, default=None,
                    help="instead of the root swap: joints 1-23 averaged with the second run's "
                    "(this weight on it), the root kept from --pose (an ensemble probe)")
    a = ap.parse_args(argv)
    from meshvid.body import load_body_model
    from meshvid.eval.multiview.dataset import load_multiview
    from meshvid.eval.multiview.run import summarize_pairs
    from meshvid.eval.multiview.score import MESH, score_camera
    from meshvid.export.npz import load_npz

    data = load_multiview(a.root)
    body = load_body_model("anny24")
    rows = {}
    for label, fn in (("pose run", lambda x, y: x), ("orient run", lambda x, y: y),
                      ("swapped", lambda x, y: swapped(x, y, body, a.trust, a.body_blend))):
        pairs = []
        for name in data.videos:
            x, y = load_npz(a.pose / f"{name}.npz"), load_npz(a.orient / f"{name}.npz")
            pairs += score_camera(fn(x, y), data.cameras[name], data.references)[0]
        m = summarize_pairs(pairs, MESH)
        rows[label] = m
        print(f"{label:12s} MPJPE {m['mpjpe']:.1f}  PA-MPJPE {m['pa_mpjpe']:.1f}  accel "
              f"{m['accel']:.1f}  trunk pitch {m['trunk_pitch_deg']:.1f}")
    print(json.dumps({k: {q: v[q] for q in ('mpjpe', 'pa_mpjpe', 'accel', 'trunk_pitch_deg')}
                      for k, v in rows.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
