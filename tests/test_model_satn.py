"""SATN: shapes, receptive field of exactly 9 frames, sliding == per-window, order recovery."""

from __future__ import annotations

import itertools

import pytest
import torch

from meshvid.model.config import SATNConfig
from meshvid.model.satn import SATN
from meshvid.model.sorting import (
    decode_order,
    random_permutations,
    shuffle,
    sorting_loss,
    sorting_targets,
    unshuffle,
)

VARIANTS = ["tcn", "tcn+sa", "satn"]


def make(variant: str, **kw) -> SATN:
    torch.manual_seed(0)
    net = SATN(SATNConfig(variant=variant, **kw))
    # Non-trivial batch-norm statistics, so eval mode is not an identity.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def feats(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_shapes(variant: str) -> None:
    net = make(variant)
    with torch.no_grad():
        out = net(feats(5, 9, 512))
        assert out.theta.pose_6d.shape == (5, 24, 6)
        assert out.theta.betas.shape == (5, 10) and out.theta.cam.shape == (5, 3)
        assert out.sort_scores is None
        seq = net.forward_sequence(feats(23, 512))
        assert seq.pose_6d.shape == (23, 24, 6) and seq.cam.shape == (23, 3)
        batched = net.forward_sequence(feats(2, 11, 512))
        assert batched.pose_6d.shape == (2, 11, 24, 6)
    if variant == "satn":
        out = net(feats(5, 9, 512), random_permutations(5, 9))
        assert out.sort_scores.shape == (5, 9, 9)
    else:
        with pytest.raises(ValueError):
            net(feats(5, 9, 512), random_permutations(5, 9))


@pytest.mark.parametrize("variant", VARIANTS)
def test_receptive_field_is_exactly_nine_frames(variant: str) -> None:
    net = make(variant)
    x = feats(40, 512)
    t = 20
    with torch.no_grad():
        base = net.forward_sequence(x).vector()[t]
        for offset in (-5, 5, -9, 12):
            y = x.clone()
            y[t + offset] += 3.0
            assert torch.equal(net.forward_sequence(y).vector()[t], base), offset
        for offset in (-4, 4, -1, 0, 2):
            y = x.clone()
            y[t + offset] += 3.0
            assert not torch.allclose(net.forward_sequence(y).vector()[t], base), offset


@pytest.mark.parametrize("variant", VARIANTS)
def test_sliding_mode_equals_per_window_mode(variant: str) -> None:
    net = make(variant)
    x = feats(2, 17, 512)
    idx = torch.arange(17)[:, None] + torch.arange(-4, 5)[None]  # (T, 9) window frame indices
    windows = x[:, idx.clamp(0, 16)]  # replicate padding at both ends
    with torch.no_grad():
        per_window = net(windows.reshape(-1, 9, 512)).theta.vector().reshape(2, 17, -1)
        sliding = net.forward_sequence(x, chunk=5).vector()
    assert torch.allclose(sliding, per_window, atol=1e-5, rtol=1e-4)


