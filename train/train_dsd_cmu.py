"""Issues 24/28: the single-frame network retrained on skeleton rows drawn from the whole CMU
library (meshvid.motion.library.ClipLibrary, 2,493 clips, training split only: the DESIGN
hold-out rule removes subject 03 and every subject ending in 7), no rendered crops.

Each row is a crop's labels made the way `meshvid synth` makes them (anny24 posed by the
retargeted frame, a sampled body shape, camera and crop box; `SampleMaker.labels_in_crop`), so
the input is the body's COCO-17 *surface* keypoints and the targets its joints; the detector's
keypoints are drawn at training time from the measured YOLO11n-pose noise model
(data.keypoint_noise: measured). Cameras: `meshvid.synth.scene.place_camera`, optionally with
`RaisedCameras` (--raised-p, --pitch) so that a share of the views look down like the lab4cam
rig (24-35 degrees).

Without rendered crops the detail branch cannot learn, so the recipes here train the skeleton
network (train/cmu_skeleton*.yaml: model.dsd.variant skeleton), which `meshvid infer` loads
like any DSD checkpoint.

    python train/train_dsd_cmu.py --config train/cmu_skeleton.yaml --rows 65536 \
        --raised-p 0.5 --out runs/cmu_skel_raised
    # then: meshvid eval --dataset multiview DIR --weights cand=runs/cmu_skel_raised/dsd.safetensors
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIBRARY = ROOT / "data" / "mocap" / "cmu_fbxlib"


def _maker(crop_size: int):
    """A SampleMaker used for its body, crop policy and label code only (no renderer; its own
    builtin motion library is never drawn from here)."""
    from meshvid.synth.generate import SampleMaker

    return SampleMaker(split="train", crop_size=crop_size, render=False)


def _place_crop(maker, rng, verts_w, raised):
    """SampleMaker._place_crop with the opt-in raised cameras."""
    from meshvid.synth.scene import crop_box, place_camera, sample_frame_size

    shift = np.array([-verts_w[:, 0].mean(), -verts_w[:, 1].min(), -verts_w[:, 2].mean()])
    lo, hi = verts_w.min(0) + shift, verts_w.max(0) + shift
    center = 0.5 * (lo + hi)
    extent = float(np.max(hi - lo))
    width, height = sample_frame_size(rng)
    cam = place_camera(rng, center, extent, width, height, raised=raised)
    uv = cam.project(cam.to_camera(verts_w + shift))
    box = crop_box(rng, np.array([*uv.min(0), *uv.max(0)]), maker.policy)
    return shift, cam, box, center


def make_rows(job) -> dict[str, np.ndarray]:
    """One chunk of rows: (n, seed, crop_size, raised_p, pitch) -> labels."""
    n, seed, crop_size, raised_p, pitch = job[:5]
    split = job[5] if len(job) > 5 else "train"
    torch.set_num_threads(1)
    from meshvid.geometry.rotations import axis_angle_to_matrix
    from meshvid.motion.library import ClipLibrary
    from meshvid.synth.scene import RaisedCameras, camera_pitch_deg, sample_betas
    from meshvid.synth.sources import MotionDraw

    lib = ClipLibrary.build([str(LIBRARY)], fps=30)
    maker = _maker(crop_size)
    raised = RaisedCameras(raised_p, tuple(pitch)) if raised_p > 0 else None
    rng = np.random.default_rng(seed)
    rows = lib.draw_frames(n, rng, split=split, mirror=True)
    kp = np.zeros((n, 17, 3), np.float32)
    j3 = np.zeros((n, 14, 3), np.float32)
    pose = np.zeros((n, 24, 3), np.float32)
    betas = np.zeros((n, 10), np.float32)
    pitches = np.zeros(n, np.float32)
    for start in range(0, n, 256):
        m = min(256, n - start)
        rot = axis_angle_to_matrix(torch.from_numpy(rows["pose"][start:start + m]).double()).numpy()
        shapes = np.stack([sample_betas(rng, heldout=split != "train") for _ in range(m)])
        with torch.no_grad():
            out = maker.body.forward_rotmat(torch.from_numpy(rot).float(),
                                            torch.from_numpy(shapes).float())
        verts = out.vertices.double().numpy()
        for k in range(m):
            i = start + k
            draw = MotionDraw(rotmats=rot[k:k + 1], root_pos=rows["transl"][i:i + 1].astype(np.float64),
                              kind=0, clip_id=int(rows["clip"][i]), mirrored=bool(rows["mirrored"][i]))
            shift, cam, box, center = _place_crop(maker, rng, verts[k], raised)
            eye = -cam.R.T @ cam.t
            pitches[i] = camera_pitch_deg(eye, center)
            f = maker.labels_in_crop(rng, draw, shapes[k], out, k, shift, cam, box).frame
            kp[i, :, :2] = f["joints2d_coco17_norm"][0]
            kp[i, :, 2] = f["vis_coco17"][0]
            j3[i] = f["joints3d_lsp14"][0]
            pose[i] = f["pose"][0]
            betas[i] = shapes[k]
        if (start // 256) % 16 == 15:
            print(f"  chunk {seed}: {start + m}/{n}", flush=True)
    maker.close()
    return {"keypoints": kp, "joints3d": j3, "pose": pose, "betas": betas, "pitch": pitches}


def rows_table(n: int, seed: int, crop_size: int, raised_p: float, pitch, workers: int,
               cache: Path):
    from meshvid.train.tables import FrameTable

    tag = f"cmu-{n}-{seed}-{crop_size}-r{raised_p:g}-{pitch[0]:g}-{pitch[1]:g}"
    path = cache / f"{tag}.safetensors"
    meta = cache / f"{tag}.json"
    if path.is_file():
        return FrameTable.load(path), json.loads(meta.read_text())
    t0 = time.time()
    chunk = -(-n // max(1, workers))  # one chunk per worker: each pays the setup once
    sizes = [min(chunk, n - s) for s in range(0, n, chunk)]
    jobs = [(m, int(np.random.SeedSequence([seed, c]).generate_state(1)[0]), crop_size, raised_p,
             tuple(pitch)) for c, m in enumerate(sizes)]
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            parts = []
            for p in pool.imap(make_rows, jobs):
                parts.append(p)
                print(f"rows {sum(len(q['pose']) for q in parts)}/{n} {time.time() - t0:.0f}s", flush=True)
    else:
        parts = []
        for j in jobs:
            parts.append(make_rows(j))
            print(f"rows {sum(len(q['pose']) for q in parts)}/{n} {time.time() - t0:.0f}s", flush=True)
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    from meshvid.train.skeleton_samples import rows_to_table

    table = rows_to_table(rows, 1280)
    cache.mkdir(parents=True, exist_ok=True)
    table.save(path)
    pt = rows["pitch"]
    info = {"rows": n, "seconds": round(time.time() - t0, 1), "raised_p": raised_p,
            "pitch_range": list(pitch),
            "camera_pitch_deg": {"mean": float(pt.mean()), "p10": float(np.percentile(pt, 10)),
                                 "p50": float(np.percentile(pt, 50)), "p90": float(np.percentile(pt, 90)),
                                 "share_20_40": float(((pt >= 20) & (pt <= 40)).mean())}}
    meta.write_text(json.dumps(info, indent=1))
    return table, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="train/cmu_skeleton.yaml")
    ap.add_argument("--set", action="append", default=[], help="recipe override key=value")
    ap.add_argument("--rows", type=int, default=65536)
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--raised-p", type=float, default=0.0, help="share of raised cameras (0: default heights)")
    ap.add_argument("--pitch", type=float, nargs=2, default=(15.0, 40.0), help="raised pitch range, degrees down")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rows-only", action="store_true")
    ap.add_argument("--library", choices=("cmu", "builtin", "cmu+builtin"), default="cmu",
                    help="cmu: the CMU library (default); builtin: the synth's own training "
                    "motions (DeepMimic, Anny's walk, sampled poses; default cameras), the data "
                    "the shipped DSD was rendered from; cmu+builtin: both tables, --rows each")
    ap.add_argument("--builtin-rows", type=int, default=None,
                    help="rows of the builtin table with --library cmu+builtin (default: --rows)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    builtin_rows = a.rows if a.builtin_rows is None else a.builtin_rows

    from meshvid.train.recipe import load_recipe
    from meshvid.train.run import run_training

    tables, info = [], {"library": a.library}
    if "builtin" in a.library:
        from meshvid.train.skeleton_samples import skeleton_table

        t0 = time.time()
        tables.append(skeleton_table(builtin_rows, a.seed, 224, ROOT / "runs" / "_cache",
                                     workers=a.workers))
        info["builtin"] = {"rows": builtin_rows, "seconds": round(time.time() - t0, 1)}
    if "cmu" in a.library:
        # more than one block of 65,536 rows: blocks with seeds seed, seed+1, ... each cached on
        # its own, so a larger run reuses the smaller runs' rows
        block = 65536
        sizes = [a.rows] if a.rows <= block else [block] * (a.rows // block) + (
            [a.rows % block] if a.rows % block else [])
        infos = []
        for b, n in enumerate(sizes):
            t, i = rows_table(n, a.seed + b, 224, a.raised_p, a.pitch, a.workers,
                              ROOT / "runs" / "_cache")
            tables.append(t)
            infos.append(i)
        info["cmu"] = infos[0] if len(infos) == 1 else {
            "rows": a.rows, "blocks": infos, "seconds": sum(i["seconds"] for i in infos)}
    from meshvid.train.tables import concat_tables

    table = tables[0] if len(tables) == 1 else concat_tables(tables)
    print("rows:", json.dumps(info), flush=True)
    if a.rows_only:
        return 0
    recipe = load_recipe(a.config, a.set)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.json").write_text(json.dumps({**info, "argv": sys.argv}, indent=1))

    def progress(stage, step, total, losses):
        if step % 50 == 0 or step == total:
            print(f"{stage} {step}/{total} " + " ".join(f"{k}={v:.4g}" for k, v in losses.items()), flush=True)

    summary = run_training(recipe, out, progress=progress, table=table, stop_after="dsd")
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
