"""Motion capture: readers (BVH, FBX, CMU ASF+AMC, cmu8 exp-map text, DeepMimic), one
joint-mapping layer for any humanoid rig (explicit families, joint names, the skeleton's shape),
retargeting onto our 24-joint body by joint positions, corpora with the held-out split, and
training access.

- `read_capture(path)` -> Capture (source joint positions, any supported format);
  `read_captures(path)`: every skeleton of a file (one per person of a multi-person FBX);
- `prepare(capture)` -> (Capture, JointMap): the map, the unit, a T-pose frame 0 dropped;
- `retarget(capture, rest_joints)` -> Retargeted (a meshvid.synth.motion.MotionClip on our
  skeleton, solved on our skeleton with the source's proportions, + its retarget error);
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
    load_clips,
    read_capture,
    read_captures,
    scan,
    summarise,
    training_frames,
)
from meshvid.motion.library import ClipLibrary
from meshvid.motion.retarget import MAX_ERROR_MM, Retargeted, prepare, retarget
from meshvid.motion.skeletons import JointMap

__all__ = ["MAX_ERROR_MM", "Capture", "ClipLibrary", "ClipReport", "JointMap", "MotionItem", "Retargeted",
           "default_rest_joints", "iter_motions", "load_clip", "load_clips", "prepare", "read_capture",
           "read_captures", "retarget", "scan",
           "summarise", "training_frames"]
