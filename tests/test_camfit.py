"""The keypoint-fitted perspective camera (meshvid/geometry/camfit.py) and the alignment metric."""

import numpy as np
import torch

from meshvid.geometry.camfit import fit_translation, project, smooth_depth

F, SIZE = 1000.0, (1280, 720)
CENTER = torch.tensor([640.0, 360.0], dtype=torch.float64)


def _scene(b=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(b, 17, 3, generator=g, dtype=torch.float64) * torch.tensor([0.25, 0.5, 0.15],
                                                                                 dtype=torch.float64)
    t = torch.stack([torch.rand(b, generator=g) * 4 - 2, torch.rand(b, generator=g) - 0.5,
                     torch.rand(b, generator=g) * 10 + 3], -1).double()
    return pts, t, project(pts, t, F, CENTER)


def test_fit_recovers_translation_despite_outliers_and_bad_start():
    pts, t, kp = _scene()
    kp = kp + torch.randn_like(kp)  # 1 px noise
    kp[:, :3] += 150.0  # three keypoints grossly wrong in every frame
    scores = torch.full(kp.shape[:2], 0.9, dtype=torch.float64)
    start = t * torch.tensor([1.3, 0.7, 1.5], dtype=torch.float64) + 0.2  # a poor network camera
    fit = fit_translation(pts, kp, scores, start, F, SIZE)
    assert fit.fitted.all()
    err = (fit.transl - t).norm(dim=-1)
    assert float(err.median()) < 0.05 * float(t[:, 2].median()), err
    # the robust fit lands the good keypoints on the detector's within a few pixels
    good = (project(pts, fit.transl, F, CENTER) - kp)[:, 3:].norm(dim=-1)
    assert float(good.median()) < 3.0


def test_fit_falls_back_to_the_network_camera_without_enough_keypoints():
    pts, t, kp = _scene(b=4)
    scores = torch.zeros(4, 17, dtype=torch.float64)
    scores[:, :3] = 0.9  # only three confident keypoints
    scores[1] = 0.9
    fit = fit_translation(pts, kp, scores, t + 1.0, F, SIZE)
    assert fit.fitted.tolist() == [False, True, False, False]
    assert torch.allclose(fit.transl[0], t[0] + 1.0)
    assert torch.allclose(fit.transl[1], t[1], atol=0.02)  # the weak prior pulls a little


def test_smooth_depth_removes_spikes_limits_speed_and_keeps_the_image_position():
    n = 60
    times = np.arange(n) / 30.0
    z = 5.0 + 0.5 * times  # walking away at 0.5 m/s
    z[20] += 1.8  # a single-frame depth blunder (the jump in the sports2d demo)
    z[40:] += 0.6  # a step the person cannot make in 1/30 s
    root = np.stack([0.3 * z, -0.1 * z, z], 1)  # a root on a fixed viewing ray
    out = smooth_depth(root, times, np.arange(n), max_speed=4.0)
    assert np.abs(np.diff(out[:, 2])).max() <= 4.0 / 30.0 + 1e-9
    assert abs(out[20, 2] - (5.0 + 0.5 * times[20])) < 0.1
    ray = out[:, :2] / out[:, 2:]
    assert np.allclose(ray, [0.3, -0.1])  # same pixel as before
    # a gap splits the track: the two pieces are smoothed apart
    ids = np.r_[np.arange(30), np.arange(100, 130)]
    far = root.copy()
    far[30:, 2] += 3.0
    far[30:, :2] = far[30:, :2] * (far[30:, 2:] / root[30:, 2:])
    out = smooth_depth(far, ids / 30.0, ids)
    assert out[30, 2] > out[29, 2] + 2.5


def test_alignment_metric_measures_projected_mesh_keypoints_against_the_detector():
    from meshvid.export.motion import MotionResult, PersonMotion
    from meshvid.pipeline.alignment import measure_alignment, root_depth_jumps

    t = 6
    pts, transl, kp = _scene(b=t, seed=3)
    kp3 = (pts + transl[:, None]).float().numpy()
    det = kp.numpy().copy()
    boxes = np.stack([det[..., 0].min(1), det[..., 1].min(1), det[..., 0].max(1),
                      det[..., 1].max(1)], 1)
    height = boxes[:, 3] - boxes[:, 1]
    det[:, 0, 0] += 0.10 * height  # the nose 10 % of the box height off in every frame
    scores = np.full((t, 17), 0.9, np.float32)
    scores[:, 1] = 0.4  # under the 0.5 threshold: not compared
    interp = np.zeros(t, bool)
    interp[2] = True  # a bridged frame: its keypoints are not observations
    joints = np.zeros((t, 24, 3), np.float32)
    joints[:, 0, 2] = [5.0, 5.1, 5.2, 5.5, 5.6, 5.6]
    person = PersonMotion(track_id=1, frame_ids=np.arange(t), timestamps=np.arange(t) / 30,
                          pose=np.zeros((t, 24, 3)), betas=np.zeros(10), transl=transl.numpy(),
                          boxes=boxes, keypoints2d=det, keypoint_scores=scores, keypoints3d=kp3,
                          joints3d=joints, interpolated=interp)
    res = MotionResult([person], fps=30, body_model="anny24", image_size=SIZE, focal_length=F)
    a = measure_alignment(res)
    assert a.person_frames == 5 and len(a.errors) == 5 * 16
    s = a.summary()
    assert abs(s["per_keypoint_mean_pct"]["nose"] - 10.0) < 0.01 and "left_eye" not in s["per_keypoint_mean_pct"]
    assert s["within_5pct"] == round(15 / 16, 3)
    assert abs(root_depth_jumps(res)["max_depth_step_m"] - 0.3) < 1e-5
