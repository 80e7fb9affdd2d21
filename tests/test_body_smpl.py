"""SMPL backend on a small, correctly shaped SMPL-format file written here (random but valid)."""

import pickle

import numpy as np
import pytest
import roma
import torch

from meshvid.body import load_body_model
from meshvid.body.joints import COCO_17, LSP_14, SMPL_24, SMPL_24_PARENTS
from meshvid.body.lbs import lbs
from meshvid.errors import MissingAssetError

V = 6890  # SMPL's topology (the keypoint vertex ids refer to it)


def smpl_arrays(seed: int = 0, posedirs_scale: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    template = rng.normal(size=(V, 3)).astype(np.float32) * 0.3
    j_reg = rng.random((24, V)) ** 8
    j_reg /= j_reg.sum(1, keepdims=True)
    weights = rng.random((V, 24)) ** 6
    weights /= weights.sum(1, keepdims=True)
    kintree = np.stack([np.array(SMPL_24_PARENTS), np.arange(24)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # what the official files store for "no parent"
    return {
        "v_template": template,
        "shapedirs": (rng.normal(size=(V, 3, 10)) * 0.01).astype(np.float32),
        "posedirs": (rng.normal(size=(V, 3, 207)) * posedirs_scale).astype(np.float32),
        "J_regressor": j_reg.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree,
        "f": rng.integers(0, V, size=(200, 3)).astype(np.int64),
    }


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("smpl")
    np.savez(d / "SMPL_NEUTRAL.npz", **smpl_arrays(0))
    np.savez(d / "SMPL_MALE.npz", **smpl_arrays(1, posedirs_scale=0.01))
    return d


def test_loads_through_smplx_and_matches_our_lbs(smpl_dir):
    body = load_body_model("smpl", smpl_dir=smpl_dir)
    assert body.name == "smpl" and body.num_vertices == V and body.faces.shape == (200, 3)
    assert load_body_model("smpl", smpl_dir=smpl_dir) is body  # cached
    data = smpl_arrays(0)
    torch.manual_seed(0)
    pose, betas = torch.randn(2, 24, 3) * 0.4, torch.randn(2, 10)
    out = body(pose, betas)
    # zero posedirs: SMPL reduces to the shared LBS on its own rest shape
    rest_v = torch.as_tensor(data["v_template"]) + torch.einsum("vck,bk->bvc", torch.as_tensor(data["shapedirs"]), betas)
    rest_j = torch.einsum("jv,bvc->bjc", torch.as_tensor(data["J_regressor"]), rest_v)
    ref_v, ref_j, _ = lbs(roma.rotvec_to_rotmat(pose), rest_v, rest_j, torch.as_tensor(data["weights"]), SMPL_24_PARENTS)
    assert torch.allclose(out.vertices, ref_v, atol=1e-4)
    assert torch.allclose(out.joints, ref_j, atol=1e-4)
    rv, rj = body.rest_shape(betas)
    assert torch.allclose(rv, rest_v, atol=1e-5) and torch.allclose(rj, rest_j, atol=1e-5)
    assert torch.allclose(body.lbs_weights.sum(1), torch.ones(V), atol=1e-5)


def test_outputs_keypoints_transl_and_gradients(smpl_dir):
    body = load_body_model("smpl", smpl_dir=smpl_dir, gender="male")  # has pose correctives
    pose = (torch.randn(3, 24, 3) * 0.3).requires_grad_()
    betas = torch.randn(3, 10).requires_grad_()
    transl = torch.randn(3, 3)
    a = body(pose, betas)
    b = body(pose, betas, transl)
    assert b.lsp14.shape == (3, len(LSP_14), 3) and b.coco17.shape == (3, len(COCO_17), 3)
    assert b.joint_transforms.shape == (3, 24, 4, 4)
    assert torch.allclose(b.joint_transforms[..., :3, 3], b.joints, atol=1e-5)
    assert torch.allclose(a.vertices + transl[:, None], b.vertices, atol=1e-5)
    assert torch.allclose(b.coco17[:, COCO_17.index("nose")], b.vertices[:, 332])
    assert torch.allclose(b.lsp14[:, LSP_14.index("left_knee")], b.joints[:, SMPL_24.index("left_knee")])
    # COCO limb keypoints: the joint plus anny24's rest offset (a few cm), turning with the joint
    k, j = COCO_17.index("left_shoulder"), SMPL_24.index("left_shoulder")
    off = b.coco17[:, k] - b.joints[:, j]
    assert torch.allclose(off.norm(dim=-1), body.coco_offsets[k].norm().expand(3), atol=1e-5)
    # (the shoulder's is the largest: the detector's shoulder, anny24.DETECTOR_SHOULDERS, sits
    # ~5 cm in from and above the arm's joint centre)
    assert 0.01 < float(body.coco_offsets[k].norm()) < 0.08
    rot = b.joint_transforms[:, j, :3, :3]
    assert torch.allclose(off, (rot @ body.coco_offsets[k][:, None])[..., 0], atol=1e-5)
    (b.vertices.square().mean() + b.lsp14.sum() + b.coco17.sum()).backward()
    assert pose.grad.abs().sum() > 0 and betas.grad.abs().sum() > 0


def test_env_var_and_chumpy_free_pickle(tmp_path, monkeypatch):
    with open(tmp_path / "SMPL_FEMALE.pkl", "wb") as fh:
        pickle.dump(smpl_arrays(2), fh)
    monkeypatch.setenv("MESHVID_SMPL_DIR", str(tmp_path))
    from meshvid.body.smpl import SmplBody

    body = SmplBody(gender="female")
    out = body(torch.zeros(1, 24, 3), torch.zeros(1, 10))
    assert torch.allclose(out.vertices[0], torch.as_tensor(smpl_arrays(2)["v_template"]), atol=1e-5)


def test_missing_smpl_files_say_what_to_download(tmp_path, monkeypatch):
    from meshvid.body.smpl import SmplBody

    monkeypatch.delenv("MESHVID_SMPL_DIR", raising=False)
    with pytest.raises(MissingAssetError, match="smpl.is.tue.mpg.de") as err:
        SmplBody()
    assert "\n" not in str(err.value) and "MESHVID_SMPL_DIR" in str(err.value)
    with pytest.raises(MissingAssetError, match="SMPL_NEUTRAL"):
        load_body_model("smpl", smpl_dir=tmp_path)  # empty folder
    with pytest.raises(MissingAssetError):
        SmplBody(smpl_dir=tmp_path / "does-not-exist")


def test_wrong_files_are_rejected(tmp_path):
    from meshvid.body.smpl import SmplBody

    bad = smpl_arrays(0)
    bad["v_template"] = bad["v_template"][:100]
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **bad)
    with pytest.raises(MissingAssetError, match="6890"):
        SmplBody(smpl_dir=tmp_path)
    (tmp_path / "SMPL_NEUTRAL.npz").write_bytes(b"not a zip")
    with pytest.raises(MissingAssetError, match="cannot read"):
        SmplBody(smpl_dir=tmp_path)
