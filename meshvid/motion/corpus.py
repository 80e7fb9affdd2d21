"""Motion corpora: find the clips under a folder, read and retarget them, apply the split, and
hand them to the synthetic-data generator or to training.

A clip's id is "<corpus>/<path relative to the folder given, without extension>", where the
corpus follows from the skeleton family (bandai, cmu, cmu8, mixamo, deepmimic, or bvh for an
unknown skeleton). The held-out rule is meshvid.synth.sources.held_out (one place).
A file that cannot be read or mapped becomes a one-line report; it never stops a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from meshvid.errors import InputError, MeshvidError
from meshvid.motion.capture import Capture
from meshvid.motion.retarget import MAX_ERROR_MM, Retargeted, retarget

SUFFIXES = (".bvh", ".amc", ".txt", ".fbx")
CORPUS_OF_FAMILY = {"bandai": "bandai", "cmu-asf": "cmu", "cmu-bvh": "cmu", "cmu8": "cmu8",
                    "mixamo": "mixamo", "deepmimic": "deepmimic", "bvh": "bvh"}
# CMU's trial naming, <subject>_<trial> ("07_01", "137_05"): a Daz-named skeleton with it is a
# clip of the CMU database (cgspeed's "Daz-friendly" BVH release and the FBX library converted
# from it), so it joins corpus "cmu" and its held-out rule.
CMU_TRIAL = re.compile(r"^\d{1,3}_\d{1,3}$")
CMU_FAMILIES = ("daz", "cmu-bvh")
CACHE_VERSION = 3  # 3: proportioned retargeting, every skeleton of a multi-skeleton FBX


def corpus_of(clip_id: str) -> str:
    """A clip id's corpus: its first part ("cmu/asfamc/subjects/01/01_01" -> "cmu")."""
    return clip_id.split("/", 1)[0]


def default_rest_joints() -> np.ndarray:
    """(24, 3) rest joints of the default body (anny24, mean shape)."""
    import torch  # noqa: PLC0415

    from meshvid.body import load_body_model  # noqa: PLC0415

    with torch.no_grad():
        _, joints = load_body_model("anny24").rest_shape(torch.zeros(1, 10))
    return joints[0].double().numpy()


