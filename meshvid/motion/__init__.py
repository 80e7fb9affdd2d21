"""Motion capture: readers (BVH, FBX, CMU ASF+AMC, cmu8 exp-map text, DeepMimic), one
joint-mapping layer for any humanoid rig (explicit families, joint names, the skeleton's shape),
retargeting onto our 24-joint body by joint positions, corpora with the held-out split, and
training access.

- `read_capture(path)` -> Capture (source joint positions, any supported format);
- `prepare(capture)` -> (Capture, JointMap): the map, the unit, a T-pose frame 0 dropped;
- `retarget(capture, rest_joints)` -> Retargeted (a meshvid.synth.motion.MotionClip on our
  skeleton + its retarget error);
- `scan(paths)`, `iter_motions(paths, split=...)`, `training_frames(paths, ...)`;
- `ClipLibrary.build(paths, fps=...)`: a whole library retargeted once, cached, drawn from.
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
from meshvid.motion.library import ClipLibrary
from meshvid.motion.retarget import MAX_ERROR_MM, Retargeted, prepare, retarget
from meshvid.motion.skeletons import JointMap

__all__ = ["MAX_ERROR_MM", "Capture", "ClipLibrary", "ClipReport", "JointMap", "MotionItem", "Retargeted",
           "default_rest_joints", "iter_motions", "load_clip", "prepare", "read_capture", "retarget", "scan",
           "summarise", "training_frames"]
