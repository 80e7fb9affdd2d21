"""Evaluation: predictions of one or more models on a table of test frames, and the paper's
metrics per sequence and per group (motion clip / action) — Tables 2-5.

Protocol (synthetic held-out set; see docs/training.md):
* every frame of every held-out sequence is evaluated, single-frame and temporal methods on
  the same frames;
* the external skeleton's keypoints are the table's detections when present, else simulated
  from the labels by the recipe's detector-noise model with a FIXED seed, the same for every
  model (so methods are compared on identical inputs);
* joints: LSP-14 from the body model (MPJPE after mid-hip alignment, PA-MPJPE after per-frame
  Procrustes); PVE on all mesh vertices after pelvis alignment (needs pose/shape labels);
  MPJVE / MPJAE from finite differences at the sequence's frame rate, in mm/s and mm/s^2
  (meshvid.metrics; per-frame values also reported).
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field

import numpy as np
import torch

from meshvid import metrics as M
from meshvid.model.net import MeshNet
from meshvid.model.theta import Theta
from meshvid.train.batch import model_keypoints
from meshvid.train.recipe import KeypointNoise
from meshvid.train.tables import FrameTable

EVAL_SEED = 20190

METRICS = ("mpjpe", "pa_mpjpe", "pve", "mpjve", "mpjae")


@dataclass
class Method:
    name: str
    model: MeshNet
    temporal: bool  # use SATN (sliding windows) on top of the DSD features
    # A fixed filter (meshvid.smoothing: "savgol" | "oneeuro") on the single-frame Θ of each
    # sequence: the no-learning reference for the temporal networks. smoother_params: its
    # parameters (SavGolParams / OneEuroParams fields; default: meshvid smooth's defaults).
    smoother: str | None = None
    smoother_params: dict | None = None
    # `meshvid infer --refine` on top (meshvid.fitting.refine), fitted in each crop's own camera
    refine: bool = False
    refine_options: object | None = None  # meshvid.fitting.refine.RefineOptions (default: its own)
    # the weights' root-orientation network (issue 24, orient.safetensors): its root rotation
    # replaces the model's where the two agree, as in `meshvid infer` (unsmoothed here)
    orient: MeshNet | None = None
    # the weights' articulation network (body.safetensors): its joints 1..23 averaged with the
    # model's, as in `meshvid infer` (unsmoothed here)
    body: MeshNet | None = None
    # how much of the predicted shape is kept (0: the mean body), as `meshvid infer
    # --shape-weight` does before its fit
    shape_weight: float = 1.0


def parse_smoother(spec: str) -> tuple[str, dict]:
    """"savgol" or "savgol:window=11,order=2" / "oneeuro:min_cutoff=0.5,beta=0.3" -> (name,
    params); raises InputError on an unknown filter or parameter."""
    from dataclasses import fields

    from meshvid.errors import InputError
    from meshvid.smoothing import METHODS, OneEuroParams, SavGolParams

    name, _, rest = spec.partition(":")
    if name not in METHODS:
        raise InputError(f"--smooth must be one of {', '.join(METHODS)} (optionally with "
                         f"parameters, e.g. savgol:window=11,order=2); got {spec!r}")
    cls = OneEuroParams if name == "oneeuro" else SavGolParams
    kinds = {f.name: f.type for f in fields(cls)}
    params: dict = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in kinds:
            raise InputError(f"--smooth {name}: unknown parameter {item!r}; choose from "
                             f"{', '.join(kinds)}")
        try:
            params[key] = int(value) if kinds[key] in (int, "int") else float(value)
        except ValueError:
            raise InputError(f"--smooth {name}: {key} must be a number, got {value!r}") from None
    cls(**params).validate()
    return name, params


@dataclass
class EvalResult:
    per_sequence: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # method -> seq -> metrics
    overall: dict[str, dict[str, float]] = field(default_factory=dict)
    per_group: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    series: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # plots: method -> seq -> (T, 14, 3)
    frames: int = 0
    sequences: int = 0


def methods_for(label: str, model: MeshNet, smoothers: tuple[str, ...] = (),
                refine: bool = False, orient: MeshNet | None = None,
                shape_weight: float = 1.0, body: MeshNet | None = None) -> list[Method]:
    """A model gives its single-frame method, one per fixed filter on it, and, if it has SATN,
    its temporal one; with `refine`, also the last of these followed by the keypoint fit.
    `orient`: the weights' root-orientation network, used by every method; `shape_weight`: the
    share of the predicted shape kept by every method; `body`: the weights' articulation
    network, used by every method."""
    single = label if model.satn is None else f"{label} (single-frame)"
    shared = {"orient": orient, "shape_weight": shape_weight, "body": body}
    out = [Method(single, model, False, **shared)]
    for spec in smoothers:
        name, params = parse_smoother(spec)
        out.append(Method(f"{single} + {spec}", model, False, name, params or None, **shared))
    if model.satn is not None:
        out.append(Method(label, model, True, **shared))
    if refine:
        last = out[-1]
        out.append(Method(f"{last.name} + refine", model, last.temporal, refine=True, **shared))
    return out


# The crop camera the refinement fits in (eval only): a 224-px crop seen with this focal length
# puts a person filling it at ~4.5 m, a typical distance in the held-out renders; root-relative
# and Procrustes-aligned metrics hardly depend on it.
EVAL_CROP_FOCAL = 500.0


def refine_theta(theta: Theta, table: FrameTable, keypoints: torch.Tensor,
                 scores: torch.Tensor, body, crop_size: int, options=None) -> Theta:
    """Θ of every sequence after meshvid.fitting.refine against the keypoints the network saw
    (crop-normalised [-1, 1]), each sequence one person with its mean shape."""
    from meshvid.fitting.refine import RefineInput, refine
    from meshvid.geometry.camera import crop_cam_to_frame_translation
    from meshvid.geometry.rotations import axis_angle_to_sixd

    pose = theta.axis_angle().clone()
    betas = theta.betas.clone()
    seqs = [rows for rows in table.sequences() if len(rows)]
    order = torch.cat(seqs)
    prev = torch.full((len(order),), -1, dtype=torch.long)
    dt = torch.zeros(len(order))
    start = 0
    for i, rows in enumerate(seqs):
        n = len(rows)
        prev[start + 1:start + n] = torch.arange(start, start + n - 1)
        ids = table.frame[rows].double()
        dt[start + 1:start + n] = ((ids[1:] - ids[:-1]) / _sequence_fps(table, i)).float()
        betas[rows] = theta.betas[rows].mean(0)
        start += n
    half = crop_size / 2.0
    n = len(order)
    centre = torch.full((n, 2), half)
    transl = crop_cam_to_frame_translation(theta.cam[order], centre, torch.full((n,), float(crop_size)),
                                           EVAL_CROP_FOCAL, (crop_size, crop_size))
    first = torch.stack([rows[0] for rows in seqs])
    with torch.no_grad():
        rig = body.coco17_rig(betas[first])  # one per sequence (its mean shape)
        rest = body.rest_shape(betas[first])[1]
    group = torch.cat([torch.full((len(rows),), i, dtype=torch.long) for i, rows in enumerate(seqs)])
    inp = RefineInput(pose=pose[order], transl=transl, rig=rig, rest_joints=rest, group=group,
                      keypoints=(keypoints[order] + 1.0) * half, scores=scores[order],
                      box_height=torch.full((n,), crop_size / 1.2), prev=prev, dt=dt,
                      focal=EVAL_CROP_FOCAL, center=(half, half))
    from dataclasses import replace

    from meshvid.fitting.refine import RefineOptions

    # every crop is re-centred on the person: its camera's translation has no path to smooth
    res = refine(inp, replace(options or RefineOptions(), w_smooth_transl=0.0))
    pose[order] = res.pose
    return Theta(axis_angle_to_sixd(pose), betas, theta.cam)


def _sequence_fps(table: FrameTable, s: int) -> float:
    """Sequence s's frame rate; 30 when the table does not record it."""
    fps = table.seq_fps[s] if s < len(table.seq_fps) else 0.0
    return float(fps) if fps else 30.0


