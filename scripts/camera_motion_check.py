"""Measurements of the camera motion estimate and the world frame (docs/camera-motion.md).

    python scripts/camera_motion_check.py synthetic [--frames 300]
        rotation error on synthetic pans and tilts (10 s at 30 fps), time per frame
    python scripts/camera_motion_check.py reframe CLIP OUT.mp4 [--yaw 15 --pitch 4] [--crop]
        CLIP seen by a virtual camera turning inside it (exact rotation homography), or with
        --crop a window sliding over it (the first-order version); OUT.truth.npz holds the
        true rotations and the focal length to give `meshvid infer --focal`
    python scripts/camera_motion_check.py reframe CLIP OUT.mp4 --freeze 100 --frames 90
        one frame held (people standing still) while the virtual camera turns
    python scripts/camera_motion_check.py standing OUT.npz
        each person's root drift in the world frame and in the camera frame
    python scripts/camera_motion_check.py compare STILL.npz MOVING.npz OUT.truth.npz
        each person's root trajectory from the re-framed clip against the still clip's: in
        the world frame (camera motion) and in the camera frame (as if the camera were still)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def synthetic(args) -> None:
    from meshvid.scene.synthetic import (SyntheticPan, estimate_pan, pan_rotations,
                                         rotation_errors_deg)

    cases = {"pan 40 deg": dict(yaw_deg=40.0), "tilt 40 deg": dict(yaw_deg=0.0, pitch_deg=40.0),
             "pan 30 + tilt 20 + roll 5": dict(yaw_deg=30.0, pitch_deg=20.0, roll_deg=5.0),
             "pan 40 + 1 deg handheld shake": dict(yaw_deg=40.0, shake_deg=1.0),
             "still": dict(yaw_deg=0.0)}
    for name, kw in cases.items():
        R = pan_rotations(args.frames, **kw, seed=5)
        t0 = time.perf_counter()
        motion = estimate_pan(SyntheticPan(R, size=(1280, 720), focal=1230.0, distractor=True),
                              mode="auto")
        wall = time.perf_counter() - t0
        err = rotation_errors_deg(motion.R, R)
        print(json.dumps({"case": name, "frames": args.frames, "mode": motion.mode,
                          "max_err_deg": round(float(err.max()), 4),
                          "final_err_deg": round(float(err[-1]), 4),
                          "ms_per_frame_estimate": round(motion.diagnostics["ms_per_frame"], 2),
                          "anchors": motion.diagnostics["anchors"],
                          "wall_s_with_rendering": round(wall, 1)}))


def reframe(args) -> None:
    from meshvid.geometry.camera import default_focal_length
    from meshvid.io.video import open_source
    from meshvid.io.writer import VideoWriter
    from meshvid.scene.synthetic import pan_rotations, reframe as turn

    source = open_source(args.clip, stop=None if args.freeze is not None else args.frames)
    width, height = source.info.width, source.info.height
    n = min(source.info.num_frames or args.frames, args.frames or 10**9)
    if args.freeze is not None:
        n = args.frames
    focal = default_focal_length(width, height)
    out = (int(width * args.window) // 2 * 2,
           int(height * (args.window_h or args.window)) // 2 * 2)
    s = np.linspace(0.0, 1.0, n)
    ramp = s * s * (3 - 2 * s)
    if args.crop:  # window centred at frame 0, sliding right (and down by pitch)
        dx = np.round(ramp * focal * np.tan(np.radians(args.yaw))).astype(int)
        dy = np.round(ramp * focal * np.tan(np.radians(args.pitch))).astype(int)
        x0, y0 = (width - out[0]) // 2, (height - out[1]) // 2
        dx = np.clip(dx, -x0, width - out[0] - x0)
        dy = np.clip(dy, -y0, height - out[1] - y0)
        # to first order the camera turned towards the window's centre
        from meshvid.scene.world import rotation_between

        R = np.stack([rotation_between(np.array([dx[i] / focal, dy[i] / focal, 1.0]),
                                       np.array([0.0, 0.0, 1.0])) for i in range(n)])
    else:
        R = pan_rotations(n, yaw_deg=args.yaw, pitch_deg=args.pitch, shake_deg=args.shake,
                          seed=3)
    frames = iter(source)
    if args.freeze is not None:  # one frame held: the people stand still in a still world
        held = next(f for f in source if f.index == args.freeze)
        from meshvid.records import Frame

        frames = (Frame(i, i / source.info.fps, held.image) for i in range(n))
    with VideoWriter(args.out, source.info.fps) as writer:
        for frame in frames:
            i = frame.index
            if args.crop:
                img = frame.image[y0 + dy[i]:y0 + dy[i] + out[1], x0 + dx[i]:x0 + dx[i] + out[0]]
            else:
                img = turn(frame.image, R[i], focal, out)
            writer.write(np.ascontiguousarray(img), frame.timestamp)
    truth = args.out.rsplit(".", 1)[0] + ".truth.npz"
    np.savez(truth, R=R, focal=focal, out_size=np.array(out), src_size=np.array((width, height)),
             crop=args.crop, dx=dx if args.crop else np.zeros(n),
             dy=dy if args.crop else np.zeros(n))
    print(json.dumps({"video": args.out, "truth": truth, "frames": n, "focal": focal,
                      "size": out, "max_turn_deg": float(np.degrees(np.arccos(np.clip(
                          (np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1))).max())}))


def _to_source_pixels(boxes: np.ndarray, frame_ids: np.ndarray, truth) -> np.ndarray:
    """Box centres of the re-framed clip (T, 4) -> pixels of the still clip (T, 2)."""
    c = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    w, h = truth["out_size"]
    sw, sh = truth["src_size"]
    f = float(truth["focal"])
    if bool(truth["crop"]):
        x0, y0 = (sw - w) // 2, (sh - h) // 2
        return c + np.stack([x0 + truth["dx"][frame_ids], y0 + truth["dy"][frame_ids]], 1)
    rays = np.concatenate([(c - [w / 2, h / 2]) / f, np.ones((len(c), 1))], 1)
    src = np.einsum("tji,tj->ti", truth["R"][frame_ids], rays)  # R^T ray: camera 0
    return src[:, :2] / src[:, 2:] * f + [sw / 2, sh / 2]


def match_still(person, still, truth):
    """The still run's person whose box centres (>= 10 frames) the re-framed `person`'s map back
    onto: (frames, still person, rows of `person`, rows of it), or None."""
    centres = _to_source_pixels(person.boxes, person.frame_ids, truth)
    best = None
    for other in still.persons:
        common, ia, ib = np.intersect1d(person.frame_ids, other.frame_ids, return_indices=True)
        if len(common) < 10:
            continue
        oc = np.stack([(other.boxes[ib, 0] + other.boxes[ib, 2]) / 2,
                       (other.boxes[ib, 1] + other.boxes[ib, 3]) / 2], 1)
        close = np.linalg.norm(centres[ia] - oc, axis=1) < 0.25 * (
            other.boxes[ib, 3] - other.boxes[ib, 1])
        if close.sum() >= 10 and (best is None or close.sum() > best[0]):
            best = (int(close.sum()), other, ia[close], ib[close])
    return best


def probe_parser(doc: str, moving_only_help: str) -> argparse.ArgumentParser:
    """The arguments the offline probes of a re-framing share: the still run's NPZ, the
    re-framed run's, its truth, and --moving-only (the still run left as written)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("still")
    ap.add_argument("moving")
    ap.add_argument("truth")
    ap.add_argument("--moving-only", action="store_true", help=moving_only_help)
    return ap


