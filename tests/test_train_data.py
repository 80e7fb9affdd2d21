"""Real data set loaders, each on a tiny file written here in the data set's released format."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from meshvid.body import joints as J
from meshvid.data import load_3dpw, load_h36m, load_lsp, load_mpii
from meshvid.data.crops import CropDataset
from meshvid.data.records import OPENPOSE_18
from meshvid.errors import InputError


def _write_image(path, w=64, h=48):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = 255  # left half white: crops can be checked
    Image.fromarray(arr).save(path)


def _write_3dpw(root, seq="courtyard_test_00", frames=3):
    rng = np.random.default_rng(0)
    kp = np.zeros((frames, 3, 18))
    kp[:, 0, :] = np.linspace(10, 50, 18)
    kp[:, 1, :] = np.linspace(5, 40, 18)
    kp[:, 2, :] = 0.9
    kp[1, 2, :] = 0.0  # frame 1: nobody visible -> skipped
    cam = np.tile(np.eye(4), (frames, 1, 1))
    cam[:, :3, 3] = [0.0, 0.0, 5.0]  # camera 5 m behind the world origin
    cam[:, :3, :3] = np.diag([1.0, -1.0, -1.0])  # a 180-degree turn about x
    data = {
        "sequence": seq, "img_frame_ids": np.arange(frames),
        "poses": [rng.normal(0, 0.1, (frames, 72))], "betas": [rng.normal(size=10)],
        "trans": [np.zeros((frames, 3))],
        "jointPositions": [np.tile(np.arange(72, dtype=float) / 100, (frames, 1))],
        "poses2d": [kp], "cam_poses": cam, "cam_intrinsics": np.eye(3),
        "campose_valid": [np.array([1, 1, 0])], "genders": ["f"],
    }
    (root / "sequenceFiles" / "test").mkdir(parents=True)
    with open(root / "sequenceFiles" / "test" / f"{seq}.pkl", "wb") as f:
        pickle.dump(data, f, protocol=2)
    return data


def test_3dpw_official_layout(tmp_path):
    data = _write_3dpw(tmp_path)
    samples = load_3dpw(tmp_path, "test")
    assert [s.frame for s in samples] == [0]  # frame 1 invisible, frame 2 camera invalid
    s = samples[0]
    assert s.has_3d and s.has_smpl and s.keypoints2d_set == "coco17"
    assert s.image.endswith("imageFiles/courtyard_test_00/image_00000.jpg")
    # World -> camera: (x, y, z) -> (x, -y, 5 - z).
    jw = data["jointPositions"][0][0].reshape(24, 3)
    np.testing.assert_allclose(s.joints3d, jw * [1, -1, -1] + [0, 0, 5])
    # COCO-17 left shoulder = OpenPose index 5.
    np.testing.assert_allclose(s.keypoints2d[J.COCO_17.index("left_shoulder"), :2],
                               data["poses2d"][0][0, :2, OPENPOSE_18.index("left_shoulder")])
    # The root orientation is turned into camera axes as well.
    from scipy.spatial.transform import Rotation

    r_world = Rotation.from_rotvec(data["poses"][0][0, :3]).as_matrix()
    np.testing.assert_allclose(Rotation.from_rotvec(s.pose[0]).as_matrix(),
                               np.diag([1.0, -1, -1]) @ r_world, atol=1e-9)


def test_3dpw_refuses_non_numpy_globals(tmp_path):
    (tmp_path / "sequenceFiles" / "test").mkdir(parents=True)
    # A pickle that would call os.system when loaded with the plain unpickler.
    payload = b"cos\nsystem\n(S'echo pwned'\ntR."
    (tmp_path / "sequenceFiles" / "test" / "evil.pkl").write_bytes(payload)
    with pytest.raises(InputError, match="refusing"):
        load_3dpw(tmp_path, "test")


def _spin_npz(path, n=4, with_3d=True):
    rng = np.random.default_rng(1)
    part = np.zeros((n, 24, 3))
    part[:, :, :2] = rng.uniform(10, 50, (n, 24, 2))
    part[:, :, 2] = 1
    d = {"imgname": np.array([f"images/S{9 if i < 2 else 1}_Directions 1.54138969_{i:06d}.jpg"
                              for i in range(n)]),
         "center": np.full((n, 2), 32.0), "scale": np.full(n, 0.2), "part": part}
    if with_3d:
        s = np.zeros((n, 24, 4))
        s[:, :, :3] = rng.normal(size=(n, 24, 3))
        s[:, :, 3] = 1
        d["S"] = s
        d["pose"] = rng.normal(size=(n, 72))
        d["shape"] = rng.normal(size=(n, 10))
    np.savez(path, **d)
    return d


def test_h36m_spin_npz(tmp_path):
    d = _spin_npz(tmp_path / "h36m_valid_protocol1.npz")
    samples = load_h36m(tmp_path / "h36m_valid_protocol1.npz", subjects=("S9", "S11"))
    assert len(samples) == 2 and all(s.subject == "S9" and s.action == "Directions" for s in samples)
    s = samples[0]
    assert s.box_size == pytest.approx(40.0) and s.has_3d and s.has_smpl
    # The first 14 SPIN joints are LSP-14 in order.
    np.testing.assert_allclose(s.joints3d, d["S"][0, :14, :3])
    np.testing.assert_allclose(s.keypoints2d, d["part"][0, :14])


def test_h36m_without_3d_is_refused(tmp_path):
    _spin_npz(tmp_path / "x.npz", with_3d=False)
    with pytest.raises(InputError, match="no 3D joints"):
        load_h36m(tmp_path / "x.npz")


def test_mpii_json_and_npz(tmp_path):
    joints = np.arange(32, dtype=float).reshape(16, 2)
    joints[6] = -1  # pelvis absent
    items = [{"image": "000001163.jpg", "center": [30, 20], "scale": 0.3,
              "joints": joints.tolist(), "joints_vis": [1] * 16}]
    (tmp_path / "train.json").write_text(json.dumps(items))
    (s,) = load_mpii(tmp_path / "train.json")
    assert s.box_size == pytest.approx(60.0) and not s.has_3d and not s.has_smpl
    # LSP neck <- MPII upper neck (8), head top <- 9, right wrist <- 10.
    np.testing.assert_allclose(s.keypoints2d[12, :2], joints[8])
    np.testing.assert_allclose(s.keypoints2d[13, :2], joints[9])
    np.testing.assert_allclose(s.keypoints2d[6, :2], joints[10])
    _spin_npz(tmp_path / "mpii_train.npz", with_3d=False)
    assert len(load_mpii(tmp_path / "mpii_train.npz")) == 4


@pytest.mark.parametrize("layout", ["lsp", "lspet"])
def test_lsp_joints_mat_layouts(tmp_path, layout):
    from scipy.io import savemat

    n = 3
    xy = np.random.default_rng(2).uniform(5, 40, (n, 14, 2))
    flag = np.ones((n, 14))
    flag[0, 3] = 0
    if layout == "lsp":  # 3 x 14 x N, third row = occluded
        joints = np.concatenate([xy, (1 - flag)[..., None]], -1).transpose(2, 1, 0)
    else:  # 14 x 3 x N, third row = visible
        joints = np.concatenate([xy, flag[..., None]], -1).transpose(1, 2, 0)
    savemat(tmp_path / "joints.mat", {"joints": joints})
    samples = load_lsp(tmp_path)
    assert len(samples) == n
    np.testing.assert_allclose(samples[0].keypoints2d[:, :2], xy[0])
    assert samples[0].keypoints2d[3, 2] == 0 and samples[0].keypoints2d[4, 2] == 1
    assert samples[1].image.endswith("images/im0002.jpg")


def test_crop_dataset_masks_and_coordinates(tmp_path):
    _spin_npz(tmp_path / "h.npz")
    _write_image(tmp_path / "images" / "S9_Directions 1.54138969_000000.jpg")
    samples = load_h36m(tmp_path / "h.npz", subjects=("S9",), keypoints_set="coco17")
    item = CropDataset(samples[:1], crop_size=32, keypoints_set="coco17")[0]
    assert item["image"].shape == (3, 32, 32)
    # Box centre 32, side 40: the image's white left half (x < 32) is the crop's left half.
    assert item["image"][:, :28, :15].mean() > 0.95 and item["image"][:, :, 17:].max() < 0.05
    assert item["image"][:, 30:, :15].max() < 0.05  # below the image: zero padding
    assert item["has_3d"] == 1 and item["has_smpl"] == 1
    s = samples[0]
    nose = s.keypoints2d[0, :2]
    np.testing.assert_allclose(item["keypoints"][0, :2].numpy(), 2 * (nose - 32) / 40, atol=1e-5)
    # 2D-only sample: the 3D and SMPL masks are 0.
    lsp = tmp_path / "lsp"
    lsp.mkdir()
    from scipy.io import savemat

    savemat(lsp / "joints.mat", {"joints": np.ones((14, 3, 1)) * 10})
    item = CropDataset(load_lsp(lsp), load_images=False)[0]
    assert item["has_3d"] == 0 and item["has_smpl"] == 0
    assert torch.all(item["keypoints"][:5, 2] == 0)  # COCO face points: not in LSP


def test_skeleton_rows_in_chunks_do_not_depend_on_the_worker_count(monkeypatch) -> None:
    """With a corpus mix the skeleton rows are made in seeded chunks over worker processes: the
    same rows for 1 or 2 workers, and only from the corpora of the mix."""
    import numpy as np

    from meshvid.train import skeleton_samples as ss

    monkeypatch.setattr(ss, "CHUNK", 3)
    mix = {"anny-walkcycle": 1.0}
    one = ss.make_rows_parallel(5, 4, 64, corpus_mix=mix, workers=1)
    two = ss.make_rows_parallel(5, 4, 64, corpus_mix=mix, workers=2)
    assert one["pose"].shape == (5, 24, 3)
    for k in one:
        # the same draws; float32 sums may round differently in a fresh worker process than in
        # this one (its BLAS and thread state after the rest of the suite): ~6e-7 seen in CI
        np.testing.assert_allclose(one[k], two[k], rtol=0, atol=1e-5)
    other = ss.make_rows_parallel(5, 4, 64, corpus_mix={"deepmimic": 1.0}, workers=1)
    assert not np.allclose(one["pose"], other["pose"])