def discover(path: str | Path) -> list[Path]:
    """Motion files under `path` (a file or a folder, searched recursively), sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    # A folder's other .txt files (labels, notes) are not motion: keep cmu8 / DeepMimic only.
    return [p for p in found if p.suffix.lower() != ".txt" or _motion_txt(p)]


def _motion_txt(path: Path) -> bool:
    from meshvid.motion import cmu8  # noqa: PLC0415

    try:
        with open(path, errors="replace") as f:
            head = f.read(1)
    except OSError:
        return True  # let the reader report it
    return head == "{" or cmu8.is_cmu8_text(path)


def read_capture(path: Path) -> Capture:
    """Read one motion file of any supported format (by suffix and content)."""
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        from meshvid.motion.bvh import read_bvh  # noqa: PLC0415

        return read_bvh(path)
    if suffix == ".amc":
        from meshvid.motion.asfamc import read_asf_amc  # noqa: PLC0415

        return read_asf_amc(path)
    if suffix == ".fbx":
        from meshvid.motion.fbx import read_fbx  # noqa: PLC0415

        return read_fbx(path)
    if suffix == ".txt":
        from meshvid.motion import cmu8  # noqa: PLC0415

        with open(path, errors="replace") as f:
            head = f.read(1).strip()
        if head == "{":
            return read_deepmimic(path)
        if cmu8.is_cmu8_text(path):
            return cmu8.read_cmu8(path)
        raise InputError(f"{path}: a .txt that is neither a cmu8 exp-map clip nor a DeepMimic clip")
    raise InputError(f"{path}: unknown motion format (expected .bvh, .fbx, .amc, .txt)")


def read_captures(path: Path) -> list[Capture]:
    """Every capture a file holds: one per skeleton of a multi-skeleton FBX (our multi-person
    exports: one per person, named "<stem>#person_<id>"), else the one `read_capture` reads."""
    if path.suffix.lower() == ".fbx":
        from meshvid.motion.fbx import read_fbx_all  # noqa: PLC0415

        return read_fbx_all(path)
    return [read_capture(path)]


def read_deepmimic(path: str | Path) -> Capture:
    """A DeepMimic clip (pybullet's humanoid3d_*.txt) as joint positions, through the same
    retargeting as every other capture (its axes: x forward, y up, z right; metres)."""
    from meshvid.synth import deepmimic  # noqa: PLC0415

    dm = deepmimic.read_clip(path)
    _, pos = deepmimic.forward_kinematics(dm.local, dm.root_pos)
    return Capture(name=dm.name, path=Path(path), family="deepmimic", fps=1.0 / dm.frame_time,
                   joints=deepmimic.DM_NAMES, parents=deepmimic.DM_PARENTS, positions=pos, unit=1.0,
                   unit_name="m (DeepMimic)")


@dataclass
class ClipReport:
    """One file's outcome (what `meshvid motion info` prints)."""

    path: str
    clip_id: str = ""
    split: str = ""
    family: str = ""
    frames: int = 0
    fps: float = 0.0
    error_mm: float | None = None
    error_p95_mm: float | None = None
    scale: float | None = None
    up_axis: str = ""
    unit: str = ""
    joint_map: dict[str, str] = field(default_factory=dict)
    method: str = ""  # how the map was found: family, names, shape
    tpose_frame0: bool = False  # a T-pose frame 0 was dropped
    status: str = "ok"  # ok | rejected | unreadable
    reason: str = ""

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


def corpus_for(family: str, path: Path) -> str:
    """The corpus a file belongs to: its skeleton family's (CORPUS_OF_FAMILY), "cmu" for a
    CMU-numbered file of a family CMU conversions use (CMU_TRIAL), else its format ("bvh",
    "fbx")."""
    if family in CMU_FAMILIES and CMU_TRIAL.match(path.stem):
        return "cmu"
    return CORPUS_OF_FAMILY.get(family) or path.suffix.lower().lstrip(".") or "bvh"


def clip_id_for(cap: Capture, family: str, root: Path, path: Path) -> str:
    """"<corpus>/<path under root, without extension>", plus "#<skeleton>" for one skeleton of a
    multi-skeleton file ("fbx/toy#person_3")."""
    corpus = corpus_for(family, path)
    rel = path.relative_to(root) if root.is_dir() else Path(path.name)
    return f"{corpus}/{rel.with_suffix('').as_posix()}{_skeleton_tag(cap)}"


def _skeleton_tag(cap: Capture) -> str:
    """"#person_3" for one skeleton of a file that holds several, else ""."""
    return f"#{cap.info['skeleton']}" if cap.info.get("skeletons", 1) > 1 and cap.info.get("skeleton") else ""


def _round_fps(fps: float) -> float:
    r = round(fps)
    return float(r) if abs(fps - r) < 1e-3 * max(1.0, fps) else fps


_BAD_FILE = (MeshvidError, ValueError, np.linalg.LinAlgError)


def load_clip(path: Path, root: Path, rest_joints: np.ndarray,
              max_error_mm: float = MAX_ERROR_MM) -> tuple[Retargeted | None, ClipReport]:
    """Read and retarget one file (its first skeleton; `load_clips`: every one). Never raises for
    a bad file: the report says what went wrong."""
    return load_clips(path, root, rest_joints, max_error_mm)[0]


def load_clips(path: Path, root: Path, rest_joints: np.ndarray,
               max_error_mm: float = MAX_ERROR_MM) -> list[tuple[Retargeted | None, ClipReport]]:
    """Read and retarget every skeleton of one file (one per person of our multi-person FBX
    exports; report path "<file>#person_3"). Never raises for a bad file or skeleton: its
    report says what went wrong."""
    try:
        caps = read_captures(path)
    except _BAD_FILE as err:
        return [(None, ClipReport(path=str(path), status="unreadable", reason=str(err).splitlines()[0]))]
    return [_load_capture(cap, path, root, rest_joints, max_error_mm) for cap in caps]


def _load_capture(cap: Capture, path: Path, root: Path, rest_joints: np.ndarray,
                  max_error_mm: float) -> tuple[Retargeted | None, ClipReport]:
    """Map, retarget and judge one capture of `path`."""
    from meshvid.motion.retarget import prepare  # noqa: PLC0415
    from meshvid.synth.sources import split_of  # noqa: PLC0415

    rep = ClipReport(path=str(path) + _skeleton_tag(cap))
    try:
        cap.fps = _round_fps(cap.fps)
        cap, jm = prepare(cap)
        res = retarget(cap, rest_joints, jmap=jm)
    except _BAD_FILE as err:
        rep.status, rep.reason = "unreadable", str(err).splitlines()[0]
        return None, rep
    cid = clip_id_for(cap, res.family, root, path)
    res.clip = replace(res.clip, name=cid)
    rep.clip_id, rep.split, rep.family = cid, split_of(cid), res.family
    rep.frames, rep.fps = cap.num_frames, cap.fps
    rep.error_mm, rep.error_p95_mm = round(res.error_mm, 1), round(res.error_p95_mm, 1)
    rep.scale, rep.up_axis, rep.unit, rep.joint_map = round(res.scale, 4), res.up_axis, cap.unit_name, res.joint_map
    rep.method, rep.tpose_frame0 = res.method, bool(cap.info.get("tpose_frame0"))
    if res.problems:
        rep.status, rep.reason = "rejected", "; ".join(res.problems)
        return None, rep
    if not np.isfinite(res.error_mm) or res.error_mm > max_error_mm:
        rep.status = "rejected"
        rep.reason = f"retarget error {res.error_mm:.1f} mm > {max_error_mm:g} mm"
        return None, rep
    return res, rep


def _files(paths: Iterable[str | Path], reports: list[ClipReport],
           on_clip: Callable[[ClipReport], None] | None) -> list[tuple[Path, Path]]:
    """(file, root folder) of every motion file under `paths`; an unreadable root becomes a
    report."""
    out = []
    for p in paths:
        root = Path(p)
        try:
            out += [(f, root) for f in discover(root)]
        except InputError as err:
            rep = ClipReport(path=str(root), status="unreadable", reason=str(err))
            reports.append(rep)
            if on_clip:
                on_clip(rep)
    return out


_WORKER: dict = {}


def _init_worker(state: dict) -> None:
    """Pool initializer: one thread per worker process, and the job's fixed arguments."""
    import signal  # noqa: PLC0415

    import torch  # noqa: PLC0415

    # The parent (the CLI) owns Ctrl-C and SIGTERM; a worker just ends when the pool ends it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(1)
    _WORKER.update(state)


def worker_pool(workers: int, state: dict):
    """A process pool for per-file work: forked (no re-import of the caller's script), each
    worker on one torch thread first (_init_worker; as torch's DataLoader workers do: a forked
    child entering the parent's OpenMP thread pool hangs)."""
    import multiprocessing as mp  # noqa: PLC0415

    return mp.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(state,))


