"""train/image_probe.py splits the backbone into a cached prefix and a trainable tail: together
they must be the backbone, or the probe's 'tuned' variant would not start from the frozen one."""

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _probe_module():
    import sys

    sys.path.insert(0, str(ROOT))  # the probe imports train.lift_probe
    try:
        spec = importlib.util.spec_from_file_location("image_probe", ROOT / "train" / "image_probe.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(ROOT))


def test_prefix_then_tail_is_the_pooled_backbone():
    probe = _probe_module()
    bb = probe.load_backbone()
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = bb(images).mean(dim=(2, 3))
        for split in (4, 12):
            split_out = probe.Tail(bb, split)(probe.Prefix(bb, split)(images))
            assert split_out.shape == (2, 1280)
            assert torch.allclose(split_out, full, atol=1e-5)
