"""The YOLO11n-pose detector on real images shipped by ultralytics, the automatic inference
size, and clear errors for bad checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from meshvid import assets
from meshvid.errors import InputError, MissingAssetError
from meshvid.io import open_source
from meshvid.perception.detector import PoseDetector, choose_imgsz
from meshvid.perception.run import TrackOptions, auto_stride, run_tracking


@pytest.fixture(scope="module")
def detector() -> PoseDetector:
    return PoseDetector()


def test_bus_has_four_people_with_keypoints(detector):
    result = run_tracking(open_source(assets.bus_jpg()), detector, TrackOptions())
    assert len(result.tracks) == 4
    well_seen = 0
    for t in result.tracks:
        box, kp, ks = t.boxes[0], t.keypoints[0], t.keypoint_scores[0]
        assert box[3] - box[1] > 200  # full-height pedestrians in a 1080 px photo
        good = ks > 0.5
        well_seen += good.sum() >= 5  # the fourth is cut by the left edge: box, few keypoints
        # confident keypoints lie in (or within a few pixels of) their person's box
        assert np.all((kp[good, 0] > box[0] - 10) & (kp[good, 0] < box[2] + 10))
        assert np.all((kp[good, 1] > box[1] - 10) & (kp[good, 1] < box[3] + 10))
    assert well_seen == 3


def test_zidane_has_two_people(detector):
    image = next(iter(open_source(assets.zidane_jpg()))).image
    dets = [d for d in detector.detect([image], imgsz=640)[0] if d.score > 0.5]
    assert len(dets) == 2
    assert all(d.keypoints.shape == (17, 2) and d.keypoint_scores.shape == (17,) for d in dets)


def test_batched_detection_matches_single(detector):
    image = next(iter(open_source(assets.bus_jpg()))).image
    one = detector.detect([image], imgsz=640)[0]
    two = detector.detect([image, image[:, ::-1].copy()], imgsz=640)
    assert len(two) == 2 and len(two[0]) == len(one)
    np.testing.assert_allclose(sorted(d.box[0] for d in two[0]),
                               sorted(d.box[0] for d in one), atol=1.0)


def test_auto_size_grows_for_small_people(detector):
    big = next(iter(open_source(assets.bus_jpg()))).image
    small = next(iter(open_source(assets.vtest_avi(), stop=1))).image
    size_big, size_small = choose_imgsz(detector, big), choose_imgsz(detector, small)
    assert size_big == 640  # people ~600 px tall: the 640 floor
    assert size_small >= 960  # vtest's ~80 px pedestrians need a larger input
    assert size_small % 32 == 0 and size_small <= 1280


def test_auto_stride_follows_frame_rate():
    assert [auto_stride(f) for f in (10, 15, 25, 30, 60, 0)] == [1, 1, 2, 2, 4, 1]


def test_bad_checkpoints(tmp_path):
    with pytest.raises(MissingAssetError, match="does not exist"):
        PoseDetector(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        PoseDetector(bad)
    with pytest.raises(InputError, match="backend"):
        PoseDetector(backend="tensorrt")


def test_torch_backend_agrees_with_openvino(detector):
    # OpenVINO runs in bfloat16 on CPUs that have it: boxes and keypoints of clearly seen people
    # still agree with PyTorch's float32 to a few pixels
    # openvino is a core dependency (pyproject.toml): the default detector must run on it, and
    # a silent fall-back to PyTorch (a failed export) is a failure here, with its reason
    assert detector.backend == "openvino", detector.fallback_reason
    assert detector.fallback_reason is None and detector.model_path.is_dir()
    image = next(iter(open_source(assets.bus_jpg()))).image
    torch_det = PoseDetector(backend="torch")
    a = sorted((d for d in detector.detect([image], imgsz=640)[0] if d.score > 0.8),
               key=lambda d: d.box[0])
    b = sorted((d for d in torch_det.detect([image], imgsz=640)[0] if d.score > 0.8),
               key=lambda d: d.box[0])
    assert len(a) == len(b) == 3
    np.testing.assert_allclose(np.stack([d.box for d in a]), np.stack([d.box for d in b]),
                               atol=3.0)
    for da, db in zip(a, b):
        good = (da.keypoint_scores > 0.5) & (db.keypoint_scores > 0.5)
        dist = np.linalg.norm(da.keypoints[good] - db.keypoints[good], axis=1)
        assert np.median(dist) < 3.0


def test_failed_openvino_export_falls_back_to_torch_and_says_so(monkeypatch):
    from meshvid.perception import detector as det_mod

    def broken(weights):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(det_mod, "openvino_model", broken)
    with pytest.warns(UserWarning, match="exporter crashed"):
        det = PoseDetector()
    assert det.backend == "torch" and "exporter crashed" in det.fallback_reason
    with pytest.raises(InputError, match="could not export"):  # asked for by name: no fall-back
        PoseDetector(backend="openvino")


def test_detect_only_checkpoint_is_accepted(tmp_path):
    # a real ultralytics detect checkpoint: the packaged yolo11n.yaml architecture with one
    # class, carrying YOLO11n-pose's trained backbone and box head (no download). It loads, is
    # recognised as box-only, finds bus.jpg's four people, and gives them empty keypoints.
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    pose = YOLO(str(assets.yolo_pose_weights())).model
    box_only = DetectionModel("yolo11n.yaml", nc=1, verbose=False)
    shared = {k: v for k, v in pose.state_dict().items()
              if k in box_only.state_dict() and box_only.state_dict()[k].shape == v.shape}
    assert len(shared) == len(box_only.state_dict())  # everything but the keypoint branch
    box_only.load_state_dict(shared)
    box_only.names = {0: "person"}
    wrapper = YOLO("yolo11n.yaml")
    wrapper.model = box_only
    path = tmp_path / "detect.pt"
    wrapper.save(str(path))
    det = PoseDetector(path, backend="torch")
    assert det.backend == "torch" and not det.has_keypoints and det.classes == [0]
    image = next(iter(open_source(assets.bus_jpg()))).image
    (found,) = det.detect([image], imgsz=640)
    assert sum(d.score > 0.3 for d in found) == 4
    for d in found:
        assert d.keypoints.shape == (17, 2) and not d.keypoint_scores.any()


def test_detector_leaves_torch_threads_alone():
    """ultralytics drops torch to one thread when it loads and predicts; the DSD runs after it."""
    import torch

    from meshvid.perception.detector import PoseDetector

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        det = PoseDetector()
        det.detect([np.zeros((64, 64, 3), np.uint8)])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_forced_float32_runs_in_float32_and_agrees_with_native(detector):
    # The precision must never decide what the product does (issue 26): forced float32 (what an
    # AVX2-only CPU computes) finds the same people as the native precision, a few px apart
    f32 = PoseDetector(precision="f32")
    assert f32.precision == "f32" and f32.backend == "openvino"
    assert detector.precision in ("f32", "bf16")
    image = next(iter(open_source(assets.bus_jpg()))).image
    native = sorted((d for d in detector.detect([image], imgsz=640)[0] if d.score > 0.5),
                    key=lambda d: d.box[0])
    forced = sorted((d for d in f32.detect([image], imgsz=640)[0] if d.score > 0.5),
                    key=lambda d: d.box[0])
    assert len(native) == len(forced) >= 3
    for a, b in zip(native, forced):
        assert np.abs(a.box - b.box).max() < 8


def test_precision_is_checked(monkeypatch):
    from meshvid.perception.detector import PRECISION_ENV, requested_precision

    assert requested_precision("F32") == "f32"
    monkeypatch.setenv(PRECISION_ENV, "bf16")
    assert requested_precision() == "bf16"
    monkeypatch.setenv(PRECISION_ENV, "int4")
    with pytest.raises(InputError, match=PRECISION_ENV):
        requested_precision()
    with pytest.raises(InputError, match="precision"):
        PoseDetector(precision="fp8")


def test_cpu_flags_decide_the_native_precision():
    from meshvid.cpu import CpuInfo, _parse_cpuinfo, cpu_info

    model, flags = _parse_cpuinfo("processor\t: 0\nmodel name\t: AMD EPYC 9B14\n"
                                  "flags\t\t: fpu sse avx avx2 fma avx512f avx512_bf16\n")
    assert model == "AMD EPYC 9B14" and {"avx2", "avx512_bf16"} <= flags
    assert CpuInfo("x", 2, ("avx2", "fma")).native_precision == "f32"
    assert CpuInfo("x", 2, ("avx2", "amx_bf16")).native_precision == "bf16"
    here = cpu_info()
    assert here.cores >= 1 and here.model and here.native_precision in ("f32", "bf16")


def test_requested_precision_becomes_what_the_cpu_runs():
    from meshvid.cpu import CpuInfo

    avx2, bf16 = CpuInfo("x", 2, ("avx2",)), CpuInfo("x", 2, ("avx512_bf16",))
    assert [avx2.precision_for(p) for p in ("auto", "f32", "bf16")] == ["f32", "f32", "f32"]
    assert [bf16.precision_for(p) for p in ("auto", "f32", "bf16")] == ["bf16", "f32", "bf16"]
