"""Issue 25: gravity as `meshvid infer`'s own stage finds it (meshvid.scene.vanishing.GravityStage:
the image centre as principal point, the run's focal, 7 sampled frames, people masked) on each
lab4cam camera of a `meshvid eval --dataset multiview` folder, against the calibration's (z-up
world): the people's mean up from the same NPZ, the lines alone, and the lines with the people's
up choosing between two well-supported families (what infer does). Degrees.

    python train/lab4cam_gravity_stage.py ../shared/realbench/lab4cam out/calf/infer
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from meshvid.eval.multiview.dataset import load_multiview
    from meshvid.export.npz import load_npz
    from meshvid.io.video import open_source
    from meshvid.scene.vanishing import GravityStage
    from meshvid.scene.world import body_ups, estimate_up

    root, infer_dir = Path(sys.argv[1]), Path(sys.argv[2])
    data = load_multiview(root)
    for npz in sorted(infer_dir.glob("*/cam_*.npz"), key=lambda p: (p.name, p.parent.name)):
        name = npz.stem
        cam, result = data.cameras[name], load_npz(npz)
        stage = GravityStage("lines", result.persons, open_source(data.videos[name]).info.num_frames,
                             cam.size, float(result.focal_length))
        for frame in open_source(data.videos[name]):
            stage(frame)
        truth = cam.R[:, 2]
        people = estimate_up(body_ups(result.persons))
        alone, chosen = stage.finish(None), stage.finish(None, people)

        def off(u):
            return "none" if u is None else \
                f"{np.degrees(np.arccos(np.clip(np.asarray(u) @ truth, -1, 1))):.1f}"

        print(f"{name} ({npz.parent.name}, focal {float(result.focal_length):.0f}): people "
              f"{off(people)}, lines {off(alone and alone.up)}, lines + people "
              f"{off(chosen and chosen.up)}")


if __name__ == "__main__":
    main()
