"""anny24: the shipped file, its LBS against Anny's own posed mesh, shape space, keypoints."""

from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from meshvid.body import BODY_MODELS, load_body_model
from meshvid.body.joints import COCO_17, LSP_14, SMPL_24, SMPL_24_PARENTS
from meshvid.errors import InputError, MissingAssetError

FIXTURE = Path(__file__).parent / "data" / "anny24_reference.npz"
REPO = Path(__file__).resolve().parents[1]
J = {n: i for i, n in enumerate(SMPL_24)}


@pytest.fixture(scope="module")
def body():
    return load_body_model("anny24")


def test_loader_caches_and_rejects_unknown_names(body):
    assert "anny24" in BODY_MODELS and "smpl" in BODY_MODELS
    assert load_body_model() is body
    with pytest.raises(InputError):
        load_body_model("smplxx")


def test_missing_file_is_a_missing_asset(tmp_path):
    from meshvid.body.anny24 import Anny24Body

    with pytest.raises(MissingAssetError, match="build_anny24"):
        Anny24Body(tmp_path / "nope.safetensors")


def test_buffers_shapes_and_skinning_weights(body):
    v = body.num_vertices
    assert 5000 < v < 10000
    assert body.faces.shape[1] == 3 and body.faces.min() >= 0 and body.faces.max() < v
    w = body.lbs_weights
    assert w.shape == (v, 24)
    assert torch.all(w >= 0)
    assert torch.allclose(w.sum(1), torch.ones(v), atol=1e-5)
    assert tuple(body.parents) == SMPL_24_PARENTS
    # every joint drives some skin
    assert torch.all(w.max(0).values > 0.3)


def test_rest_pose_is_a_smpl_like_t_pose(body):
    verts, joints = body.rest_shape(torch.zeros(1, 10))
    verts, joints = verts[0], joints[0]
    height = verts[:, 1].max() - verts[:, 1].min()
    assert 1.4 < height < 2.0  # metres, y up
    # feet at the bottom, head at the top
    assert joints[J["left_ankle"], 1] < joints[J["left_knee"], 1] < joints[J["left_hip"], 1] < joints[J["neck"], 1]
    # x is the body's left
    for side, sign in (("left", 1), ("right", -1)):
        assert sign * joints[J[f"{side}_hip"], 0] > 0 and sign * joints[J[f"{side}_wrist"], 0] > 0.5
        # arms horizontal and straight along x
        arm = joints[J[f"{side}_wrist"]] - joints[J[f"{side}_shoulder"]]
        assert abs(arm[1]) < 0.02 and abs(arm[2]) < 0.02
        # legs straight down
        leg = joints[J[f"{side}_ankle"]] - joints[J[f"{side}_hip"]]
        assert abs(leg[0]) < 0.02 and abs(leg[2]) < 0.05
    # facing +z: the nose is in front of the head joint, toes in front of the ankles
    out = body(torch.zeros(1, 24, 3), torch.zeros(1, 10))
    assert out.coco17[0, COCO_17.index("nose"), 2] > joints[J["head"], 2] + 0.05
    assert joints[J["left_foot"], 2] > joints[J["left_ankle"], 2] + 0.05


def test_posed_anny24_matches_annys_own_posed_mesh(body):
    """Reference = Anny's own forward pass (rig cmu_mb) for the same SMPL-style rotations on the
    mapped bones, saved by train/build_anny24.py. Error sources: 10-D PCA residual, joint
    regressor, and LBS applied on the baked T-pose (largest near the shoulders)."""
    ref = np.load(FIXTURE)
    out = body(torch.as_tensor(ref["pose"]), torch.as_tensor(ref["betas"]))
    v_err = (out.vertices - torch.as_tensor(ref["vertices"])).norm(dim=-1)
    j_err = (out.joints - torch.as_tensor(ref["joints"])).norm(dim=-1)
    assert v_err.mean() < 0.005, f"mean vertex error {v_err.mean() * 1000:.2f} mm"
    assert v_err.max() < 0.03, f"max vertex error {v_err.max() * 1000:.2f} mm"
    assert j_err.mean() < 0.005 and j_err.max() < 0.02
    # and a wrong pose convention would be far off: transposed rotations give centimetres
    bad = body(-torch.as_tensor(ref["pose"]), torch.as_tensor(ref["betas"]))
    assert (bad.vertices - torch.as_tensor(ref["vertices"])).norm(dim=-1).mean() > 0.05


