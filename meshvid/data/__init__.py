"""Real data set loaders in their standard released formats (3DPW, Human3.6M, MPII, LSP), all
yielding the common `PoseSample` record. See docs/training.md."""

from meshvid.data.h36m import load_h36m
from meshvid.data.mpii_lsp import load_lsp, load_mpii
from meshvid.data.records import PoseSample, joint_map, remap
from meshvid.data.threedpw import load_3dpw

__all__ = ["PoseSample", "joint_map", "load_3dpw", "load_h36m", "load_lsp", "load_mpii", "remap"]
