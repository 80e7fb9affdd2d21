"""Motion capture: readers (BVH, CMU ASF+AMC, cmu8 exp-map text, DeepMimic), retargeting onto
our 24-joint body by joint positions, corpora with the held-out split, and training access.

- `read_capture(path)` -> Capture (source joint positions, any supported format);
- `retarget(capture, rest_joints)` -> Retargeted (a meshvid.synth.motion.MotionClip on our
  skeleton + its retarget error);
- `scan(paths)`, `iter_motions(paths, split=...)`, `training_frames(paths, ...)`.
See docs/motion.md.
"""

from meshvid.motion.capture import Capture
from meshvid.motion.corpus import (
    ClipReport,
    MotionItem,
    default_rest_joints,
    iter_motions,
    load_clip,
    read_capture,
    scan,
    summarise,
    training_frames,
)
from meshvid.motion.retarget import MAX_ERROR_MM, Retargeted, retarget

__all__ = ["MAX_ERROR_MM", "Capture", "ClipReport", "MotionItem", "Retargeted", "default_rest_joints",
           "iter_motions", "load_clip", "read_capture", "retarget", "scan", "summarise", "training_frames"]