def smooth_theta(theta: Theta, table: FrameTable, method: str, params: dict | None = None) -> Theta:
    """Each sequence's Θ through a fixed filter: rotations on SO(3), shape and camera as
    vectors, times from the sequence's frame rate. params: the filter's parameters (fields of
    OneEuroParams / SavGolParams; None = defaults)."""
    from meshvid.geometry.rotations import (matrix_to_quaternion_wxyz, matrix_to_sixd,
                                            quaternion_wxyz_to_matrix)
    from meshvid.smoothing import (OneEuroParams, SavGolParams, filter_rotations, filter_vectors,
                                   sign_continuous)

    params = (OneEuroParams if method == "oneeuro" else SavGolParams)(**(params or {}))
    quat = matrix_to_quaternion_wxyz(theta.rotmat).numpy().astype(np.float64)
    vec = torch.cat([theta.betas, theta.cam], dim=1).numpy().astype(np.float64)
    for i, rows in enumerate(table.sequences()):
        if len(rows) < 2:
            continue
        r = rows.numpy()
        fps = _sequence_fps(table, i)
        ids = table.frame[rows].numpy().astype(np.int64)
        times = ids / fps
        quat[r] = filter_rotations(sign_continuous(quat[r]), times, ids, method, params)
        vec[r] = filter_vectors(vec[r], times, ids, method, params, translation=False)
    rotmat = quaternion_wxyz_to_matrix(torch.from_numpy(quat).float())
    vec_t = torch.from_numpy(vec).float()
    nb = theta.betas.shape[1]
    return Theta(matrix_to_sixd(rotmat), vec_t[:, :nb], vec_t[:, nb:])


