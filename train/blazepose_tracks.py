"""Issue 24: is a second, independent 2D pose model closer to the people than YOLO11n-pose?

MediaPipe BlazePose GHUM "full" (Apache-2.0; `pose_landmark_full.tflite` ships inside the
`mediapipe==0.10.14` wheel, the last with the `solutions` API and bundled models) on every
tracked person's square crop (padding 1.25, 256 px) of one camera, its 33 landmarks mapped to
COCO-17 and written per track row. Runs in its own environment, since mediapipe pins its own
protobuf and OpenCV (not a meshvid dependency):

    python -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.14 av
    /tmp/mpvenv/bin/python train/blazepose_tracks.py out/mv_base/infer/tracks/cam_01-*.tracks.json out/bp/cam_01.npz

then, in meshvid's environment, `python train/keypoint_source_compare.py
../shared/realbench/lab4cam out/mv_base/infer/tracks out/bp` scores both against the reference.
docs/training.md, "Issue 24, seventh session".
"""

import json, sys, time
import numpy as np, av, cv2
import mediapipe as mp

COCO_FROM_BP = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
src, dst = sys.argv[1], sys.argv[2]
cx = int(sys.argv[3]) if len(sys.argv) > 3 else 1
d = json.load(open(src))
by_frame = {}
for ti, t in enumerate(d["tracks"]):
    for r, (f, interp) in enumerate(zip(t["frame_ids"], t["interpolated"])):
        if not interp:
            by_frame.setdefault(f, []).append((ti, r))
out_kp = {ti: np.full((t["num_frames"], 17, 2), np.nan, np.float32) for ti, t in enumerate(d["tracks"])}
out_vis = {ti: np.zeros((t["num_frames"], 17), np.float32) for ti, t in enumerate(d["tracks"])}
pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=cx, min_detection_confidence=0.3)
t0 = time.time(); n = 0
with av.open(d["video"]["path"]) as c:
    for f, frame in enumerate(c.decode(video=0)):
        if f not in by_frame:
            continue
        img = frame.to_ndarray(format="rgb24")
        H, W = img.shape[:2]
        for ti, r in by_frame[f]:
            x0, y0, x1, y1 = d["tracks"][ti]["boxes"][r]
            cxm, cym = (x0 + x1) / 2, (y0 + y1) / 2
            side = 1.25 * max(x1 - x0, y1 - y0)
            s = int(round(side)); ox, oy = int(round(cxm - side / 2)), int(round(cym - side / 2))
            crop = np.zeros((s, s, 3), np.uint8)
            ax0, ay0, ax1, ay1 = max(ox, 0), max(oy, 0), min(ox + s, W), min(oy + s, H)
            if ax1 <= ax0 or ay1 <= ay0:
                continue
            crop[ay0 - oy:ay1 - oy, ax0 - ox:ax1 - ox] = img[ay0:ay1, ax0:ax1]
            crop = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_AREA)
            res = pose.process(crop)
            n += 1
            if res.pose_landmarks is None:
                continue
            lm = res.pose_landmarks.landmark
            for k, b in enumerate(COCO_FROM_BP):
                out_kp[ti][r, k] = (ox + lm[b].x * s, oy + lm[b].y * s)
                out_vis[ti][r, k] = lm[b].visibility
print(f"{n} crops in {time.time() - t0:.1f} s")
np.savez(dst, **{f"kp{t['id']}": out_kp[i] for i, t in enumerate(d["tracks"])},
         **{f"vis{t['id']}": out_vis[i] for i, t in enumerate(d["tracks"])})