def test_bone_lengths_do_not_change_with_pose(body):
    torch.manual_seed(0)
    betas = torch.randn(4, 10)
    pose = torch.randn(4, 24, 3) * 0.6
    rest = body(torch.zeros(4, 24, 3), betas).joints
    posed = body(pose, betas).joints
    child = torch.arange(1, 24)
    parent = torch.tensor(SMPL_24_PARENTS[1:])
    length = lambda j: (j[:, child] - j[:, parent]).norm(dim=-1)  # noqa: E731
    assert torch.allclose(length(rest), length(posed), atol=1e-5)
    _, rest_j = body.rest_shape(betas)
    assert torch.allclose(rest, rest_j, atol=1e-5)


def test_shape_space_matches_recorded_pca(body):
    meta = body.meta
    ev = np.asarray(meta["explained_variance_per_component"])
    assert meta["explained_variance_10"] >= 0.99
    assert abs(ev.sum() - meta["explained_variance_10"]) < 1e-6
    # shapedirs are the principal directions scaled by their standard deviations: orthogonal,
    # with squared norms in the recorded variance ratios (so betas ~ N(0, 1))
    s = body.shapedirs.reshape(-1, 10).double()
    gram = s.T @ s
    off = gram - torch.diag(torch.diag(gram))
    assert off.abs().max() < 1e-3 * gram.diag().max()
    ratio = (gram.diag() / gram.diag()[0]).numpy()
    assert np.allclose(ratio, ev / ev[0], rtol=1e-3, atol=1e-6)
    # +/-2 sigma on the first component spans children to tall adults
    hs = [body.rest_shape(torch.tensor([[b] + [0.0] * 9]))[0][0, :, 1] for b in (-2.0, 2.0)]
    heights = sorted(float(h.max() - h.min()) for h in hs)
    assert heights[0] < 1.4 and heights[1] > 1.75


def test_gradients_flow_to_pose_betas_and_transl(body):
    pose = (torch.randn(2, 24, 3) * 0.3).requires_grad_()
    betas = torch.randn(2, 10).requires_grad_()
    transl = torch.randn(2, 3).requires_grad_()
    out = body(pose, betas, transl)
    loss = out.vertices.square().mean() + out.lsp14.square().mean() + out.coco17.square().mean() + out.joints.sum()
    loss.backward()
    for t in (pose, betas, transl):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_outputs_keypoints_and_translation(body):
    torch.manual_seed(3)
    pose, betas, transl = torch.randn(3, 24, 3) * 0.3, torch.randn(3, 10), torch.randn(3, 3)
    a = body(pose, betas)
    b = body(pose, betas, transl)
    assert b.vertices.shape == (3, body.num_vertices, 3)
    assert b.lsp14.shape == (3, len(LSP_14), 3) and b.coco17.shape == (3, len(COCO_17), 3)
    for x, y in ((a.vertices, b.vertices), (a.joints, b.joints), (a.lsp14, b.lsp14), (a.coco17, b.coco17)):
        assert torch.allclose(x + transl[:, None], y, atol=1e-5)
    assert torch.allclose(b.joint_transforms[..., :3, 3], b.joints, atol=1e-6)
    assert torch.allclose(b.joint_transforms[:, 0, :3, :3], roma.rotvec_to_rotmat(pose[:, 0]), atol=1e-5)
    # LSP limb joints are the kinematic joints; head_top is above the head, neck between
    assert torch.allclose(b.lsp14[:, LSP_14.index("left_knee")], b.joints[:, J["left_knee"]])
    rest = body(torch.zeros(1, 24, 3), torch.zeros(1, 10))
    top, neck, head = rest.lsp14[0, 13], rest.lsp14[0, 12], rest.joints[0, J["head"]]
    assert top[1] > head[1] + 0.1 and rest.joints[0, J["neck"], 1] < neck[1] < head[1] + 0.02
    # COCO keypoints sit where their names say
    c = {n: rest.coco17[0, i] for i, n in enumerate(COCO_17)}
    assert c["left_eye"][0] > c["nose"][0] > c["right_eye"][0]
    assert c["left_ankle"][1] < c["left_knee"][1] < c["left_hip"][1] < c["left_shoulder"][1] < c["nose"][1]
    assert (c["left_wrist"] - rest.joints[0, J["left_wrist"]]).norm() < 0.05


