"""`--refine`: fit every track's pose and translation to its detector keypoints over time.

DSD-SATN's pose is a regression from one crop (and a 9-frame window); nothing makes its limbs
land on the person's limbs in the image. This stage starts from the network's pose and the
keypoint-fitted translation (meshvid/geometry/camfit.py) and minimises, for all person-frames
of all tracks at once,

    E =   sum_k w_k rho(|| pi(K_k(theta, t)) - x_k || / h)      keypoints (robust, per box height)
        + l_prior  * prior(theta)                                 Gaussian pose prior (pose_prior.py)
        + l_init   * || theta - theta_net ||^2                    stay near the network's pose
        + l_smooth * || accel(joints - root) ||^2 + l_root * || accel(root) ||^2   (m/s², per track)
        + l_depth  * (t_z - t_z,fit)^2                           depth stays where the camera fit put it

over the axis-angle pose of the 24 joints and the per-frame translation, with one shape per
track (the network's mean betas: the bone lengths of one person). The keypoints K_k are the
mesh's COCO-17 points moved by forward kinematics alone (BodyModel.coco17_rig: exact for anny24),
so an iteration costs a few batched 3x3 products per joint, not a skinned mesh; Adam, a fixed
number of steps, on every person-frame of the clip in one batch.

Why each term: without the prior and the pull towards the network, a 2D fit explains a wrist
by any elbow angle along the viewing ray (depth ambiguity); the network is the only source of
depth order, so it anchors the fit, and the prior keeps what the network does not know (a
hidden arm) in the range of real poses. The smoothness term is on joint positions, in time
(seconds), so a clip's frame rate does not change it. Keypoints under `min_score` do not count,
and the robust Geman-McClure penalty caps what one wrong keypoint (a left/right swap) can pull.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from meshvid.body.joints import SMPL_24_PARENTS


@dataclass
class RefineOptions:
    iterations: int = 60
    lr: float = 0.02
    min_score: float = 0.3
    robust: float = 0.05  # Geman-McClure scale, fraction of the box height
    w_prior: float = 2e-3
    w_init: float = 0.3
    w_smooth: float = 1e-5  # per (m / s^2)^2 of the root-relative joints
    w_smooth_transl: float = 2e-6  # per (m / s^2)^2 of the translation (0: crops, no shared frame)
    w_depth: float = 1e-2  # per m^2


@dataclass
class RefineInput:
    """All person-frames to fit, rows of all tracks concatenated (a track's rows consecutive)."""

    pose: torch.Tensor  # (N, 24, 3) axis-angle, the network's pose (start and anchor)
    transl: torch.Tensor  # (N, 3) camera-space translation (the camera fit's)
    rig: torch.Tensor  # (N, 17, 24, 4) BodyModel.coco17_rig of each row's (track's) betas
    rest_joints: torch.Tensor  # (N, 24, 3) rest joints of each row's betas
    keypoints: torch.Tensor  # (N, 17, 2) detector keypoints, pixels
    scores: torch.Tensor  # (N, 17) detector confidences (0 where missing)
    box_height: torch.Tensor  # (N,) pixels
    prev: torch.Tensor  # (N,) long: index of the same track's previous row, -1 at a track start
    dt: torch.Tensor  # (N,) seconds since that previous row (anything where prev = -1)
    focal: float
    center: tuple[float, float]  # principal point, pixels


@dataclass
class RefineResult:
    pose: torch.Tensor  # (N, 24, 3)
    transl: torch.Tensor  # (N, 3)
    error_before: float  # mean confident-keypoint error / box height, before and after
    error_after: float


def rig_keypoints(pose: torch.Tensor, rig: torch.Tensor, rest_joints: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """pose (N, 24, 3), rig (N, 17, 24, 4), rest joints (N, 24, 3) -> COCO-17 (N, 17, 3) and
    joints (N, 24, 3), both without translation."""
    from meshvid.geometry.rotations import axis_angle_to_matrix

    return rig_keypoints_rotmat(axis_angle_to_matrix(pose), rig, rest_joints)


def rig_keypoints_rotmat(rotmats: torch.Tensor, rig: torch.Tensor, rest_joints: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """rig_keypoints with local rotations (N, 24, 3, 3)."""
    from meshvid.body.lbs import forward_kinematics, skinning_transforms

    rot, joints = forward_kinematics(rotmats, rest_joints, SMPL_24_PARENTS)
    maps = skinning_transforms(rot, joints, rest_joints)  # (N, 24, 3, 4)
    return torch.einsum("njrc,nkjc->nkr", maps, rig), joints


def _project(points: torch.Tensor, focal: float, center: torch.Tensor) -> torch.Tensor:
    return focal * points[..., :2] / points[..., 2:3].clamp(min=0.1) + center


def keypoint_error(points: torch.Tensor, inp: RefineInput, min_score: float) -> float:
    """Mean distance / box height over keypoints with score > min_score (the yardstick of
    `meshvid bench align`)."""
    center = torch.tensor(inp.center, dtype=points.dtype)
    d = (_project(points, inp.focal, center) - inp.keypoints).norm(dim=-1) / inp.box_height[:, None]
    ok = inp.scores > min_score
    return float(d[ok].mean()) if ok.any() else float("nan")


def refine(inp: RefineInput, opts: RefineOptions | None = None) -> RefineResult:
    """Fit pose and translation of every row (module doc). Returns the fitted pose and
    translation; rows without a confident keypoint keep theirs up to the smoothness term."""
    from meshvid.fitting.pose_prior import load_prior

    opts = opts or RefineOptions()
    prior = load_prior()
    threads = torch.get_num_threads()
    # hundreds of tiny (N, 3, 3) products per step: more threads only add synchronisation
    # (measured: 2 threads 4x slower than 1 on the 2-core machine under load)
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():
            return _refine(inp, opts, prior)
    finally:
        torch.set_num_threads(threads)


def _refine(inp: RefineInput, opts: RefineOptions, prior) -> RefineResult:
    dtype = torch.float32
    pose0 = inp.pose.to(dtype)
    t0 = inp.transl.to(dtype)
    rig, rest = inp.rig.to(dtype), inp.rest_joints.to(dtype)
    kp, box = inp.keypoints.to(dtype), inp.box_height.to(dtype).clamp(min=1.0)
    w = torch.where(inp.scores > opts.min_score, inp.scores, torch.zeros_like(inp.scores)).to(dtype)
    w_sum = w.sum().clamp(min=1e-6)
    center = torch.tensor(inp.center, dtype=dtype)
    # second differences need the row before the previous one too, inside the same track
    prev = inp.prev
    has1 = prev >= 0
    prev2 = torch.where(has1, prev[prev.clamp(min=0)], torch.full_like(prev, -1))
    has2 = has1 & (prev2 >= 0)
    i2 = has2.nonzero().squeeze(1)
    p1, p2 = prev[i2], prev2[i2]
    dt1 = inp.dt.to(dtype)[i2].clamp(min=1e-3)
    dt2 = inp.dt.to(dtype)[p1].clamp(min=1e-3)
    n_acc = max(len(i2), 1)

    from meshvid.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    # The unknown is a rotation applied after each of the network's joint rotations,
    # R_j = R0_j exp(delta_j), starting at delta = 0: well conditioned even where the root's
    # axis-angle is near pi (a person facing the camera), and |delta| is the geodesic distance
    # to the network's pose, which the init term penalises.
    rot0 = axis_angle_to_matrix(pose0)
    delta = torch.zeros_like(pose0, requires_grad=True)
    transl = t0.clone().requires_grad_(True)
    optim = torch.optim.Adam([delta, transl], lr=opts.lr)
    with torch.no_grad():
        before = keypoint_error(rig_keypoints_rotmat(rot0, rig, rest)[0] + t0[:, None], inp, 0.5)
    for _ in range(opts.iterations):
        optim.zero_grad(set_to_none=True)
        rotmats = rot0 @ axis_angle_to_matrix(delta)
        coco, joints = rig_keypoints_rotmat(rotmats, rig, rest)
        coco = coco + transl[:, None]
        r = (_project(coco, inp.focal, center) - kp).norm(dim=-1) / box[:, None]
        s2 = opts.robust ** 2
        data = (w * (r * r * s2 / (r * r + s2))).sum() / w_sum / s2
        loss = data + opts.w_prior * prior.energy(matrix_to_axis_angle(rotmats)).mean()
        loss = loss + opts.w_init * (delta[:, 1:] ** 2).sum((1, 2)).mean()
        loss = loss + opts.w_depth * ((transl[:, 2] - t0[:, 2]) ** 2).mean()
        if len(i2):
            # body (root-relative joints) and root path separately: a crop-based camera (eval)
            # has no frame shared across time, a video's has
            local = torch.cat([joints - joints[:, :1], (joints[:, :1] + transl[:, None])], dim=1)
            v1 = (local[i2] - local[p1]) / dt1[:, None, None]
            v0 = (local[p1] - local[p2]) / dt2[:, None, None]
            acc2 = ((v1 - v0) / (0.5 * (dt1 + dt2))[:, None, None]) ** 2
            loss = loss + (opts.w_smooth * acc2[:, :24].sum((1, 2)) +
                           opts.w_smooth_transl * acc2[:, 24].sum(-1)).sum() / n_acc
        loss.backward()
        optim.step()
    with torch.no_grad():
        rotmats = rot0 @ axis_angle_to_matrix(delta.detach())
        pose = matrix_to_axis_angle(rotmats)
        transl = transl.detach()
        after = keypoint_error(rig_keypoints_rotmat(rotmats, rig, rest)[0] + transl[:, None], inp, 0.5)
    return RefineResult(pose=pose, transl=transl, error_before=before, error_after=after)
