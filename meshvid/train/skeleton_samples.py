"""Skeleton-only training rows: labels of crops that are never rendered.

At inference the skeleton branch reads YOLO11n-pose's COCO-17 keypoints, so it can learn from far
more (pose, body, camera) draws than this CPU can render: each row here is a crop's labels made
exactly as `meshvid synth` makes them (the same motion library and split, bodies, cameras and
crop boxes; `SampleMaker.crop_labels`), without the image. Its keypoints are drawn at training
time from the keypoint-noise model measured on the detector (data.keypoint_noise), its backbone
feature is zero and `has_image` = 0, so the DSD gives it x_d = 0: with the affine bilinear
fusion only the skeleton's linear path carries it (docs/model.md, "Skeleton-only rows").

    table = skeleton_table(20000, seed=7, crop_size=224, cache_dir=Path("runs/_cache"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from meshvid.train.tables import FrameTable

FEATURE_DIM = 1280  # EfficientNet-Lite0's pooled feature (zeros here; has_image = 0)
BATCH = 256
CHUNK = 4096  # rows per job of make_rows_parallel


def make_rows(n: int, seed: int, crop_size: int = 224, split: str = "train",
              progress: Callable[[int, int], None] | None = None,
              motions: tuple[str, ...] = (),
              corpus_mix: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """n crops' labels: keypoints (n, 17, 3) crop-normalised COCO-17 + visibility, joints3d
    (n, 14, 3) LSP-14 camera-space metres, pose (n, 24, 3) axis-angle, betas (n, 10).
    corpus_mix: each corpus's share of the motion draws (MotionLibrary.build)."""
    from meshvid.synth.generate import SampleMaker

    from meshvid.synth.scene import sample_betas

    maker = SampleMaker(split=split, crop_size=crop_size, render=False, motions=motions,
                        corpus_mix=corpus_mix)
    rng = np.random.default_rng(seed)
    kp = np.zeros((n, 17, 3), np.float32)
    j3 = np.zeros((n, 14, 3), np.float32)
    pose = np.zeros((n, 24, 3), np.float32)
    betas = np.zeros((n, 10), np.float32)
    for start in range(0, n, BATCH):  # the body is posed a batch at a time (LBS dominates)
        m = min(BATCH, n - start)
        draws = [maker.library.draw_frame(rng) for _ in range(m)]
        shapes = np.stack([sample_betas(rng, heldout=False) for _ in range(m)])
        with torch.no_grad():
            out = maker.body.forward_rotmat(
                torch.from_numpy(np.concatenate([d.rotmats for d in draws])).float(),
                torch.from_numpy(shapes).float())
        verts = out.vertices.double().numpy()
        for k in range(m):
            shift, cam, _, box = maker._place_crop(rng, verts[k])
            f = maker.labels_in_crop(rng, draws[k], shapes[k], out, k, shift, cam, box).frame
            i = start + k
            kp[i, :, :2] = f["joints2d_coco17_norm"][0]
            kp[i, :, 2] = f["vis_coco17"][0]
            j3[i] = f["joints3d_lsp14"][0]
            pose[i] = f["pose"][0]
            betas[i] = shapes[k]
        if progress:
            progress(start + m, n)
    maker.close()
    return {"keypoints": kp, "joints3d": j3, "pose": pose, "betas": betas}


def _chunk_rows(args) -> dict[str, np.ndarray]:
    n, seed, crop_size, motions, corpus_mix = args
    torch.set_num_threads(1)
    return make_rows(n, seed, crop_size, motions=motions, corpus_mix=corpus_mix)


def make_rows_parallel(n: int, seed: int, crop_size: int, motions: tuple[str, ...] = (),
                       corpus_mix: dict[str, float] | None = None, workers: int = 1,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """make_rows in chunks of CHUNK rows over `workers` processes. Chunk c is drawn with seed
    (seed, c), so the rows do not depend on the number of workers."""
    import multiprocessing as mp

    sizes = [min(CHUNK, n - s) for s in range(0, n, CHUNK)]
    jobs = [(m, int(np.random.SeedSequence([seed, c]).generate_state(1)[0]), crop_size, motions,
             corpus_mix) for c, m in enumerate(sizes)]
    parts, done = [], 0
    if workers <= 1:
        results = map(_chunk_rows, jobs)
        pool = None
    else:
        pool = mp.get_context("spawn").Pool(workers)
        results = pool.imap(_chunk_rows, jobs)
    try:
        for part in results:
            parts.append(part)
            done += len(part["pose"])
            if progress:
                progress(done, n)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def rows_to_table(rows: dict[str, np.ndarray], feature_dim: int = FEATURE_DIM):
    """Skeleton rows -> a FrameTable without images (zero features, has_image 0).

    Args:
        rows: `make_rows` output: keypoints (n, 17, 3), joints3d (n, 14, 3), pose (n, 24, 3),
            betas (n, 10).
        feature_dim: width of the (zero) image feature column.
    """
    n = len(rows["pose"])
    j3 = np.concatenate([rows["joints3d"], np.ones((n, 14, 1), np.float32)], -1)
    return FrameTable(
        keypoints=torch.from_numpy(rows["keypoints"]), joints3d=torch.from_numpy(j3),
        pose=torch.from_numpy(rows["pose"]), betas=torch.from_numpy(rows["betas"]),
        has_3d=torch.ones(n), has_smpl=torch.ones(n), seq=torch.full((n,), -1),
        frame=torch.zeros(n, dtype=torch.long),
        features=torch.zeros(n, feature_dim, dtype=torch.float16), has_image=torch.zeros(n),
        keypoints_set="coco17")


def skeleton_table(n: int, seed: int, crop_size: int, cache_dir: Path,
                   feature_dim: int = FEATURE_DIM,
                   progress: Callable[[int, int], None] | None = None,
                   motions: tuple[str, ...] = (),
                   corpus_mix: dict[str, float] | None = None, workers: int = 1) -> FrameTable:
    """A FrameTable of n skeleton-only rows (cached in cache_dir by n, seed, crop size, the
    motion folders and the corpus mix), drawn from the training split of the motion library
    (+ `motions`). Without a corpus mix the rows are those of earlier versions (one stream);
    with one they are made in chunks over `workers` processes."""
    import hashlib
    import json

    def digest(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    # Tables with a corpus mix key the folders resolved (named relatively or absolutely, one
    # table); the older ones keep their key as given, so their caches stay valid.
    names = [str(Path(m).resolve()) for m in motions] if corpus_mix else list(motions)
    tag = digest("|".join(names)) if motions else "builtin"
    if corpus_mix:
        tag += "-mix" + digest(json.dumps(corpus_mix, sort_keys=True))
    path = cache_dir / f"skeleton-{n}-{seed}-{crop_size}-{tag}.safetensors"
    if path.is_file():
        return FrameTable.load(path)
    if corpus_mix:
        rows = make_rows_parallel(n, seed, crop_size, motions, corpus_mix, workers, progress)
    else:
        rows = make_rows(n, seed, crop_size, progress=progress, motions=motions)
    table = rows_to_table(rows, feature_dim)
    cache_dir.mkdir(parents=True, exist_ok=True)
    table.save(path)
    return table