def _load_in_worker(job: tuple[Path, Path]) -> list[tuple[Retargeted | None, ClipReport]]:
    out = []
    for res, rep in load_clips(job[0], job[1], _WORKER["rest"], _WORKER["max_error_mm"]):
        if res is not None and not _WORKER["keep"]:
            res = None
        elif res is not None:  # what crosses back: the clip and its report (not the diagnostics)
            res = replace(res, targets=np.zeros((0, 24, 3)), fitted=np.zeros((0, 24, 3)))
        out.append((res, rep))
    return out


def default_workers() -> int:
    """Worker processes for a scan: $MESHVID_MOTION_WORKERS, else the CPUs this process may use."""
    import multiprocessing as mp  # noqa: PLC0415

    if mp.current_process().daemon or "fork" not in mp.get_all_start_methods():
        return 1  # a pool's worker cannot start processes of its own; no fork: one process
    env = os.environ.get("MESHVID_MOTION_WORKERS", "")
    if env.strip().isdigit():
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def load_all(jobs: list[tuple[Path, Path]], rest: np.ndarray, max_error_mm: float, keep: bool,
             workers: int | None = None) -> Iterator[tuple[Retargeted | None, ClipReport]]:
    """load_clips over (file, root) jobs, in order, in `workers` processes (1: here): one item
    per skeleton (a multi-person FBX gives several). A clip coming back from a worker has no
    `targets` / `fitted` diagnostics."""
    workers = min(default_workers(), workers or default_workers())
    if workers <= 1 or len(jobs) < 8:
        for f, root in jobs:
            for res, rep in load_clips(f, root, rest, max_error_mm):
                yield (res if keep else None), rep
        return
    with worker_pool(workers, {"rest": rest, "max_error_mm": max_error_mm, "keep": keep}) as pool:
        for items in pool.imap(_load_in_worker, jobs, chunksize=4):
            yield from items
        pool.close()
        pool.join()