def test_shuffle_and_unshuffle_are_exact_inverses() -> None:
    x = feats(6, 9, 8)
    perm = random_permutations(6, 9, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(shuffle(x, perm), x)
    assert torch.equal(shuffle(x, perm)[2, 4], x[2, perm[2, 4]])
    assert torch.equal(unshuffle(shuffle(x, perm), perm), x)


def test_random_permutations_respect_shuffle_probability() -> None:
    g = torch.Generator().manual_seed(0)
    ident = torch.arange(9)
    assert (random_permutations(50, 9, 0.0, g) == ident).all()
    perms = random_permutations(400, 9, 0.5, g)
    assert all(sorted(p.tolist()) == list(range(9)) for p in perms)
    kept = (perms == ident).all(1).float().mean()
    assert 0.35 < kept < 0.65


def test_order_is_restored_before_the_tcn() -> None:
    """Without the positional encoding, attention is permutation-equivariant, so if the
    permutation is undone exactly before the TCN, any shuffle leaves Θ_t unchanged."""
    net = make("satn")
    net.pos_enc.zero_()
    x = feats(4, 9, 512)
    perm = random_permutations(4, 9, generator=torch.Generator().manual_seed(1))
    assert not (perm == torch.arange(9)).all(1).any()
    with torch.no_grad():
        plain = net(x).theta.vector()
        shuffled = net(x, perm).theta.vector()
        # and the positional encoding really hides the order once restored:
        net2 = make("satn")
        with_pe = net2(x, perm).theta.vector()
    assert torch.allclose(plain, shuffled, atol=1e-5)
    assert not torch.allclose(net2(x).theta.vector(), with_pe, atol=1e-4)


def test_sorting_decodes_the_exact_order_and_its_loss_is_minimal_forward_and_backward() -> None:
    g = torch.Generator().manual_seed(0)
    perm = random_permutations(16, 9, generator=g)
    sigma = 1.0
    target = sorting_targets(perm, sigma)
    assert torch.allclose(target.amax(-1), torch.ones(16, 9))
    assert torch.equal(decode_order(target), perm)
    # noisy but right scores still decode exactly (the assignment is a permutation)
    noisy = target + 0.2 * torch.rand(target.shape, generator=g)
    assert torch.equal(decode_order(noisy), perm)
    reversed_ = 8 - perm
    assert torch.equal(decode_order(sorting_targets(reversed_, sigma)), reversed_)
    zero = torch.zeros(16)
    assert torch.equal(sorting_loss(target, perm, sigma, reduce=False), zero)
    assert torch.equal(sorting_loss(sorting_targets(reversed_, sigma), perm, sigma,
                                    reduce=False), zero)
    # every other order of one window costs more than zero, and more the further it is
    p = perm[:1]
    losses = []
    for other in itertools.islice(itertools.permutations(range(9)), 0, 2000, 7):
        o = torch.tensor([other])
        if torch.equal(o, p) or torch.equal(o, 8 - p):
            continue
        losses.append(float(sorting_loss(sorting_targets(o, sigma), p, sigma)))
    assert min(losses) > 0
    swap_adjacent = p.clone()
    i, j = (p[0] == 3).nonzero().item(), (p[0] == 4).nonzero().item()
    swap_adjacent[0, i], swap_adjacent[0, j] = 4, 3
    swap_far = p.clone()
    i, j = (p[0] == 0).nonzero().item(), (p[0] == 8).nonzero().item()
    swap_far[0, i], swap_far[0, j] = 8, 0
    near = sorting_loss(sorting_targets(swap_adjacent, sigma), p, sigma)
    far = sorting_loss(sorting_targets(swap_far, sigma), p, sigma)
    assert 0 < near < far  # soft labels: confusing neighbours costs less


def test_sorting_module_learns_to_recover_the_order() -> None:
    """A few steps of the order task on features that encode time: the loss must fall."""
    torch.manual_seed(0)
    d = 64  # a narrow SATN keeps this fast; the mechanism is the same at 512
    net = SATN(SATNConfig(variant="satn", feature_dim=d, ff_dim=128, tcn_channels=d,
                          sort_channels=d, sort_hidden=128, attn_dropout=0.0,
                          tcn_dropout=0.0)).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1, 1, d, generator=g)
    slope = torch.randn(1, 1, d, generator=g)
    losses, exact = [], []
    for _ in range(300):
        x = base + slope * torch.linspace(-1, 1, 9)[None, :, None] * (0.5 + torch.rand(32, 1, 1))
        x = x + 0.05 * torch.randn(32, 9, d, generator=g)
        perm = random_permutations(32, 9, 1.0, generator=g)
        out = net(x, perm)
        loss = sorting_loss(out.sort_scores, perm, 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        decoded = decode_order(out.sort_scores)
        exact.append(((decoded == perm).all(1) | (decoded == 8 - perm).all(1)).float().mean())
    assert sum(losses[-10:]) / 10 < 0.25 * sum(losses[:10]) / 10
    assert sum(exact[-10:]) / 10 > 0.5  # most windows put back in exactly the right order


def test_gradients_reach_every_trainable_parameter() -> None:
    torch.manual_seed(0)
    net = SATN(SATNConfig(variant="satn")).train()
    perm = random_permutations(6, 9, 1.0)
    out = net(feats(6, 9, 512), perm)
    loss = out.theta.vector().pow(2).sum() + sorting_loss(out.sort_scores, perm, 1.0)
    loss.backward()
    missing = [n for n, p in net.named_parameters()
               if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, missing


@pytest.mark.parametrize("variant", VARIANTS)
def test_residual_satn_starts_at_the_single_frame_result(variant):
    """Residual refinement + the DSD head copied in: before training, Θ_t is exactly the DSD's
    own Θ of frame t, windowed or sliding; one training step makes the window matter."""
    from meshvid.model.config import DSDConfig, ModelConfig
    from meshvid.model.net import MeshNet
    from meshvid.train.engine import init_satn_head

    cfg = ModelConfig(dsd=DSDConfig(head_hidden=32),
                      satn=SATNConfig(variant=variant, head_hidden=32, residual=True))
    torch.manual_seed(0)
    model = MeshNet(cfg, load_backbone_weights=False).eval()
    assert init_satn_head(model) == "dsd_head"
    y = feats(20, 512)
    single = model.dsd.head(y)
    sliding = model.satn.forward_sequence(y)
    torch.testing.assert_close(sliding.pose_6d, single.pose_6d)
    torch.testing.assert_close(sliding.cam, single.cam)
    windows = y[:9][None]
    torch.testing.assert_close(model.satn(windows).theta.pose_6d, single.pose_6d[4:5])
    # after a step the refinement is live: moving a neighbouring frame changes Θ_t
    model.satn.train()
    opt = torch.optim.SGD(model.satn.parameters(), lr=0.1)
    model.satn(feats(4, 9, 512, seed=1)).theta.pose_6d.square().sum().backward()
    opt.step()
    model.satn.eval()
    moved = windows.clone()
    moved[0, 0] += 1.0
    assert not torch.allclose(model.satn(moved).theta.pose_6d, model.satn(windows).theta.pose_6d)


def test_non_residual_satn_keeps_only_the_mean_theta():
    from meshvid.model.config import DSDConfig, ModelConfig
    from meshvid.model.net import MeshNet
    from meshvid.train.engine import init_satn_head

    model = MeshNet(ModelConfig(dsd=DSDConfig(head_hidden=32), satn=SATNConfig()),
                    load_backbone_weights=False)
    assert init_satn_head(model) == "mean_theta"
    torch.testing.assert_close(model.satn.head.mean_pose_6d, model.dsd.head.mean_pose_6d)


@pytest.mark.parametrize("variant", VARIANTS)
def test_savgol_base_starts_at_the_low_passed_features(variant):
    """residual_base savgol: before training Θ_t = DSD head(Savitzky-Golay fit of the window's
    features at t) — sliding equals windowed, a quadratic feature trajectory passes unchanged
    (order 2 reproduces it) and a one-frame spike is damped."""
    from meshvid.model.config import DSDConfig, ModelConfig
    from meshvid.model.net import MeshNet
    from meshvid.smoothing import savgol_centre_kernel
    from meshvid.train.engine import init_satn_head

    kernel = torch.from_numpy(savgol_centre_kernel(9, 2)).float()
    assert torch.isclose(kernel.sum(), torch.tensor(1.0)) and kernel.argmax() == 4
    cfg = ModelConfig(dsd=DSDConfig(head_hidden=32),
                      satn=SATNConfig(variant=variant, head_hidden=32, residual=True,
                                      residual_base="savgol"))
    torch.manual_seed(0)
    model = MeshNet(cfg, load_backbone_weights=False).eval()
    init_satn_head(model)
    y = feats(20, 512)
    padded = torch.cat([y[:1].expand(4, -1), y, y[-1:].expand(4, -1)])
    smoothed = torch.stack([kernel @ padded[i:i + 9] for i in range(20)])
    torch.testing.assert_close(model.satn.forward_sequence(y).pose_6d,
                               model.dsd.head(smoothed).pose_6d)
    t = torch.arange(9, dtype=torch.float32)[:, None]
    quad = 0.01 * t**2 * y[:1] + 0.1 * t * y[1:2] + y[2:3]
    torch.testing.assert_close(model.satn(quad[None]).theta.pose_6d,
                               model.dsd.head(quad[4:5]).pose_6d, atol=1e-4, rtol=1e-4)
    spike = torch.zeros(9, 512)
    spike[4] = 1.0
    assert (kernel @ spike).abs().max() < 0.3
    with pytest.raises(ValueError, match="residual_base"):
        SATN(SATNConfig(residual=True, residual_base="median"))
