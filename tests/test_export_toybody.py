"""A small synthetic body model (boxes on an SMPL-like skeleton, blended weights) implementing
meshvid/body/base.py's BodyModel interface, so the exporters are tested against the interface
only, fast, and without the shipped body. Also: motion fixtures used by the export tests."""

from __future__ import annotations

import numpy as np
import torch

from meshvid.body.base import BodyModel, BodyOutput
from meshvid.body.joints import SMPL_24_PARENTS
from meshvid.export.motion import MotionResult, PersonMotion

# SMPL-like rest joints, body frame: x to the body's left, y up, z out of the chest (metres).
_REST = np.array([
    [0.00, 0.93, 0.00], [0.09, 0.85, 0.00], [-0.09, 0.85, 0.00], [0.00, 1.03, -0.01],
    [0.10, 0.48, 0.00], [-0.10, 0.48, 0.00], [0.00, 1.16, 0.01], [0.10, 0.08, -0.03],
    [-0.10, 0.08, -0.03], [0.00, 1.22, 0.02], [0.11, 0.02, 0.10], [-0.11, 0.02, 0.10],
    [0.00, 1.44, 0.00], [0.07, 1.35, 0.00], [-0.07, 1.35, 0.00], [0.00, 1.52, 0.04],
    [0.18, 1.38, -0.01], [-0.18, 1.38, -0.01], [0.44, 1.38, -0.02], [-0.44, 1.38, -0.02],
    [0.69, 1.38, -0.01], [-0.69, 1.38, -0.01], [0.77, 1.38, -0.01], [-0.77, 1.38, -0.01],
]) - np.array([0.0, 1.13, 0.0])  # pelvis near the origin, as in SMPL


