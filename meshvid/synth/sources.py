"""Motion sources per split, and how a sample's motion is drawn from them.

Split rule (DESIGN.md), the one place it lives: `held_out(clip_id)` says which clips are
evaluation-only: the DeepMimic clips in deepmimic.HELD_OUT, CMU subject 03, the cmu8 `test/`
folder, Bandai Namco style "musical" (set 1) and "youthful" (set 2) (HELD_OUT_RULE). The
"train" split uses every other DeepMimic clip, the anny walk cycle and the pose sampler, with
augmentations (mirroring, speed changes, joint noise, blends, randomised fill-in joints); the
"heldout" split uses only the held-out clips, without augmentation. `MotionLibrary.build`
refuses to put a held-out clip into a training library, and every sample records the clip(s)
it came from (ids into `clip_names`, which the data card lists).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from meshvid.body.joints import SMPL_24
from meshvid.errors import InputError
from meshvid.synth import deepmimic
from meshvid.synth.motion import (
    MotionClip,
    add_noise,
    blend,
    mirror,
    rotvec_to_rotmat,
    sample_times,
    slerp_rotmats,
)
from meshvid.synth.poses import sample_pose, sample_root

SPLITS = ("train", "heldout")

HELD_OUT_RULE = ("held out (never trained on): DeepMimic dance_b, cartwheel, getup_faceup; CMU "
                 "subject 03 and every CMU subject whose number ends in 7 (07, 17, ..., 137; "
                 "ASF/AMC, BVH or FBX, files <subject>_<trial>); the cmu8 test/ folder; Bandai Namco "
                 "style 'musical' (dataset 1) and 'youthful' (dataset 2)")
_HELD_OUT_PATTERNS = (
    re.compile(r"^cmu/(.*/)?03_[^/]*$"),
    re.compile(r"^cmu/(.*/)?\d*7_\d+[^/]*$"),  # the CMU library: subjects 07, 17, ..., 137
    re.compile(r"^cmu8/(.*/)?test/"),
    re.compile(r"^bandai/(.*/)?dataset-1_[^/]*_musical_[^/]*$"),
    re.compile(r"^bandai/(.*/)?dataset-2_[^/]*_youthful_[^/]*$"),
)


def held_out(clip_id: str) -> bool:
    """True for an evaluation-only clip. clip_id: "<corpus>/<path without extension>", e.g.
    "deepmimic/humanoid3d_cartwheel", "cmu/subjects/03/03_01", "cmu8/test/walking/walking_1",
    "bandai/dataset-1_walk_musical_001"."""
    if clip_id.startswith("deepmimic/"):
        return clip_id.split("/", 1)[1] in deepmimic.HELD_OUT
    return any(p.search(clip_id) for p in _HELD_OUT_PATTERNS)


def split_of(clip_id: str) -> str:
    return "heldout" if held_out(clip_id) else "train"

# Source kinds recorded per sample.
SOURCE_DEEPMIMIC, SOURCE_ANNY, SOURCE_SAMPLER, SOURCE_BLEND, SOURCE_MOCAP = 0, 1, 2, 3, 4
SOURCE_KINDS = ("deepmimic", "anny-walkcycle", "pose-sampler", "blend", "mocap")


def _kind(clip: MotionClip) -> int:
    if clip.source == "anny-walkcycle":
        return SOURCE_ANNY
    return SOURCE_DEEPMIMIC if clip.source == "deepmimic" else SOURCE_MOCAP


MOCAP_MAX_FPS = 30.0  # captures above this rate are kept resampled to it (draws slerp anyway)


def mocap_clips(motions: tuple[str, ...] | list[str], rest_joints: np.ndarray, split: str) -> list[MotionClip]:
    """The accepted clips of a split from motion files / folders (meshvid.motion: read,
    retargeted by joint positions, rejected above the error threshold), in scan order, kept at
    <= 30 fps with float32 rotations (Bandai's 3.9 h are then ~360 MB). The scan is cached on
    disk (meshvid.motion.library.ClipLibrary) and memoised per process (the card and the
    library see the same clips)."""
    if not motions:
        return []
    key = (tuple(str(m) for m in motions), rest_joints.tobytes())
    if key not in _MOCAP_MEMO:
        from meshvid.motion.library import ClipLibrary  # noqa: PLC0415

        # Retargeted once and cached on disk (meshvid.motion.library), in parallel processes:
        # the whole CMU library is ~1 min the first time, ~seconds after, in every process.
        lib = ClipLibrary.build(motions, fps=None, max_fps=MOCAP_MAX_FPS, rest_joints=rest_joints)
        clips, reports = [], lib.reports
        for c in range(lib.num_clips):
            a, b = lib.start[c], lib.start[c + 1]
            clips.append(MotionClip(name=str(lib.ids[c]), source=str(lib.corpus[c]), fps=float(lib.fps[c]),
                                    rotmats=rotvec_to_rotmat(lib.pose[a:b]).astype(np.float32),
                                    root_pos=lib.transl[a:b].astype(np.float64)))
        _MOCAP_MEMO.clear()
        _MOCAP_MEMO[key] = (clips, reports)
    return [c for c in _MOCAP_MEMO[key][0] if split_of(c.name) == split]


def mocap_reports(motions, rest_joints: np.ndarray) -> list:
    """The per-file reports of the memoised scan (after mocap_clips)."""
    mocap_clips(motions, rest_joints, "train")
    return _MOCAP_MEMO[(tuple(str(m) for m in motions), rest_joints.tobytes())][1]


_MOCAP_MEMO: dict = {}


def library_clip_names(split: str, rest_joints: np.ndarray, motions: tuple[str, ...] = (),
                       builtin: bool = True) -> list[str]:
    """Every clip name a sample of this split can refer to, in MotionLibrary's order (the data
    card lists these; a sample's clip_id indexes them)."""
    from meshvid.synth import annywalk  # noqa: PLC0415

    names = deepmimic.clip_names()
    if not builtin:
        out = []
    elif split == "train":
        out = [f"deepmimic/{n}" for n in names if not held_out(f"deepmimic/{n}")] + annywalk.clip_names()
    else:
        out = [f"deepmimic/{n}" for n in deepmimic.HELD_OUT]
    out += [c.name for c in mocap_clips(motions, rest_joints, split)]
    return out + ([SAMPLER_CLIP] if split == "train" else [])

SAMPLER_CLIP = "sampler/joint-limits"


def clip_probabilities(clips: list[MotionClip], corpus_mix: dict[str, float]) -> np.ndarray:
    """Per-clip draw probabilities giving each corpus of `corpus_mix` its share (weights are
    normalised over the corpora present), evenly over that corpus's clips."""
    from meshvid.motion.corpus import corpus_of  # noqa: PLC0415

    corpora = [corpus_of(c.name) for c in clips]
    present = {k: float(w) for k, w in corpus_mix.items() if k in corpora and w > 0}
    if not present:
        raise InputError(f"corpus mix {corpus_mix} names none of the corpora present: "
                         f"{sorted(set(corpora))}")
    total = sum(present.values())
    counts = {k: corpora.count(k) for k in present}
    p = np.array([present.get(c, 0.0) / total / counts[c] if c in present else 0.0 for c in corpora])
    return p / p.sum()

_J = {n: i for i, n in enumerate(SMPL_24)}
_LEAVES = ("left_wrist", "right_wrist", "left_hand", "right_hand", "left_foot", "right_foot")


@dataclass
class MotionDraw:
    """The motion of one sample: local rotations (N, 24, 3, 3) with the world root rotation
    at index 0, pelvis positions (N, 3) in the motion world, and provenance."""

    rotmats: np.ndarray
    root_pos: np.ndarray
    kind: int
    clip_id: int
    clip_id2: int = -1
    time: float = 0.0  # seconds into the clip of the first frame
    speed: float = 1.0
    mirrored: bool = False


@dataclass
class MotionLibrary:
    split: str
    clips: list[MotionClip]
    clip_names: list[str]  # every name a sample can refer to (clips + the sampler)
    # Probability of drawing each clip (None: uniform over clips). Set from a corpus mix, so a
    # corpus's share of the draws is chosen, not implied by how many files it has.
    clip_p: np.ndarray | None = None

    @classmethod
    def build(cls, split: str, rest_joints: np.ndarray, motions: tuple[str, ...] = (),
              builtin: bool = True, corpus_mix: dict[str, float] | None = None) -> "MotionLibrary":
        """The clips of a split: DeepMimic (+ the anny walk cycle for train) and, from
        `motions` (motion files / folders), the captures of that split.

        builtin=False leaves DeepMimic and the walk cycle out (a held-out set of one corpus).
        corpus_mix: {corpus: weight} (corpus = the clip id's first part: deepmimic,
        anny-walkcycle, cmu, cmu8, bandai, ...); each listed corpus gets that share of the clip
        draws, split evenly over its clips; a corpus not listed is never drawn."""
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
        clips: list[MotionClip] = []
        if builtin:
            names = deepmimic.clip_names()
            missing = [n for n in deepmimic.HELD_OUT if n not in names]
            if missing:
                raise InputError(f"held-out DeepMimic clips not found: {missing}; reinstall pybullet")
            if split == "train":
                chosen = [n for n in names if n not in deepmimic.HELD_OUT]
            else:
                chosen = list(deepmimic.HELD_OUT)
            clips = [deepmimic.load_clip(n, rest_joints) for n in chosen]
            if split == "train":
                from meshvid.synth import annywalk  # noqa: PLC0415

                clips.extend(annywalk.load_clips(rest_joints))
        clips.extend(mocap_clips(motions, rest_joints, split))
        if not clips:
            raise InputError(f"no {split} motion clips: give --motions with clips of that split "
                             "(docs/motion.md has the held-out rule)")
        lib = cls(split, clips, [c.name for c in clips] + ([SAMPLER_CLIP] if split == "train" else []),
                  clip_probabilities(clips, corpus_mix) if corpus_mix else None)
        lib.check_split()
        return lib

    def _pick(self, rng: np.random.Generator) -> int:
        if self.clip_p is None:
            return int(rng.integers(len(self.clips)))
        return int(rng.choice(len(self.clips), p=self.clip_p))

    def check_split(self) -> None:
        leaked = [n for n in self.clip_names if held_out(n)]
        if self.split == "train" and leaked:
            raise AssertionError(f"held-out clips in a training library: {sorted(leaked)[:5]}")
        if self.split == "heldout" and any(not held_out(n) for n in self.clip_names):
            raise AssertionError("the held-out library has non-held-out clips")

    @property
    def augment(self) -> bool:
        return self.split == "train"

    # --- single frames (crops)

    def draw_frame(self, rng: np.random.Generator) -> MotionDraw:
        if not self.augment:
            k = self._pick(rng)
            clip = self.clips[k]
            t = rng.uniform(0.0, clip.duration)
            rot, pos = sample_times(clip, np.array([t]))
            return MotionDraw(rot, pos, _kind(clip), k, time=float(t))
        u = rng.random()
        if u < 0.12:
            rot = sample_pose(rng)[None]
            rot[0, 0] = sample_root(rng)
            draw = MotionDraw(rot, np.zeros((1, 3)), SOURCE_SAMPLER, len(self.clips))
        else:
            k = self._pick(rng)
            clip = self.clips[k]
            t = rng.uniform(0.0, clip.duration)
            rot, pos = sample_times(clip, np.array([t]))
            draw = MotionDraw(rot, pos, _kind(clip), k, time=float(t))
            if u > 0.9:  # blend with a frame of another clip
                k2 = self._pick(rng)
                c2 = self.clips[k2]
                rot2, _ = sample_times(c2, np.array([rng.uniform(0.0, c2.duration)]))
                w = rng.uniform(0.25, 0.75)
                draw.rotmats[:, 1:] = slerp_rotmats(draw.rotmats[:, 1:], rot2[:, 1:], w)
                draw.kind, draw.clip_id2 = SOURCE_BLEND, k2
        return self._augment_frames(rng, draw, smooth=False)

    # --- windows (sequences)

    def draw_window(self, rng: np.random.Generator, length: int, fps: float) -> MotionDraw:
        k = self._pick(rng)
        clip = self.clips[k]
        speed = float(rng.uniform(0.8, 1.25)) if self.augment else 1.0
        span = (length - 1) * speed / fps
        if not clip.loop and span > clip.duration:
            speed *= clip.duration / span  # slow down rather than freeze at the end
            span = clip.duration
        t0 = rng.uniform(0.0, clip.duration if clip.loop else clip.duration - span)
        times = t0 + np.arange(length) * speed / fps
        rot, pos = sample_times(clip, times)
        draw = MotionDraw(rot, pos, _kind(clip), k, time=float(t0), speed=speed)
        if self.augment and rng.random() < 0.1:
            k2 = self._pick(rng)
            c2 = self.clips[k2]
            a = MotionClip("a", "a", fps, rot, pos)
            t2 = rng.uniform(0.0, max(1e-6, c2.duration - (span if not c2.loop else 0.0)))
            rot2, pos2 = sample_times(c2, t2 + np.arange(length) * speed / fps)
            b = MotionClip("b", "b", fps, rot2, pos2)
            mixed = blend(a, b, float(rng.uniform(0.25, 0.6)))
            draw.rotmats, draw.kind, draw.clip_id2 = mixed.rotmats, SOURCE_BLEND, k2
        return self._augment_frames(rng, draw, smooth=True)

    # --- shared augmentations

    def _augment_frames(self, rng: np.random.Generator, draw: MotionDraw, smooth: bool) -> MotionDraw:
        if not self.augment:
            return draw
        clip = MotionClip("draw", "draw", 30.0, draw.rotmats, draw.root_pos)
        if rng.random() < 0.5:
            clip = mirror(clip)
            draw.mirrored = True
        if rng.random() < 0.7:
            sigma = float(rng.uniform(0.015, 0.05))
            clip = add_noise(clip, rng, sigma, smooth_frames=8 if smooth else 0)
        rot = _randomise_fill_ins(rng, clip.rotmats)
        return replace(draw, rotmats=rot, root_pos=clip.root_pos)


def _randomise_fill_ins(rng: np.random.Generator, rot: np.ndarray) -> np.ndarray:
    """Fresh values for the joints the captures lack (leaves: wrists, hands, toes; collars),
    one draw per sample, constant through a sequence. A collar's new rotation is compensated in
    its shoulder, so the captured arm keeps its world orientation."""
    rot = rot.copy()
    for name in _LEAVES:
        mean, sigma = deepmimic._EXTRA_SIGMA[name]  # noqa: SLF001 - shared table
        rot[:, _J[name]] = rotvec_to_rotmat(np.asarray(mean) + rng.normal(0, sigma, 3))
    for side in ("left", "right"):
        c, s = _J[f"{side}_collar"], _J[f"{side}_shoulder"]
        new = rotvec_to_rotmat(rng.normal(0, 0.06, 3))
        # world(shoulder) = ... @ collar @ shoulder must not change: shoulder' = new^T collar shoulder
        rot[:, s] = new.T @ rot[:, c] @ rot[:, s]
        rot[:, c] = new
    return rot
