"""The repaired DSD fusion (issue 12): the low-rank affine bilinear is a bilinear form with
linear paths, the skeleton-only variant ignores the image, the diagnostics see a collapsed
branch, and the SHIPPED DSD depends on both of its inputs."""

from __future__ import annotations

import torch

from meshvid.model.config import BackboneConfig, DSDConfig, SkeletonConfig
from meshvid.model.diagnostics import branch_stats
from meshvid.model.dsd import DSDNet, LowRankBilinear


def make(variant: str = "dsd", **kw) -> DSDNet:
    torch.manual_seed(0)
    cfg = DSDConfig(variant=variant, backbone=BackboneConfig(pretrained=False, frozen_stages=8,
                                                             image_size=64),
                    skeleton=SkeletonConfig(source="external", joints="coco17"),
                    head_hidden=64, **kw)
    return DSDNet(cfg).eval()


def batch(n: int = 64, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1280, generator=g), torch.rand(n, 17, 2, generator=g) * 2 - 1,
            torch.rand(n, 17, generator=g) * 0.5 + 0.5)


def test_low_rank_bilinear_is_the_bilinear_form_of_its_factors() -> None:
    torch.manual_seed(0)
    layer = LowRankBilinear(5, 7, 3, rank=4)
    x1, x2 = torch.randn(6, 5), torch.randn(6, 7)
    # A_o = sum_r P_or u_r v_r^T; y_o = x1^T A_o x2 + b_o
    a = torch.einsum("or,ri,rj->oij", layer.p.weight, layer.u.weight, layer.v.weight)
    expected = torch.einsum("bi,oij,bj->bo", x1, a, x2) + layer.p.bias
    assert torch.allclose(layer(x1, x2), expected, atol=1e-5)


def test_affine_fusion_has_a_linear_path_from_each_branch() -> None:
    net = make(detail_norm="batch", fusion_affine=True, fusion_rank=32)
    f, kp, conf = batch()
    x_s = net.skeleton(None, kp, conf).x_s
    x_d = net.detail(f)
    # With the other branch at zero, the output still moves with each branch.
    y0 = net.fuse_branches(torch.zeros_like(x_s), torch.zeros_like(x_d))
    assert (net.fuse_branches(x_s, torch.zeros_like(x_d)) - y0).abs().mean() > 1e-2
    assert (net.fuse_branches(torch.zeros_like(x_s), x_d) - y0).abs().mean() > 1e-2


def test_skeleton_only_variant_ignores_the_image() -> None:
    net = make("skeleton")
    f, kp, conf = batch()
    a = net.forward_features(f, kp, conf).theta.pose_6d
    b = net.forward_features(torch.randn_like(f), kp, conf).theta.pose_6d
    assert torch.equal(a, b) and net.detail is None and not net.uses_image
    assert not torch.equal(a, net.forward_features(f, kp.flip(0), conf).theta.pose_6d)


def test_diagnostics_see_a_collapsed_detail_branch() -> None:
    net = make(fusion_rank=32)  # the round-2 layout: FC -> ReLU, no normalisation
    f, kp, conf = batch()
    healthy = branch_stats(net, f, kp, conf)
    assert healthy["detail_alive"] > 0.5 and healthy["detail_dependence"] > 0.05
    with torch.no_grad():  # what Adam did to the round-2 weights: every pre-activation < 0
        net.detail[0].bias.fill_(-100.0)
    dead = branch_stats(net, f, kp, conf)
    assert dead["detail_active"] == 0.0 and dead["detail_alive"] == 0.0
    assert dead["detail_dependence"] < 1e-6


def test_batch_norm_keeps_every_detail_unit_alive_whatever_the_bias() -> None:
    net = make(detail_norm="batch", fusion_affine=True, fusion_rank=32)
    net.train()
    f, kp, conf = batch(256)
    bn = net.detail[1]
    bn.momentum = None  # cumulative average: one pass gives the exact statistics
    bn.reset_running_stats()
    with torch.no_grad():
        net.detail[0].bias.fill_(-100.0)
        net.detail(f)
    net.eval()
    stats = branch_stats(net, f, kp, conf)
    assert stats["detail_alive"] > 0.9 and 0.3 < stats["detail_active"] < 0.7


def test_a_trained_dsd_depends_on_both_inputs(tmp_path) -> None:
    """Train the repaired DSD (stage 1 of the engine, the toy table whose features carry the
    pose) and check that neither branch collapsed: most x_d units alive, and y moves when
    either input is replaced by its mean. The shipped round-2 weights fail this check
    (1 of 512 units alive; weights/dsd_satn_cpu/MODEL_CARD.md), which is what issue 12 is about."""
    import copy

    from meshvid.model.diagnostics import table_branch_stats
    from meshvid.train.recipe import recipe_from_dict
    from meshvid.train.run import run_training
    from meshvid.train.toydata import TINY_MODEL, toy_table

    model = copy.deepcopy(TINY_MODEL)
    model["dsd"].update({"detail_norm": "batch", "fusion_affine": True, "fusion_rank": 32})
    model["satn"] = None
    recipe = recipe_from_dict({
        "name": "fusion", "seed": 0, "threads": 1, "model": model, "data": {"synthetic": None},
        "dsd": {"epochs": 4, "batch_size": 16, "optimizer": "adam", "lr": 2e-3,
                "cache_features": True, "adversarial": False}, "satn": None})
    table = toy_table()
    out = tmp_path / "run"
    run_training(recipe, out, table=table)
    from meshvid.model import load_checkpoint

    dsd = load_checkpoint(out / "dsd.safetensors").dsd
    stats = table_branch_stats(dsd, table, batch=len(table))
    assert stats["detail_alive"] >= 0.5, stats
    assert stats["detail_dependence"] > 0.05 and stats["skeleton_dependence"] > 0.05, stats
