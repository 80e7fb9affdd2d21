"""The shared LBS: hand-checked cases and agreement with smplx's own LBS (SMPL's convention)."""

import math

import roma
import torch

from meshvid.body.joints import SMPL_24_PARENTS
from meshvid.body.lbs import forward_kinematics, lbs


def test_identity_pose_returns_rest():
    torch.manual_seed(0)
    v, j = torch.randn(2, 50, 3), torch.randn(2, 24, 3)
    w = torch.rand(50, 24)
    w /= w.sum(1, keepdim=True)
    rot = torch.eye(3).expand(2, 24, 3, 3)
    verts, joints, tf = lbs(rot, v, j, w, SMPL_24_PARENTS)
    assert torch.allclose(verts, v, atol=1e-5)
    assert torch.allclose(joints, j, atol=1e-6)
    assert torch.allclose(tf[..., :3, 3], j, atol=1e-6)


def test_two_joint_chain_by_hand():
    # root at origin, child 1 m along +x; rotate the root 90 deg about +z: child goes to +y;
    # a vertex at (2, 0, 0) skinned to the child, with the child bent another 90 deg, ends at (-1, 1, 0).
    rz = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, math.pi / 2]))
    rot = torch.stack([rz, rz])[None]
    rest_j = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    verts, joints, _ = lbs(rot, torch.tensor([[[2.0, 0.0, 0.0]]]), rest_j, torch.tensor([[0.0, 1.0]]), (-1, 0))
    assert torch.allclose(joints[0, 1], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(verts[0, 0], torch.tensor([-1.0, 1.0, 0.0]), atol=1e-6)


def test_matches_smplx_lbs_without_pose_correctives():
    from smplx.lbs import lbs as smplx_lbs

    torch.manual_seed(1)
    b, v = 3, 40
    template = torch.randn(v, 3, dtype=torch.float64)
    shapedirs = torch.randn(v, 3, 10, dtype=torch.float64) * 0.01
    j_reg = torch.rand(24, v, dtype=torch.float64)
    j_reg /= j_reg.sum(1, keepdim=True)
    w = torch.rand(v, 24, dtype=torch.float64) ** 4
    w /= w.sum(1, keepdim=True)
    betas = torch.randn(b, 10, dtype=torch.float64)
    pose = torch.randn(b, 24, 3, dtype=torch.float64) * 0.5
    parents = torch.tensor(SMPL_24_PARENTS)
    ref_v, ref_j = smplx_lbs(betas, pose.reshape(b, -1), template, shapedirs,
                             torch.zeros(207, v * 3, dtype=torch.float64), j_reg, parents, w)
    rest_v = template + torch.einsum("vck,bk->bvc", shapedirs, betas)
    rest_j = torch.einsum("jv,bvc->bjc", j_reg, rest_v)
    verts, joints, _ = lbs(roma.rotvec_to_rotmat(pose), rest_v, rest_j, w, SMPL_24_PARENTS)
    assert torch.allclose(verts, ref_v, atol=1e-9)
    assert torch.allclose(joints, ref_j, atol=1e-9)


def test_forward_kinematics_world_rotations_compose_along_the_chain():
    torch.manual_seed(2)
    rot = roma.random_rotmat((1, 24))
    world, _ = forward_kinematics(rot, torch.zeros(1, 24, 3), SMPL_24_PARENTS)
    # left_wrist (20): pelvis(0) -> spine1(3) -> spine2(6) -> spine3(9) -> collar(13) -> shoulder(16) -> elbow(18) -> wrist
    chain = [0, 3, 6, 9, 13, 16, 18, 20]
    expected = torch.eye(3)
    for j in chain:
        expected = expected @ rot[0, j]
    assert torch.allclose(world[0, 20], expected, atol=1e-5)
