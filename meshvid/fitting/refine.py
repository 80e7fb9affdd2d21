"""`--refine`: fit every track's pose and translation to its detector keypoints over time.

DSD-SATN's pose is a regression from one crop (and a 9-frame window); nothing makes its limbs
land on the person's limbs in the image. This stage starts from the network's pose and the
keypoint-fitted translation (meshvid/geometry/camfit.py) and minimises, for all person-frames
of all tracks at once,

    E =   sum_k w_k rho(|| pi(K_k(theta, t)) - x_k || / h)      keypoints (robust, per box height)
        + l_prior  * prior(theta)                                 Gaussian pose prior (pose_prior.py)
        + l_init   * || theta - theta_net ||^2                    stay near the network's pose
        + l_knee   * (z_knee - (z_hip + z_ankle) / 2)^2             no knee bend the keypoints cannot see
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

from meshvid.body.joints import SMPL_24, SMPL_24_PARENTS, index

KNEES = [index(SMPL_24, "left_knee"), index(SMPL_24, "right_knee")]
HIPS = [index(SMPL_24, "left_hip"), index(SMPL_24, "right_hip")]
ANKLES = [index(SMPL_24, "left_ankle"), index(SMPL_24, "right_ankle")]


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
    # per m^2: each root-relative joint's depth (along the camera's axis, which the 2D keypoints
    # do not see) pulled to the network's, the image plane left to the keypoints (issue 24:
    # lab4cam PA-MPJPE -2 mm; 1 gives -2.6 mm but costs twice the 2D alignment; docs/infer.md,
    # "Depth from the network")
    w_init_depth: float = 0.3
    # per rad^2 of the root rotation's change, times the row's `root_anchor` (issue 24): where
    # the orientation network was trusted its root carries the camera-height cue that the 2D
    # keypoints barely constrain, and the fit otherwise tilts the trunk back upright
    w_root: float = 10.0
    # per m^2 of each knee's depth off the midpoint of its hip and ankle (issue 24): the
    # networks' lifting prior bends standing and walking people's knees about twice as much as
    # they are (lab4cam: 22-34 deg against 14, also when fed exact 2D), and the pull towards
    # the network's depth keeps that bend wherever the keypoints cannot see it, a knee bent
    # towards or away from the camera; a bend across the image the keypoints still decide
    # (lab4cam pipeline PA-MPJPE -1.0 mm, alignment unchanged; docs/eval-multiview.md)
    w_knee_depth: float = 3.0


@dataclass
class RefineInput:
    """All person-frames to fit, rows of all tracks concatenated (a track's rows consecutive)."""

    pose: torch.Tensor  # (N, 24, 3) axis-angle, the network's pose (start and anchor)
    transl: torch.Tensor  # (N, 3) camera-space translation (the camera fit's)
    rig: torch.Tensor  # (P, 17, 24, 4) BodyModel.coco17_rig of each person's (track's) betas
    rest_joints: torch.Tensor  # (P, 24, 3) rest joints of each person's betas
    group: torch.Tensor  # (N,) long: each row's person; the rows of one person are consecutive
    keypoints: torch.Tensor  # (N, 17, 2) detector keypoints, pixels
    scores: torch.Tensor  # (N, 17) detector confidences (0 where missing)
    box_height: torch.Tensor  # (N,) pixels
    prev: torch.Tensor  # (N,) long: index of the same track's previous row, -1 at a track start
    dt: torch.Tensor  # (N,) seconds since that previous row (anything where prev = -1)
    focal: float
    center: tuple[float, float]  # principal point, pixels
    # (N,) in [0, 1]: how much the root rotation is held at its start (None: free everywhere)
    root_anchor: torch.Tensor | None = None


@dataclass
class RefineResult:
    pose: torch.Tensor  # (N, 24, 3)
    transl: torch.Tensor  # (N, 3)
    error_before: float  # mean confident-keypoint error / box height, before and after
    error_after: float


def rig_keypoints(pose: torch.Tensor, rig: torch.Tensor, rest_joints: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """pose (N, 24, 3), rig (N, 17, 24, 4), rest joints (N, 24, 3) -> COCO-17 (N, 17, 3) and
    joints (N, 24, 3), both without translation (one rig per row; the fit itself groups rows
    by person, `_grouped_keypoints`)."""
    from meshvid.body.lbs import forward_kinematics, skinning_transforms
    from meshvid.geometry.rotations import axis_angle_to_matrix

    rot, joints = forward_kinematics(axis_angle_to_matrix(pose), rest_joints, SMPL_24_PARENTS)
    maps = skinning_transforms(rot, joints, rest_joints)  # (N, 24, 3, 4)
    return torch.einsum("njrc,nkjc->nkr", maps, rig), joints


def keypoint_error(points: torch.Tensor, inp: RefineInput, min_score: float) -> float:
    """Mean distance / box height over keypoints with score > min_score (the yardstick of
    `meshvid bench align`)."""
    from meshvid.geometry.camfit import project

    center = torch.tensor(inp.center, dtype=points.dtype)
    d = (project(points, points.new_zeros(len(points), 3), inp.focal, center) - inp.keypoints).norm(dim=-1) / inp.box_height[:, None]
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


def _segments(group: torch.Tensor) -> list[tuple[int, int, int]]:
    """(N,) person per row -> [(start, end, person)] runs of consecutive equal values."""
    g = group.tolist()
    out, start = [], 0
    for i in range(1, len(g) + 1):
        if i == len(g) or g[i] != g[start]:
            out.append((start, i, g[start]))
            start = i
    return out


def _grouped_keypoints(maps: torch.Tensor, rig: torch.Tensor, segments) -> torch.Tensor:
    """maps (N, 24, 3, 4) skinning transforms, rig (P, 17, 24, 4) -> (N, 17, 3): per person one
    (3n x 96) @ (96 x 17) product instead of a per-row contraction with a per-row rig."""
    parts = []
    for s, e, p in segments:
        m = maps[s:e].permute(0, 2, 1, 3).reshape((e - s) * 3, -1)  # rows (n, r), cols (j, c)
        parts.append((m @ rig[p].reshape(rig.shape[1], -1).T).view(e - s, 3, -1).transpose(1, 2))
    return torch.cat(parts)


def _rotations(rot0_root: torch.Tensor, pose0_body: torch.Tensor, delta: torch.Tensor
               ) -> torch.Tensor:
    """(N, 24, 3, 3) local rotations: the root R0 exp(delta_0) (residual: well conditioned where
    its axis-angle is near pi, a person facing the camera), every other joint exp(pose0 + delta)
    (additive: their angles stay far from pi, and the prior reads the axis-angle directly)."""
    from meshvid.geometry.rotations import axis_angle_to_matrix

    root = rot0_root @ axis_angle_to_matrix(delta[:, 0])
    body = axis_angle_to_matrix(pose0_body + delta[:, 1:])
    return torch.cat([root[:, None], body], dim=1)


def _refine(inp: RefineInput, opts: RefineOptions, prior) -> RefineResult:
    from meshvid.body.lbs import forward_kinematics, skinning_transforms
    from meshvid.geometry.camfit import project
    from meshvid.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    dtype = torch.float32
    pose0 = inp.pose.to(dtype)
    t0 = inp.transl.to(dtype)
    rig = inp.rig.to(dtype)
    rest = inp.rest_joints.to(dtype)[inp.group]  # (N, 24, 3)
    segments = _segments(inp.group)
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

    def posed(rotmats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rot, joints = forward_kinematics(rotmats, rest, SMPL_24_PARENTS)
        return _grouped_keypoints(skinning_transforms(rot, joints, rest), rig, segments), joints

    anchor = (inp.root_anchor.to(dtype) if inp.root_anchor is not None and opts.w_root > 0
              else None)
    rot0_root = axis_angle_to_matrix(pose0[:, 0])
    pose0_body = pose0[:, 1:]
    delta = torch.zeros_like(pose0, requires_grad=True)
    transl = t0.clone().requires_grad_(True)
    optim = torch.optim.Adam([delta, transl], lr=opts.lr)
    with torch.no_grad():
        coco0, joints0 = posed(axis_angle_to_matrix(pose0))
        before = keypoint_error(coco0 + t0[:, None], inp, 0.5)
        depth0 = joints0[..., 2] - joints0[:, :1, 2]  # (N, 24) root-relative depth
    s2 = opts.robust ** 2
    for _ in range(opts.iterations):
        optim.zero_grad(set_to_none=True)
        coco, joints = posed(_rotations(rot0_root, pose0_body, delta))
        r = (project(coco, transl, inp.focal, center) - kp).norm(dim=-1) / box[:, None]
        data = (w * (r * r * s2 / (r * r + s2))).sum() / w_sum / s2
        body_pose = torch.cat([pose0[:, :1], pose0_body + delta[:, 1:]], dim=1)  # root unused
        loss = data + opts.w_prior * prior.energy(body_pose).mean()
        loss = loss + opts.w_init * (delta[:, 1:] ** 2).sum((1, 2)).mean()
        if anchor is not None:
            loss = loss + opts.w_root * (anchor * (delta[:, 0] ** 2).sum(-1)).mean()
        loss = loss + opts.w_depth * ((transl[:, 2] - t0[:, 2]) ** 2).mean()
        if opts.w_init_depth > 0:
            depth = joints[..., 2] - joints[:, :1, 2]
            loss = loss + opts.w_init_depth * ((depth - depth0) ** 2).sum(-1).mean()
        if opts.w_knee_depth > 0:
            z = joints[..., 2]
            off = z[:, KNEES] - 0.5 * (z[:, HIPS] + z[:, ANKLES])
            loss = loss + opts.w_knee_depth * (off ** 2).sum(-1).mean()
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
        delta = delta.detach()
        rotmats = _rotations(rot0_root, pose0_body, delta)
        pose = torch.cat([matrix_to_axis_angle(rotmats[:, 0])[:, None], pose0_body + delta[:, 1:]], dim=1)
        transl = transl.detach()
        after = keypoint_error(posed(rotmats)[0] + transl[:, None], inp, 0.5)
    return RefineResult(pose=pose, transl=transl, error_before=before, error_after=after)
