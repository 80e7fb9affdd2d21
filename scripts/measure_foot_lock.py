"""Foot slide and contact height before/after foot locking, per person, for a motion NPZ.

    python scripts/measure_foot_lock.py out/demo/demo.npz

Contacts are those the lock detects (meshvid/export/footlock.py); slide is the mean motion
along the floor of a contact point between consecutive contact frames (mm/frame); height is
the median height above the floor of the contact points on floor contacts (cm); "lowest" is
the median over frames of the person's lowest vertex above the floor (m). Numbers in
docs/export.md come from this script.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    from meshvid.body import load_body_model
    from meshvid.export.floor import rest_shape, with_floor
    from meshvid.export.footlock import FootLockParams, contact_samples, foot_lock_person
    from meshvid.export.npz import load_npz
    from meshvid.export.rig import person_fk, skin

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("npz")
    parser.add_argument("--level", action="store_true")
    args = parser.parse_args()
    result = load_npz(args.npz)
    body = load_body_model(result.body_model)
    result = with_floor(result, body)
    up, height = result.floor.plane(args.level)
    weights = body.lbs_weights.numpy().astype(np.float64)
    rows = []
    for person in result.persons:
        rest_v, rest_j = rest_shape(body, person.betas)
        lock = foot_lock_person(person, rest_v, rest_j, weights, up, height, FootLockParams())
        row = {"track_id": person.track_id, "frames": len(person),
               "foot_contact_frames": int(lock.contacts.any(axis=2).sum()),
               "ledge_contact_frames": int((lock.contacts.any(axis=2)
                                            & (lock.ground > 0)[:, None]).sum())}
        on_floor = lock.contacts & (lock.ground == 0)[:, None, None]
        for name, state, motion in (("before", lock.before, person),
                                    ("after", lock.after, lock.person)):
            slide, _ = contact_samples(state, lock.contacts, up)
            _, h = contact_samples(state, on_floor, up)
            row[f"slide_mm_per_frame_{name}"] = round(1000 * float(slide.mean()), 2) \
                if slide.size else None
            row[f"contact_height_cm_{name}"] = round(100 * float(np.median(h)), 2) \
                if h.size else None
            world_rot, joints = person_fk(motion, rest_j)
            per_frame = np.concatenate([
                (skin(rest_v, rest_j, weights, world_rot[i:i + 32], joints[i:i + 32])
                 @ up).min(axis=1) for i in range(0, len(motion), 32)]) + height
            row[f"lowest_vertex_m_median_{name}"] = round(float(np.median(per_frame)), 3)
        rows.append(row)
    print(json.dumps({"camera_height_m": round(height, 4), "persons": rows}, indent=1))


if __name__ == "__main__":
    main()
