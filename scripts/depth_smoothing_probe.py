"""Issue 25 probe: how much a longer depth smoothing would bring the world roots of a re-framed
clip closer to the still clip's (docs/camera-motion.md, "Depth smoothing, measured offline").
Re-smooths each track's camera-frame root depth (geometry.camfit.smooth_depth, Gaussian sigma in
seconds; 0: as written) in both runs, moves the re-framed run's into the first camera, matches
people as `camera_motion_check.py compare` does and prints the frame-weighted RMS per sigma.

    python scripts/depth_smoothing_probe.py still/demo.npz turn/turn.npz turn.truth.npz 0,0.12,0.3,0.5,0.8
    python scripts/depth_smoothing_probe.py ... --moving-only   # the still run left as written
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from camera_motion_check import probe_parser, rms_summary, root_rms

    from meshvid.export.npz import load_npz
    from meshvid.geometry.camfit import smooth_depth

    ap = probe_parser(__doc__, "re-smooth the re-framed run only (the still run as written): "
                      "what a smoothing applied to moving-camera clips alone would give")
    ap.add_argument("sigmas", help="comma-separated Gaussian sigmas, seconds (0: as written)")
    a = ap.parse_args()
    sigmas = [float(s) for s in a.sigmas.split(",")]
    still, moving = load_npz(a.still), load_npz(a.moving)
    cam_R = np.load(a.moving)["cam_R"]  # (F, 3, 3) world -> camera
    fps = still.fps

    def root(person, sigma):
        r = person.joints3d[:, 0].astype(np.float64)
        if sigma <= 0:
            return r
        return smooth_depth(r, person.frame_ids / fps, person.frame_ids, None, sigma_s=sigma)

    rows = root_rms(still, moving, np.load(a.truth), cam_R, sigmas, root,
                    lambda p, s: root(p, 0.0 if a.moving_only else s))
    for s in sigmas:
        print(f"sigma {s:g} s: {rms_summary(rows[s])}")


if __name__ == "__main__":
    main()