def scan(paths: Iterable[str | Path], rest_joints: np.ndarray | None = None,
         max_error_mm: float = MAX_ERROR_MM, on_clip: Callable[[ClipReport], None] | None = None,
         keep: bool = True, workers: int | None = 1,
         on_files: Callable[[int], None] | None = None) -> tuple[list[Retargeted], list[ClipReport]]:
    """Read and retarget every motion file under `paths`.

    Args:
        paths: files or folders.
        rest_joints: (24, 3) our rest joints (default: anny24 mean shape).
        max_error_mm: reject clips whose mean retarget error exceeds this.
        on_clip: called with each file's report as it is done (progress, one-line errors).
        keep: keep the retargeted clips (False: reports only, less memory).
        workers: processes (None: default_workers(); 1: this one). Clips from workers carry
            no targets / fitted diagnostics.
        on_files: called once with the number of files found (a progress bar's total).
    Returns:
        (accepted clips, one report per file and skeleton: a multi-person FBX has one per
        person), in file order.
    """
    rest = default_rest_joints() if rest_joints is None else rest_joints
    clips: list[Retargeted] = []
    reports: list[ClipReport] = []
    jobs = _files(paths, reports, on_clip)
    if on_files:
        on_files(len(jobs))
    for res, rep in load_all(jobs, rest, max_error_mm, keep, workers):
        reports.append(rep)
        if res is not None and keep:
            clips.append(res)
        if on_clip:
            on_clip(rep)
    return clips, reports


def summarise(reports: list[ClipReport]) -> dict:
    """Per corpus: clips read / rejected / unreadable, frames, hours, median and 95th-percentile
    clip error (mm), split counts."""
    out: dict[str, dict] = {}
    for r in reports:
        corpus = corpus_of(r.clip_id) if r.clip_id else "unreadable"
        s = out.setdefault(corpus, {"clips": 0, "accepted": 0, "rejected": 0, "unreadable": 0,
                                    "frames": 0, "hours": 0.0, "heldout_clips": 0, "errors": []})
        s["clips"] += 1
        if r.status == "unreadable":
            s["unreadable"] += 1
            continue
        s["errors"].append(r.error_mm)
        if r.status == "rejected":
            s["rejected"] += 1
            continue
        s["accepted"] += 1
        s["frames"] += r.frames
        s["hours"] += r.seconds / 3600.0
        s["heldout_clips"] += r.split == "heldout"
    for s in out.values():
        e = np.array(s.pop("errors"), dtype=np.float64)
        s["error_median_mm"] = round(float(np.median(e)), 1) if len(e) else None
        s["error_p95_mm"] = round(float(np.percentile(e, 95)), 1) if len(e) else None
        s["error_max_mm"] = round(float(e.max()), 1) if len(e) else None
        s["hours"] = round(s["hours"], 3)
    return out


# --- training access

@dataclass
class MotionItem:
    """One clip for training: pose (T, 24, 3) axis-angle (SMPL_24 layout of meshvid.body.base,
    the root rotation in the motion world: y up), transl (T, 3) pelvis positions (metres), fps,
    clip id, corpus and split."""

    pose: np.ndarray
    transl: np.ndarray
    fps: float
    clip_id: str
    corpus: str
    split: str
    error_mm: float


