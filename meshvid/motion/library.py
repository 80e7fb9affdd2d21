"""A whole motion library (e.g. the CMU database, 2,497 clips), retargeted once through our
body and cached, for drawing training rows and sequences fast.

    lib = ClipLibrary.build(["data/mocap/cmu_fbxlib"], fps=30)   # ~1 min first, ~1 s cached
    lib.clip_ids(split="train")                                   # the hold-out rule applied
    rows = lib.draw_frames(1_000_000, np.random.default_rng(0), split="train", mirror=True)
    rows["pose"]   # (N, 24, 3) axis-angle; rows["transl"] (N, 3); rows["clip"] (N,) -> lib.ids
    seqs = lib.draw_windows(20_000, 16, np.random.default_rng(1), split="train", fps=10)
    for item in lib.iter_clips(split="heldout"): ...              # MotionItem per clip

Every accepted clip of every split is stored (one .npz under `$MESHVID_CACHE_DIR/motion/`,
keyed on the files' paths, sizes and mtimes, the rate and the error threshold); the split is a
per-clip column from `meshvid.synth.sources.split_of` (the DESIGN hold-out rule: CMU subject 03
and every subject number ending in 7, ...), so one cache serves both splits and a draw never
mixes them. Mirroring (left/right swap, `meshvid.synth.motion.mirror_pose`) happens at draw
time, so it costs no storage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meshvid.errors import InputError
from meshvid.motion.corpus import (
    ClipReport,
    MotionItem,
    _WORKER,
    _files,
    corpus_of,
    default_rest_joints,
    default_workers,
    load_clips,
    worker_pool,
)
from meshvid.motion.retarget import MAX_ERROR_MM

CACHE_VERSION = 2  # 2: every skeleton of a multi-skeleton FBX
SPLITS = ("train", "heldout", "all")


@dataclass
class ClipLibrary:
    """Retargeted clips as flat arrays.

    Attributes:
        pose: (N, 24, 3) float32 axis-angle, SMPL_24 layout, root rotation in the y-up world.
        transl: (N, 3) float32 pelvis positions, metres.
        start: (C + 1,) int64 first frame of each clip in the flat arrays (clip c is
            start[c]:start[c+1]).
        ids: (C,) clip ids ("cmu/07/07_01"); corpus, split: (C,) str; fps, error_mm: (C,) float32.
        reports: one ClipReport per file scanned (rejected and unreadable ones included; empty
            when loaded from the cache).
        seconds: wall time of the build (0 from the cache).
    """

    pose: np.ndarray
    transl: np.ndarray
    start: np.ndarray
    ids: np.ndarray
    corpus: np.ndarray
    split: np.ndarray
    fps: np.ndarray
    error_mm: np.ndarray
    reports: list[ClipReport]
    seconds: float = 0.0

    @property
    def num_clips(self) -> int:
        return len(self.ids)

    @property
    def num_frames(self) -> int:
        return int(self.start[-1])

    def clip_ids(self, split: str = "all") -> list[str]:
        """Clip ids of a split ("train", "heldout", "all")."""
        return [str(i) for i in self.ids[self._clips(split)]]

    def _clips(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose train, heldout or all")
        return np.arange(self.num_clips) if split == "all" else np.nonzero(self.split == split)[0]

    def frame_index(self, split: str = "train") -> np.ndarray:
        """(M,) int64 indices of every frame of a split in the flat arrays."""
        clips = self._clips(split)
        return np.concatenate([np.arange(self.start[c], self.start[c + 1]) for c in clips]) if len(clips) \
            else np.zeros(0, np.int64)

    def draw_frames(self, n: int, rng: np.random.Generator, split: str = "train",
                    mirror: bool = True) -> dict[str, np.ndarray]:
        """n frames drawn uniformly over a split's frames (with replacement).

        Args:
            n: rows to draw.
            rng: random generator.
            split: "train" (never a held-out clip), "heldout" or "all".
            mirror: mirror each row with probability 0.5 (pose and transl; `mirrored` says which).
        Returns:
            pose (n, 24, 3) float32, transl (n, 3) float32, clip (n,) int32 index into `ids`,
            frame (n,) int64 index into the flat arrays, mirrored (n,) bool.
        """
        idx = self.frame_index(split)
        if not len(idx):
            raise InputError(f"no frames in split {split!r}")
        frame = idx[rng.integers(0, len(idx), size=n)]
        return self._rows(frame, rng, mirror)

    def draw_windows(self, n: int, length: int, rng: np.random.Generator, split: str = "train",
                     fps: float | None = None, mirror: bool = True) -> dict[str, np.ndarray]:
        """n windows of `length` consecutive frames, a clip drawn in proportion to the windows
        it holds, the start uniform in it; with `fps` below the library's rate, every k-th frame
        (k = round(library fps / fps)).

        Returns:
            pose (n, length, 24, 3), transl (n, length, 3) float32, clip (n,) int32,
            mirrored (n,) bool.
        """
        clips = self._clips(split)
        step = np.maximum(1, np.round(self.fps[clips] / fps).astype(np.int64)) if fps else np.ones(len(clips), np.int64)
        span = (length - 1) * step + 1
        room = np.maximum(0, (self.start[clips + 1] - self.start[clips]) - span + 1)
        if room.sum() == 0:
            raise InputError(f"no clip of split {split!r} is {length} frames long at this rate")
        pick = rng.choice(len(clips), size=n, p=room / room.sum())
        first = self.start[clips[pick]] + (rng.random(n) * room[pick]).astype(np.int64)
        frame = first[:, None] + np.arange(length)[None] * step[pick][:, None]
        out = self._rows(frame.reshape(-1), rng, False)
        pose, transl = out["pose"].reshape(n, length, 24, 3), out["transl"].reshape(n, length, 3)
        flip = rng.random(n) < 0.5 if mirror else np.zeros(n, bool)
        if flip.any():
            from meshvid.synth.motion import mirror_pose  # noqa: PLC0415

            pose[flip] = mirror_pose(pose[flip])
            transl[flip, :, 0] *= -1.0
        return {"pose": pose, "transl": transl, "clip": out["clip"].reshape(n, length)[:, 0], "mirrored": flip}

    def _rows(self, frame: np.ndarray, rng: np.random.Generator, mirror: bool) -> dict[str, np.ndarray]:
        pose, transl = self.pose[frame], self.transl[frame]
        clip = (np.searchsorted(self.start, frame, side="right") - 1).astype(np.int32)
        flip = rng.random(len(frame)) < 0.5 if mirror else np.zeros(len(frame), bool)
        if flip.any():
            from meshvid.synth.motion import mirror_pose  # noqa: PLC0415

            pose[flip] = mirror_pose(pose[flip])
            transl[flip, 0] *= -1.0
        return {"pose": pose, "transl": transl, "clip": clip, "frame": frame, "mirrored": flip}

    def iter_clips(self, split: str = "train", mirror: bool = False) -> Iterator[MotionItem]:
        """Each clip of a split (and its mirror image, id + "#mirror") as a MotionItem."""
        from meshvid.synth.motion import mirror_pose  # noqa: PLC0415

        for c in self._clips(split):
            a, b = self.start[c], self.start[c + 1]
            for k in range(2 if mirror else 1):
                pose, transl = self.pose[a:b], self.transl[a:b]
                if k:
                    pose, transl = mirror_pose(pose).astype(np.float32), transl * np.array([-1, 1, 1], np.float32)
                yield MotionItem(pose=pose, transl=transl, fps=float(self.fps[c]),
                                 clip_id=str(self.ids[c]) + ("#mirror" if k else ""), corpus=str(self.corpus[c]),
                                 split=str(self.split[c]), error_mm=float(self.error_mm[c]))

    @classmethod
    def build(cls, paths: Iterable[str | Path], fps: float | None = 30.0,
              max_error_mm: float = MAX_ERROR_MM, workers: int | None = None, cache: bool = True,
              rest_joints: np.ndarray | None = None, max_fps: float | None = None,
              on_clip: Callable[[ClipReport], None] | None = None) -> ClipLibrary:
        """Read, map and retarget every motion file under `paths` (in `workers` processes),
        resample to `fps` (None: each clip's own rate), and cache the result.

        Args:
            paths: folders or files (BVH, FBX, ASF+AMC, cmu8, DeepMimic).
            fps: output rate (slerp; `meshvid.synth.motion.resample`).
            max_error_mm: clips above this retarget error are left out (reports say so).
            workers: processes (None: default_workers()).
            cache: read / write the cache.
            rest_joints: (24, 3) our rest joints (default anny24 mean shape; part of the key).
            max_fps: with fps None, clips faster than this are resampled to it.
            on_clip: called with each file's report as it is done (not called from the cache).
        Returns:
            The ClipLibrary (from the cache when the files and options are unchanged; its
            `reports` then come from the cache too).
        """
        import time  # noqa: PLC0415

        from meshvid.paths import cache_dir  # noqa: PLC0415

        t0 = time.perf_counter()
        reports: list[ClipReport] = []
        jobs = _files(paths, reports, on_clip)
        rest = default_rest_joints() if rest_joints is None else np.asarray(rest_joints, np.float64)
        h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "fps": fps, "max": max_error_mm,
                                       "max_fps": max_fps}).encode())
        h.update(np.round(rest, 6).tobytes())
        for f, root in jobs:
            st = f.stat()
            h.update(f"{f.resolve()}|{root}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        cpath = cache_dir() / "motion" / f"library-{h.hexdigest()[:20]}.npz"
        if cache and cpath.is_file():
            with np.load(cpath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            cached = [ClipReport(**r) for r in json.loads(str(arrays.pop("reports_json").reshape(-1)[0]))]
            return cls(**arrays, reports=reports + cached, seconds=0.0)
        poses, transl, ids, corpus, split, rates, errs, lengths = [], [], [], [], [], [], [], []
        rate = fps if fps is not None else max_fps
        for item, rep in _load_many(jobs, rest, max_error_mm, rate, workers, only_above=fps is None):
            reports.append(rep)
            if on_clip:
                on_clip(rep)
            if item is None:
                continue
            pose, tr, rate = item
            poses.append(pose)
            transl.append(tr)
            lengths.append(len(pose))
            ids.append(rep.clip_id)
            corpus.append(corpus_of(rep.clip_id))
            split.append(rep.split)
            rates.append(rate)
            errs.append(rep.error_mm)
        lib = cls(
            pose=np.concatenate(poses) if poses else np.zeros((0, 24, 3), np.float32),
            transl=np.concatenate(transl) if transl else np.zeros((0, 3), np.float32),
            start=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            ids=np.array(ids, dtype=str), corpus=np.array(corpus, dtype=str), split=np.array(split, dtype=str),
            fps=np.array(rates, dtype=np.float32), error_mm=np.array(errs, dtype=np.float32),
            reports=reports, seconds=time.perf_counter() - t0)
        if cache:
            from meshvid.synth.shards import write_npz_deterministic  # noqa: PLC0415

            cpath.parent.mkdir(parents=True, exist_ok=True)
            arrays = {k: getattr(lib, k) for k in ("pose", "transl", "start", "ids", "corpus", "split", "fps", "error_mm")}
            arrays["reports_json"] = np.array(json.dumps([r.__dict__ for r in reports]))
            write_npz_deterministic(cpath, arrays)
        return lib




def _one(job: tuple[Path, Path]) -> list[tuple[tuple[np.ndarray, np.ndarray, float] | None, ClipReport]]:
    """One file -> per skeleton (a multi-person FBX has several): ((pose (T, 24, 3) float32,
    transl (T, 3) float32, fps) or None, report)."""
    from meshvid.synth.motion import resample  # noqa: PLC0415

    out = []
    for res, rep in load_clips(job[0], job[1], _WORKER["rest"], _WORKER["max_error_mm"]):
        if res is None:
            out.append((None, rep))
            continue
        clip = res.clip
        fps = _WORKER["fps"]
        if fps is not None and (clip.fps > fps + 1e-6 if _WORKER["only_above"] else abs(fps - clip.fps) > 1e-6):
            clip = resample(clip, fps)
        out.append(((clip.axis_angle().astype(np.float32), clip.root_pos.astype(np.float32), float(clip.fps)), rep))
    return out


def _load_many(jobs: list[tuple[Path, Path]], rest: np.ndarray, max_error_mm: float, fps: float | None,
               workers: int | None, only_above: bool = False) -> Iterator[tuple[tuple | None, ClipReport]]:
    _WORKER.update(rest=rest, max_error_mm=max_error_mm, fps=fps, only_above=only_above)
    workers = min(default_workers(), workers or default_workers())
    if workers <= 1 or len(jobs) < 8:
        for job in jobs:
            yield from _one(job)
        return
    state = {"rest": rest, "max_error_mm": max_error_mm, "fps": fps, "only_above": only_above}
    with worker_pool(workers, state) as pool:
        for items in pool.imap(_one, jobs, chunksize=4):
            yield from items
        pool.close()
        pool.join()