@torch.no_grad()
def predict(method: Method, table: FrameTable, noise: KeypointNoise, seed: int = EVAL_SEED,
            batch: int = 256, body=None) -> Theta:
    """Θ for every row of the table (`body` is needed by refine methods)."""
    theta, kps, confs = _predict(method, table, noise, seed, batch)
    if method.refine:
        if kps is None:
            raise ValueError("refine needs a model that takes keypoints")
        return refine_theta(theta, table, kps, confs, body, int(method.model.cfg.dsd.backbone.image_size),
                            method.refine_options)
    return theta


def _predict(method: Method, table: FrameTable, noise: KeypointNoise, seed: int, batch: int):
    theta, kp, conf = _predict_model(method, table, noise, seed, batch)
    if method.orient is not None and kp is not None:
        from meshvid.pipeline.regressor import gated_root, keypoint_root

        root = keypoint_root(method.orient.eval().dsd, kp, conf)
        pose = theta.pose_6d.clone()
        pose[:, 0] = gated_root(pose[:, 0], root)
        theta = Theta(pose, theta.betas, theta.cam)
    if method.body is not None and kp is not None:
        from meshvid.pipeline.regressor import blend_body, keypoint_theta

        other = keypoint_theta(method.body.eval().dsd, kp, conf).pose_6d
        theta = Theta(blend_body(theta.pose_6d, other), theta.betas, theta.cam)
    if method.shape_weight != 1.0:  # as `meshvid infer` does: towards the average adult
        adult = _anny24_adult().to(theta.betas)
        theta = Theta(theta.pose_6d, method.shape_weight * theta.betas
                      + (1.0 - method.shape_weight) * adult, theta.cam)
    return theta, kp, conf


@functools.lru_cache(maxsize=1)
def _anny24_adult() -> torch.Tensor:
    """The synthetic sets' body (anny24): its average adult shape (BodyModel.adult_betas)."""
    from meshvid.body import load_body_model

    return load_body_model("anny24").adult_betas()


def _predict_model(method: Method, table: FrameTable, noise: KeypointNoise, seed: int,
                   batch: int):
    model = method.model.eval()
    gen = torch.Generator().manual_seed(seed)
    feats, thetas, kps, confs = [], [], [], []
    for start in range(0, len(table), batch):
        b = table.batch(torch.arange(start, min(start + batch, len(table))))
        kp = conf = None
        if model.dsd.needs_keypoints:
            kp, conf = model_keypoints(b, noise, gen)
            kps.append(kp)
            confs.append(conf)
        if "features" in b:
            out = model.dsd.forward_features(b["features"], kp, conf)
        else:
            out = model.dsd(b["image"], kp, conf)
        feats.append(out.feature)
        thetas.append(out.theta)
    theta = Theta(torch.cat([t.pose_6d for t in thetas]), torch.cat([t.betas for t in thetas]),
                  torch.cat([t.cam for t in thetas]))
    kp_all = torch.cat(kps) if kps else None
    conf_all = torch.cat(confs) if confs else None
    if method.smoother:
        return smooth_theta(theta, table, method.smoother, method.smoother_params), kp_all, conf_all
    if not method.temporal:
        return theta, kp_all, conf_all
    assert model.satn is not None
    y = torch.cat(feats)
    pose, betas, cam = theta.pose_6d.clone(), theta.betas.clone(), theta.cam.clone()
    for rows in table.sequences():
        if len(rows) == 0:
            continue
        t = model.satn.forward_sequence(y[rows])
        pose[rows], betas[rows], cam[rows] = t.pose_6d, t.betas, t.cam
    return Theta(pose, betas, cam), kp_all, conf_all