def iter_motions(paths: Iterable[str | Path], split: str = "train", fps: float | None = 30.0,
                 mirror: bool = False, rest_joints: np.ndarray | None = None,
                 max_error_mm: float = MAX_ERROR_MM, builtin: bool = False,
                 on_clip: Callable[[ClipReport], None] | None = None,
                 workers: int | None = None) -> Iterator[MotionItem]:
    """Iterate the clips of a split over corpora folders (held-out rule applied).

    Args:
        paths: corpus folders or files (BVH, ASF/AMC, cmu8 text, DeepMimic .txt).
        split: "train" (never a held-out clip), "heldout", or "all".
        fps: resample every clip to this rate (None: keep each clip's own).
        mirror: also yield each clip's left/right mirror image (clip id + "#mirror").
        rest_joints: (24, 3) our rest joints (default anny24 mean shape).
        max_error_mm: rejection threshold on the retarget error.
        builtin: also include the DeepMimic clips shipped in pybullet (same retargeting) and
            the anny walk cycle (its own IK retargeting, meshvid.synth.annywalk; train split).
        on_clip: called with every file's report (bad files included).
        workers: processes reading and retargeting (None: default_workers()).
    Yields:
        MotionItem per accepted clip (and mirror).
    """
    from meshvid.synth.motion import mirror as mirror_clip  # noqa: PLC0415
    from meshvid.synth.motion import resample  # noqa: PLC0415

    if split not in ("train", "heldout", "all"):
        raise InputError(f"unknown split {split!r}; choose train, heldout or all")
    rest = default_rest_joints() if rest_joints is None else rest_joints
    roots = [Path(p) for p in paths]
    if builtin:
        from meshvid.synth import annywalk, deepmimic  # noqa: PLC0415

        roots.append(deepmimic.motions_dir())
        if split in ("train", "all"):
            for clip in annywalk.load_clips(rest):
                variants = [clip] + ([mirror_clip(clip)] if mirror else [])
                for k, c in enumerate(variants):
                    c = replace(c, loop=False)
                    if fps is not None and abs(fps - c.fps) > 1e-6:
                        c = resample(c, fps)
                    yield MotionItem(pose=c.axis_angle().astype(np.float32), transl=c.root_pos.astype(np.float32),
                                     fps=c.fps, clip_id=clip.name + ("#mirror" if k else ""), corpus="anny",
                                     split="train", error_mm=float("nan"))  # not measured
    for root in roots:
        try:
            files = discover(root)
        except InputError as err:
            if on_clip:
                on_clip(ClipReport(path=str(root), status="unreadable", reason=str(err)))
            continue
        if builtin and root == roots[-1]:
            files = [f for f in files if f.name.startswith("humanoid3d_")]
        for res, rep in load_all([(f, root) for f in files], rest, max_error_mm, True, workers):
            if on_clip:
                on_clip(rep)
            if res is None or (split != "all" and rep.split != split):
                continue
            variants = [res.clip] + ([mirror_clip(res.clip)] if mirror else [])
            for k, clip in enumerate(variants):
                if fps is not None and abs(fps - clip.fps) > 1e-6:
                    clip = resample(clip, fps)
                yield MotionItem(pose=clip.axis_angle().astype(np.float32),
                                 transl=clip.root_pos.astype(np.float32), fps=clip.fps,
                                 clip_id=rep.clip_id + ("#mirror" if k else ""),
                                 corpus=corpus_of(rep.clip_id), split=rep.split,
                                 error_mm=float(rep.error_mm or 0.0))


def _cache_key(paths: list[Path], **kw) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, **kw}, sort_keys=True, default=str).encode())
    for root in paths:
        for f in discover(root):
            st = f.stat()
            h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def training_frames(paths: Iterable[str | Path], split: str = "train", fps: float | None = 30.0,
                    mirror: bool = False, builtin: bool = False, max_error_mm: float = MAX_ERROR_MM,
                    cache: bool = True, on_clip: Callable[[ClipReport], None] | None = None) -> dict:
    """Every frame of a split as flat arrays, for skeleton-side training on many (pose, camera)
    draws. Cached as one .npz under meshvid's cache dir (keyed on the files, sizes, mtimes and
    options), so a second call loads in about a second.

    Returns:
        dict with pose (N, 24, 3) float32 axis-angle, transl (N, 3) float32, clip (N,) int32
        index into clip_ids, clip_ids (C,) str, corpus (C,) str, fps (C,) float32, error_mm (C,)
        float32.
    """
    from meshvid.paths import cache_dir  # noqa: PLC0415

    roots = [Path(p) for p in paths]
    key = _cache_key(roots, split=split, fps=fps, mirror=mirror, builtin=builtin, max_error_mm=max_error_mm)
    cpath = cache_dir() / "motion" / f"frames-{key}.npz"
    if cache and cpath.is_file():
        with np.load(cpath, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    poses, transl, clip, ids, corpus, rates, errs = [], [], [], [], [], [], []
    for item in iter_motions(roots, split, fps, mirror, max_error_mm=max_error_mm, builtin=builtin, on_clip=on_clip):
        poses.append(item.pose)
        transl.append(item.transl)
        clip.append(np.full(len(item.pose), len(ids), dtype=np.int32))
        ids.append(item.clip_id)
        corpus.append(item.corpus)
        rates.append(item.fps)
        errs.append(item.error_mm)
    out = {
        "pose": np.concatenate(poses) if poses else np.zeros((0, 24, 3), np.float32),
        "transl": np.concatenate(transl) if transl else np.zeros((0, 3), np.float32),
        "clip": np.concatenate(clip) if clip else np.zeros(0, np.int32),
        "clip_ids": np.array(ids, dtype=str), "corpus": np.array(corpus, dtype=str),
        "fps": np.array(rates, dtype=np.float32), "error_mm": np.array(errs, dtype=np.float32),
    }
    if cache:
        from meshvid.synth.shards import write_npz_deterministic  # noqa: PLC0415

        cpath.parent.mkdir(parents=True, exist_ok=True)
        write_npz_deterministic(cpath, out)
    return out