def root_rms(still, moving, truth, cam_R: np.ndarray, labels, moving_root, still_root) -> dict:
    """Per label, [(frames, RMS m)] of every matched person: the re-framed run's root
    (`moving_root(person, label)`, camera frame (T, 3)) taken into the first camera by the
    camera path's rotation `cam_R`, against the still run's (`still_root(person, label)`)."""
    rows = {label: [] for label in labels}
    for person in moving.persons:
        best = match_still(person, still, truth)
        if best is None:
            continue
        n, other, ia, ib = best
        for label in labels:
            world = np.einsum("tji,tj->ti", cam_R[person.frame_ids], moving_root(person, label))
            err = (world @ cam_R[0].T)[ia] - still_root(other, label)[ib]
            rows[label].append((n, float(np.sqrt((np.linalg.norm(err, axis=1) ** 2).mean()))))
    return rows


def rms_summary(rows: list[tuple[int, float]]) -> str:
    """"all people (frame-weighted) RMS, how many within 0.25 m, per person" of `root_rms` rows."""
    w = np.array([n for n, _ in rows], float)
    r = np.array([e for _, e in rows])
    return (f"all people {np.sqrt((w * r ** 2).sum() / w.sum()):.3f} m, within 0.25 m "
            f"{(r <= 0.25).sum()} of {len(r)}; per person {np.round(r, 2).tolist()}")