@pytest.fixture(scope="session")
def anny_source():
    """Anny itself (rig cmu_mb). Its model data is cached in ~/.cache/anny by scripts/setup.sh
    (built once: ~100 s on an idle 2-core machine); without that cache this builds it here,
    slowly, rather than skip."""
    import sys

    sys.path.insert(0, str(REPO / "train"))
    from build_anny24 import AnnySource

    return AnnySource()


def test_live_against_anny_forward(body, anny_source):
    """Anny itself, run now, for a fresh random pose (not from the fixture)."""
    src = anny_source
    phen = torch.full((1, 6), 0.5, dtype=torch.float64)
    torch.manual_seed(7)
    pose = torch.randn(1, 24, 3, dtype=torch.float64) * 0.4
    ref = src.posed_smpl(phen, roma.rotvec_to_rotmat(pose))
    from meshvid.body.anny24 import DEFAULT_PATH
    from safetensors.numpy import load_file

    f = load_file(str(DEFAULT_PATH))
    idx, bary = f["anny_vertex_index"], f["anny_vertex_bary"]
    ref_v = np.einsum("vkc,vk->vc", ref["vertices"][0].numpy()[idx], bary)
    betas = torch.as_tensor(np.load(FIXTURE)["betas"][:1])  # fixture case 0 is this phenotype
    out = body(pose.float(), betas)
    err = np.linalg.norm(out.vertices[0].detach().numpy() - ref_v, axis=1)
    assert err.mean() < 0.005 and err.max() < 0.03, (err.mean(), err.max())


def test_adult_betas_is_an_average_adult_between_the_reference_shapes(body):
    def stature(betas):
        verts, _ = body.rest_shape(torch.as_tensor(betas, dtype=torch.float32)[None])
        return float(verts[0, :, 1].max() - verts[0, :, 1].min())

    ref = body.meta["reference_betas"]
    male, female = (stature(ref[k]["betas"]) for k in ("average_adult_male", "average_adult_female"))
    adult = stature(body.adult_betas())
    # between the average woman and man, and taller than the population mean (children in it)
    assert female + 0.03 < adult < male - 0.03
    assert adult > stature(torch.zeros(10)) + 0.02
    # the generic body model's adult is its mean shape (SMPL's is an adult's)
    from meshvid.body.base import BodyModel

    assert torch.equal(BodyModel.adult_betas(body), torch.zeros(10))


def test_coco_shoulders_take_the_detectors_definition(body):
    """The shoulders sit where YOLO11n-pose puts them on renders of this body (DETECTOR_SHOULDERS:
    inward and up, shares of the trunk), not on Anny's outer shoulder; linear in the vertices, so
    any shape and pose carries them, and the other keypoints are Anny's own."""
    from meshvid.body.anny24 import DETECTOR_SHOULDERS, detector_shoulders, read_anny24

    t, _ = read_anny24()
    anny = t["coco17_regressor"] @ t["v_template"]
    ours = body.coco17_regressor @ body.v_template
    mid_hip = (anny[11] + anny[12]) / 2
    trunk = ((anny[5] + anny[6]) / 2 - mid_hip).norm()
    inward, up = DETECTOR_SHOULDERS
    for k, side in ((5, 1.0), (6, -1.0)):  # left shoulder at +x (anny24's x points left)
        moved = ours[k] - anny[k]
        assert float(-side * moved[0]) == pytest.approx(inward * trunk, rel=0.05)
        assert float(moved[1]) == pytest.approx(up * trunk, rel=0.05)
    others = [k for k in range(17) if k not in (5, 6)]
    torch.testing.assert_close(ours[others], anny[others])
    # a row mix: the same shift as a share of any shape's trunk, and zero shift is the identity
    torch.testing.assert_close(detector_shoulders(t["coco17_regressor"], t["v_template"], 0.0, 0.0),
                               t["coco17_regressor"])
    wide = body(torch.zeros(1, 24, 3), torch.full((1, 10), 1.5)).coco17[0]
    narrow = body(torch.zeros(1, 24, 3), torch.full((1, 10), -1.5)).coco17[0]
    for c in (wide, narrow):
        assert 0.0 < float(c[5, 0] - c[6, 0]) < float((c[5] - c[6]).norm()) + 1e-6
