"""Picture of the export rigs' bind poses (front view): `--rig smpl`, `mixamo`, `ue5`
(with its floor-level root bone), bones drawn head to tail on the anny24 body's rest mesh.

    python scripts/plot_rigs.py -o docs/img/export_rigs.png
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from meshvid.body import load_body_model
    from meshvid.export.motion import MotionResult, PersonMotion
    from meshvid.export.presets import get_preset
    from meshvid.export.rig import build_rig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="export_rigs.png")
    args = parser.parse_args()
    body = load_body_model("anny24")
    pose = np.zeros((1, 24, 3))
    pose[0, 0] = [np.pi, 0.0, 0.0]  # upright in camera space
    person = PersonMotion(track_id=1, frame_ids=[0], timestamps=[0.0], pose=pose,
                          betas=np.zeros(10), transl=[[0.0, 0.0, 4.0]])
    result = MotionResult(persons=[person], fps=30.0, body_model="anny24",
                          image_size=(640, 480), focal_length=600.0)
    fig, axes = plt.subplots(1, 3, figsize=(14, 5.4))
    labels = {"smpl": ("pelvis", "left_hip", "spine3", "left_shoulder", "left_hand"),
              "mixamo": ("mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:Spine2",
                         "mixamorig:LeftArm", "mixamorig:LeftHandMiddle1"),
              "ue5": ("root", "pelvis", "spine_02", "spine_04", "upperarm_l", "neck_02",
                      "middle_metacarpal_l", "thigh_l")}
    for ax, rig in zip(axes, ("smpl", "mixamo", "ue5")):
        scene = build_rig(result, body, get_preset("blender"), rig=rig, with_camera=False)
        p = scene.persons[0]
        v = p.rest_vertices[::7]
        ax.scatter(v[:, 0], v[:, 2], s=0.3, color="0.8")
        for j, name in enumerate(p.bone_names):
            h, t = p.rest_joints[j], p.bone_tails[j]
            inserted = scene.parents[j] >= 0 and not np.any(p.weights[:, j] > 0)
            color = "tab:red" if inserted else "tab:blue"
            ax.plot([h[0], t[0]], [h[2], t[2]], "-", color=color, lw=2)
            ax.plot(h[0], h[2], "o", color="k", ms=3)
            if name in labels[rig]:
                ax.annotate(name, (h[0], h[2]), fontsize=8, xytext=(4, 2),
                            textcoords="offset points")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_aspect("equal")
        ax.set_xlim(-1.0, 1.0)
        ax.set_ylim(-0.1, 1.9)
        ax.set_title(f"--rig {rig}: {scene.rest_pose}, {len(p.bone_names)} bones", fontsize=10)
        ax.set_xlabel("X (m)")
    axes[0].set_ylabel("Z up (m)")
    fig.suptitle("bind poses, front view (red: inserted bones or the root, no skin weights)")
    fig.tight_layout()
    fig.savefig(args.output, dpi=80)


if __name__ == "__main__":
    main()
