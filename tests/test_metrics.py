import math

import pytest
import torch



@pytest.fixture(autouse=True)
def _double_precision():
    # hand-computed cases are exact in float64; restore the default for other test modules
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)

from meshvid import metrics
from meshvid.body.joints import LSP_14
from meshvid.geometry.rotations import axis_angle_to_matrix


def test_mpjpe_hand_computed():
    target = torch.zeros(1, 24, 3)
    pred = target.clone()
    pred[0, 1:, 0] = 0.010  # every non-root joint 10 mm off along x; roots coincide
    assert math.isclose(float(metrics.mpjpe(pred, target)[0]), 10.0 * 23 / 24, rel_tol=1e-9)


def test_mpjpe_ignores_global_translation():
    target = torch.randn(2, 24, 3)
    assert float(metrics.mpjpe(target + torch.tensor([1.0, 2.0, 3.0]), target).max()) < 1e-9


def test_lsp_root_is_mid_hip():
    j = torch.zeros(1, 14, 3)
    j[0, LSP_14.index("left_hip")] = torch.tensor([0.1, 0.0, 0.0])
    j[0, LSP_14.index("right_hip")] = torch.tensor([-0.1, 0.0, 0.2])
    assert torch.allclose(metrics.root_of(j, "lsp14"), torch.tensor([[[0.0, 0.0, 0.1]]]))
    with pytest.raises(ValueError):
        metrics.root_of(j, "h36m")


def test_pa_mpjpe_removes_similarity_but_not_shape():
    torch.manual_seed(0)
    target = torch.randn(4, 14, 3) * 0.3
    rot = axis_angle_to_matrix(torch.randn(4, 3))
    pred = 1.3 * target @ rot.transpose(1, 2) + 0.5
    assert float(metrics.pa_mpjpe(pred, target).max()) < 1e-6
    bent = target.clone()
    bent[:, 0, 1] += 0.05  # one joint 50 mm off cannot be aligned away
    assert float(metrics.pa_mpjpe(bent, target).min()) > 1.0


def test_pve_hand_computed():
    tv = torch.zeros(1, 10, 3)
    pv = tv.clone()
    pv[0, :5, 2] = 0.004  # half the vertices 4 mm off
    tj = torch.zeros(1, 24, 3)
    assert math.isclose(float(metrics.pve(pv, tv, tj, tj)[0]), 2.0, rel_tol=1e-9)


def test_velocity_and_acceleration_errors_hand_computed():
    fps = 10.0
    t = torch.arange(5, dtype=torch.float64)
    target = torch.zeros(5, 24, 3, dtype=torch.float64)
    pred = torch.zeros(5, 24, 3, dtype=torch.float64)
    # joint 1 drifts at 2 mm per frame in x relative to a still root: 20 mm/s, no acceleration
    pred[:, 1, 0] = 0.002 * t
    assert torch.allclose(metrics.mpjve(pred, target, fps), torch.full((4,), 20.0 / 24))
    assert torch.allclose(metrics.mpjae(pred, target, fps), torch.zeros(3), atol=1e-9)
    # joint 2 accelerates: x = 1 mm * t^2 -> second difference 2 mm/frame^2 = 200 mm/s^2
    pred[:, 2, 1] = 0.001 * t**2
    assert torch.allclose(metrics.mpjae(pred, target, fps), torch.full((3,), 200.0 / 24))


def test_sequence_metrics_keys_and_per_frame_units():
    torch.manual_seed(3)
    target = torch.randn(6, 24, 3)
    pred = target + 0.01 * torch.randn(6, 24, 3)
    out = metrics.sequence_metrics(pred, target, fps=30.0)
    assert {"mpjpe", "pa_mpjpe", "mpjve", "mpjae", "mpjve_per_frame"} <= out.keys()
    assert math.isclose(out["mpjae_per_frame"] * 900.0, out["mpjae"], rel_tol=1e-9)
    with pytest.raises(ValueError):
        metrics.mpjae(pred[:2], target[:2], 30.0)