def _box(a: np.ndarray, b: np.ndarray, half: float) -> np.ndarray:
    """8 corners of a box around segment a->b (first 4 at a, last 4 at b)."""
    d = b - a
    d = d / (np.linalg.norm(d) + 1e-9)
    u = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    ring = [half * (su * u + sv * v) for su, sv in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
    return np.array([a + r for r in ring] + [b + r for r in ring])


_BOX_FACES = np.array([
    [0, 1, 2], [0, 2, 3], [4, 6, 5], [4, 7, 6], [0, 4, 5], [0, 5, 1],
    [1, 5, 6], [1, 6, 2], [2, 6, 7], [2, 7, 3], [3, 7, 4], [3, 4, 0],
])


class ToyBody(BodyModel):
    name = "toy"

    def __init__(self) -> None:
        super().__init__()
        parents = SMPL_24_PARENTS
        verts, faces, weights = [], [], []
        for j, p in enumerate(parents):
            kids = [k for k, q in enumerate(parents) if q == j]
            tail = _REST[{0: 3, 9: 12}.get(j, kids[0])] if kids else _REST[j] + 0.5 * (
                _REST[j] - _REST[p])
            corners = _box(_REST[j], tail, 0.04)
            w = np.zeros((8, 24))
            w[4:, j] = 1.0
            if p >= 0:  # head end blends with the parent: exercises blended weights
                w[:4, j], w[:4, p] = 0.6, 0.4
            else:
                w[:4, j] = 1.0
            faces.append(_BOX_FACES + 8 * j)
            verts.append(corners)
            weights.append(w)
        self.register_buffer("v_template", torch.tensor(np.concatenate(verts), dtype=torch.float32))
        self.register_buffer("j_template", torch.tensor(_REST, dtype=torch.float32))
        self.register_buffer("weights", torch.tensor(np.concatenate(weights), dtype=torch.float32))
        self._faces = np.concatenate(faces).astype(np.int64)

    @property
    def faces(self) -> np.ndarray:
        return self._faces

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def lbs_weights(self) -> torch.Tensor:
        return self.weights

    def _shape(self, points: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        # betas[0]: overall size, betas[1]: width; linear in the betas like a PCA shape space.
        scale = torch.stack([1 + 0.05 * betas[:, 0] + 0.05 * betas[:, 1],
                             1 + 0.05 * betas[:, 0], 1 + 0.05 * betas[:, 0]], -1)
        return points[None] * scale[:, None, :]

    def rest_shape(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._shape(self.v_template, betas), self._shape(self.j_template, betas)

    def forward_rotmat(self, rotmats, betas, transl=None) -> BodyOutput:
        rest_v, rest_j = self.rest_shape(betas)
        rots, pos = [], []
        for j, p in enumerate(self.parents):
            if p < 0:
                rots.append(rotmats[:, j])
                pos.append(rest_j[:, j])
            else:
                rots.append(rots[p] @ rotmats[:, j])
                pos.append(pos[p] + (rots[p] @ (rest_j[:, j] - rest_j[:, p])[..., None])[..., 0])
        world = torch.stack(rots, 1)
        joints = torch.stack(pos, 1)
        # Skinning: v -> sum_j w_j (R_j (v - rest_j) + p_j)
        per_joint = torch.einsum("bjxy,bvy->bvjx", world, rest_v) + (
            joints - (world @ rest_j[..., None])[..., 0])[:, None]
        vertices = (per_joint * self.weights[None, :, :, None]).sum(2)
        if transl is not None:
            vertices = vertices + transl[:, None]
            joints = joints + transl[:, None]
        transforms = torch.zeros(*world.shape[:2], 4, 4)
        transforms[..., :3, :3] = world
        transforms[..., :3, 3] = joints
        transforms[..., 3, 3] = 1
        return BodyOutput(vertices=vertices, joints=joints, lsp14=joints[:, :14],
                          coco17=joints[:, :17], joint_transforms=transforms)


def upright_root(t: int, phase: float = 0.0) -> np.ndarray:
    """Root rotations putting the body upright in camera space (180 deg about x: body y up ->
    camera -y), turning slowly about the vertical axis."""
    from scipy.spatial.transform import Rotation

    flip = Rotation.from_rotvec([np.pi, 0.0, 0.0])
    yaw = Rotation.from_rotvec(np.stack([np.zeros(t), phase + np.linspace(0, 1.2, t),
                                         np.zeros(t)], -1))
    return (flip * yaw).as_rotvec()


def walking_person(track_id: int, frame_ids: np.ndarray, fps: float, seed: int,
                   x0: float = 0.0) -> PersonMotion:
    """A plausible moving person (swinging limbs, turning, walking sideways) in camera space."""
    rng = np.random.default_rng(seed)
    t = len(frame_ids)
    time_s = frame_ids / fps
    pose = np.zeros((t, 24, 3))
    pose[:, 0] = upright_root(t, phase=0.3 * seed)
    swing = np.sin(2 * np.pi * 1.0 * time_s)
    pose[:, 1, 0], pose[:, 2, 0] = 0.5 * swing, -0.5 * swing  # hips
    pose[:, 4, 0], pose[:, 5, 0] = 0.4 * (1 + swing), 0.4 * (1 - swing)  # knees
    pose[:, 16, 2], pose[:, 17, 2] = -1.1, 1.1  # arms down-ish
    pose[:, 18, 1], pose[:, 19, 1] = 0.6 * swing, 0.6 * swing  # elbows
    pose[:, 3, 1] = 0.3 * np.sin(2 * np.pi * 0.5 * time_s)  # torso twist
    pose[:, 15] = 0.2 * rng.standard_normal(3)
    transl = np.stack([x0 + 0.6 * time_s, np.full(t, 0.35), 4.0 + 0.3 * np.sin(time_s)], -1)
    return PersonMotion(
        track_id=track_id, frame_ids=frame_ids, timestamps=time_s, pose=pose,
        betas=np.concatenate([rng.standard_normal(2), np.zeros(8)]), transl=transl,
        cam=np.tile([0.8, 0.0, 0.1], (t, 1)), boxes=np.tile([100, 50, 300, 450], (t, 1)),
        keypoints2d=rng.uniform(0, 500, (t, 17, 2)), keypoint_scores=np.ones((t, 17)),
    )


def two_person_result(frames: int = 24, fps: float = 24.0) -> MotionResult:
    """Person 1 over every frame; person 3 appears late and has a 3-frame gap."""
    ids_a = np.arange(frames)
    ids_b = np.array([f for f in range(frames // 3, frames) if f not in (frames // 2,
                                                                        frames // 2 + 1,
                                                                        frames // 2 + 2)])
    body = ToyBody()
    persons = [walking_person(1, ids_a, fps, seed=1, x0=-0.8),
               walking_person(3, ids_b, fps, seed=2, x0=0.6)]
    for p in persons:  # fill joints3d / rest joints the way the pipeline does
        with torch.no_grad():
            out = body(torch.tensor(p.pose).float(),
                       torch.tensor(np.repeat(p.betas[None], len(p), 0)).float(),
                       torch.tensor(p.transl).float())
            p.joints3d = out.joints.numpy()
            p.rest_joints = body.rest_shape(torch.tensor(p.betas[None]).float())[1][0].numpy()
    return MotionResult(persons=persons, fps=fps, body_model="toy", image_size=(640, 480),
                        focal_length=600.0, source="synthetic")


def test_toybody_interface_and_numpy_fk_agree():
    from meshvid.export.rig import person_fk

    body = ToyBody()
    result = two_person_result(frames=6)
    p = result.persons[0]
    w = body.lbs_weights
    assert torch.allclose(w.sum(1), torch.ones(body.num_vertices))
    assert body.faces.max() < body.num_vertices
    _, joints = person_fk(p, p.rest_joints)
    assert np.abs(joints - p.joints3d).max() < 1e-5
    # Zero pose reproduces the rest shape.
    betas = torch.tensor(p.betas[None]).float()
    out = body(torch.zeros(1, 24, 3), betas)
    rest_v, rest_j = body.rest_shape(betas)
    assert torch.allclose(out.vertices, rest_v, atol=1e-6)
    assert torch.allclose(out.joints, rest_j, atol=1e-6)
