"""Picture of foot locking on one person of a motion NPZ: foot heights above the floor over
time and the feet's paths along the floor, before and after (docs/img/foot_lock.png).

    python scripts/plot_foot_lock.py out/demo/demo.npz --track 2 -o docs/img/foot_lock.png
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from meshvid.body import load_body_model
    from meshvid.export.floor import rest_shape, with_floor
    from meshvid.export.footlock import FootLockParams, foot_lock_person
    from meshvid.export.npz import load_npz

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("npz")
    parser.add_argument("--track", type=int, required=True)
    parser.add_argument("-o", "--output", default="foot_lock.png")
    args = parser.parse_args()
    result = load_npz(args.npz)
    body = load_body_model(result.body_model)
    result = with_floor(result, body)
    up, height = result.floor.plane(False)
    person = result.person(args.track)
    rest_v, rest_j = rest_shape(body, person.betas)
    weights = body.lbs_weights.numpy().astype(np.float64)
    lock = foot_lock_person(person, rest_v, rest_j, weights, up, height, FootLockParams())
    frames = person.frame_ids
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [2, 2, 1.4]})
    for ax, (name, state) in zip(axes[:2], (("before", lock.before), ("after", lock.after))):
        for f, (side, color) in enumerate((("left", "tab:blue"), ("right", "tab:orange"))):
            low = state.height[:, f].min(axis=1)
            ax.plot(frames, 100 * low, color=color, label=f"{side} foot")
            on = lock.contacts[:, f].any(axis=1)
            ax.fill_between(frames, -5, 60, where=on, color=color, alpha=0.12, step="mid")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylim(-5, 60)
        ax.set_xlabel("frame")
        ax.set_ylabel("lowest point of the foot above the floor (cm)")
        ax.set_title(f"track {args.track} {name} foot lock (shaded: contact)")
        ax.legend(loc="upper right")
    # Paths along the floor (top view): camera x vs depth.
    ax = axes[2]
    for name, state, style in (("before", lock.before, ":"), ("after", lock.after, "-")):
        for f, color in ((0, "tab:blue"), (1, "tab:orange")):
            p = state.point[:, f, 0]
            ax.plot(p[:, 0], p[:, 2], style, color=color, lw=1, label=f"{name}" if f == 0 else None)
    ax.set_xlabel("camera x (m)")
    ax.set_ylabel("depth (m)")
    ax.set_title("heels seen from above")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=80)


if __name__ == "__main__":
    main()