@torch.no_grad()
def _body_outputs(body, theta: Theta | None, table: FrameTable, rows: torch.Tensor):
    from meshvid.geometry.rotations import axis_angle_to_matrix

    if theta is None:  # ground truth
        return body.forward_rotmat(axis_angle_to_matrix(table.pose[rows]), table.betas[rows])
    return body.forward_rotmat(theta.rotmat[rows], theta.betas[rows])


@torch.no_grad()
def evaluate(methods: list[Method], table: FrameTable, noise: KeypointNoise, body,
             keep_series: int = 3, seed: int = EVAL_SEED) -> EvalResult:
    res = EvalResult(frames=0, sequences=0)
    preds = {m.name: predict(m, table, noise, seed, body=body) for m in methods}
    seqs = table.sequences()
    # Sequences must have 3D labels; joints valid in every frame of the set are evaluated.
    valid_joints = (table.joints3d[..., 3] > 0).all(0)
    sums: dict[str, dict[str, list[tuple[float, int]]]] = {m.name: {k: [] for k in METRICS} for m in methods}
    for s, rows in enumerate(seqs):
        if len(rows) < 3 or not bool((table.has_3d[rows] > 0).all()):
            continue
        res.sequences += 1
        res.frames += len(rows)
        name = table.seq_names[s]
        fps = _sequence_fps(table, s)
        has_smpl = bool((table.has_smpl[rows] > 0).all())
        gt_out = _body_outputs(body, None, table, rows) if has_smpl else None
        gt_j = gt_out.lsp14 if gt_out is not None else table.joints3d[rows, :, :3]
        gt_j = gt_j[:, valid_joints]
        for m in methods:
            out = _body_outputs(body, preds[m.name], table, rows)
            pj = out.lsp14[:, valid_joints]
            # LSP-14 order keeps the hips at 2, 3 even when trailing joints (neck, head top:
            # not in SMPL-labelled sets such as 3DPW) are dropped, so mid-hip alignment holds.
            r = M.sequence_metrics(pj, gt_j, fps, layout="lsp14")
            if gt_out is not None:  # PVE after pelvis alignment (SMPL_24 joints)
                r["pve"] = float(M.pve(out.vertices, gt_out.vertices, out.joints, gt_out.joints).mean())
            res.per_sequence.setdefault(m.name, {})[name] = r
            n = len(rows)
            for k in METRICS:
                if k in r:
                    weight = n - (1 if k == "mpjve" else 2 if k == "mpjae" else 0)
                    sums[m.name][k].append((r[k], weight))
            if len(res.series.get(m.name, {})) < keep_series:
                res.series.setdefault(m.name, {})[name] = pj.numpy()
                res.series.setdefault("ground truth", {})[name] = gt_j.numpy()
        group = table.seq_groups[s] if s < len(table.seq_groups) else name
        for m in methods:
            g = res.per_group.setdefault(m.name, {}).setdefault(group, {})
            r = res.per_sequence[m.name][name]
            for k in METRICS:
                if k in r:
                    g.setdefault(k, []).append((r[k], len(rows)))  # type: ignore[arg-type]
    for m in methods:
        res.overall[m.name] = {k: _wmean(v) for k, v in sums[m.name].items() if v}
        for group, g in res.per_group.get(m.name, {}).items():
            res.per_group[m.name][group] = {k: _wmean(v) for k, v in g.items()}  # type: ignore[arg-type]
    return res


def _wmean(pairs: list[tuple[float, int]]) -> float:
    w = sum(n for _, n in pairs)
    return float(sum(v * n for v, n in pairs) / max(w, 1))