def compare(args) -> None:
    from meshvid.export.npz import load_npz

    still = load_npz(args.still)
    moving_data = np.load(args.moving)
    moving = load_npz(args.moving)
    truth = np.load(args.truth)
    cam_R = moving_data["cam_R"]
    offsets = np.concatenate([[0], np.cumsum(moving_data["track_lengths"])])
    rows = []
    for k, person in enumerate(moving.persons):
        sl = slice(int(offsets[k]), int(offsets[k + 1]))
        world_root = moving_data["joints3d_world"][sl][:, 0].astype(np.float64)
        cam0_root = world_root @ cam_R[0].T  # the world -> the first camera (= the still one)
        camera_root = person.joints3d[:, 0].astype(np.float64)  # as if the camera were still
        best = match_still(person, still, truth)
        if best is None:
            continue
        n, other, ia, ib = best
        ref = other.joints3d[ib, 0].astype(np.float64)
        w, h = truth["out_size"]
        b = person.boxes[ia]
        inside = (b[:, 0] > 4) & (b[:, 1] > 4) & (b[:, 2] < w - 4) & (b[:, 3] < h - 4)

        def rms(x, sel=slice(None)):
            return float(np.sqrt((np.linalg.norm(x[sel] - ref[sel], axis=1) ** 2).mean()))

        rows.append({"track": person.track_id, "still_track": other.track_id, "frames": n,
                     "world_rms_m": round(rms(cam0_root[ia]), 3),
                     "camera_frame_rms_m": round(rms(camera_root[ia]), 3),
                     "world_rms_xy_m": round(float(np.sqrt((np.linalg.norm(
                         (cam0_root[ia] - ref)[:, :2], axis=1) ** 2).mean())), 3),
                     "world_rms_z_m": round(float(np.sqrt(((cam0_root[ia] - ref)[:, 2] ** 2
                                                           ).mean())), 3),
                     "camera_frame_rms_xy_m": round(float(np.sqrt((np.linalg.norm(
                         (camera_root[ia] - ref)[:, :2], axis=1) ** 2).mean())), 3),
                     "still_root_path_m": round(float(np.linalg.norm(np.diff(ref, axis=0),
                                                                     axis=1).sum()), 2),
                     # frames where the person is wholly inside the re-framed window (a person
                     # cut by its edge gets another depth from the keypoint fit)
                     "inside_frames": int(inside.sum()),
                     "inside_world_rms_m": round(rms(cam0_root[ia], inside), 3)
                     if inside.any() else None,
                     "inside_camera_frame_rms_m": round(rms(camera_root[ia], inside), 3)
                     if inside.any() else None})
    for r in rows:
        print(json.dumps(r))
    if rows:
        w = np.array([r["frames"] for r in rows], float)
        world = np.sqrt((w * np.square([r["world_rms_m"] for r in rows])).sum() / w.sum())
        cam = np.sqrt((w * np.square([r["camera_frame_rms_m"] for r in rows])).sum() / w.sum())
        print(json.dumps({"all_people_world_rms_m": round(float(world), 3),
                          "all_people_camera_frame_rms_m": round(float(cam), 3),
                          "ratio": round(float(world / cam), 3)}))


def standing(args) -> None:
    """Each person's root over a clip of a held frame seen by a turning camera: they stand
    still, so any motion of the root is error (world frame against camera frame)."""
    data = np.load(args.moving)
    offsets = np.concatenate([[0], np.cumsum(data["track_lengths"])])
    for k, tid in enumerate(data["track_ids"].tolist()):
        sl = slice(int(offsets[k]), int(offsets[k + 1]))
        out = {"track": tid, "frames": int(offsets[k + 1] - offsets[k])}
        for name, root in (("world", data["joints3d_world"][sl][:, 0]),
                           ("camera_frame", data["joints3d"][sl][:, 0])):
            root = root.astype(np.float64)
            dev = root - np.median(root, axis=0)
            out[f"{name}_rms_from_median_m"] = round(float(np.sqrt((np.linalg.norm(
                dev, axis=1) ** 2).mean())), 3)
            out[f"{name}_horizontal_rms_m"] = round(float(np.sqrt((dev[:, [0, 2]] ** 2
                                                                   ).sum(1).mean())), 3)
            out[f"{name}_end_to_end_m"] = round(float(np.linalg.norm(root[-1] - root[0])), 3)
        print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synthetic")
    s.add_argument("--frames", type=int, default=300)
    r = sub.add_parser("reframe")
    r.add_argument("clip")
    r.add_argument("out")
    r.add_argument("--yaw", type=float, default=15.0)
    r.add_argument("--pitch", type=float, default=4.0)
    r.add_argument("--shake", type=float, default=0.5)
    r.add_argument("--window", type=float, default=0.7, help="window width / frame width")
    r.add_argument("--window-h", type=float, default=None, help="window height / frame "
                   "height (default: --window); keep the people inside it")
    r.add_argument("--frames", type=int, default=None)
    r.add_argument("--crop", action="store_true")
    r.add_argument("--freeze", type=int, default=None, help="hold this source frame for "
                   "--frames frames (people standing still while the camera turns)")
    c = sub.add_parser("compare")
    c.add_argument("still")
    c.add_argument("moving")
    c.add_argument("truth")
    st = sub.add_parser("standing")
    st.add_argument("moving")
    args = ap.parse_args()
    {"synthetic": synthetic, "reframe": reframe, "compare": compare,
     "standing": standing}[args.cmd](args)


if __name__ == "__main__":
    main()
