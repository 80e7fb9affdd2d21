"""The training engine: the paper's three stages, resumable, deterministic, distributed.

    stage 1  dsd       DSD single-frame network + HMR discriminator (L_pm, L_3d, L_2d, L_2DJ, L_r)
    stage 2  features  pre-compute DSD per-frame features y of every training sequence
    stage 3  satn      SATN (+ order recovery) on windows of those features (+ L_s)

Inputs are a `FrameTable` (meshvid/train/tables.py) for cached backbone features, or any
object with `__len__` and `batch(idx) -> dict` holding images (end-to-end training).

Determinism: each epoch's order is a permutation drawn from a generator seeded by
(seed, stage, epoch); everything else random (keypoint noise, shuffles, real-pose sampling)
comes from one generator per stage whose state is checkpointed, like torch's global RNG
(dropout). Resuming mid-epoch replays the permutation and skips the batches already done, so an
interrupted-and-resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from meshvid.errors import MeshvidError
from meshvid.model.checkpoint import atomic_write_bytes
from meshvid.model.discriminator import discriminator_loss
from meshvid.model.losses import compute_losses
from meshvid.model.net import MeshNet
from meshvid.model.sorting import random_permutations
from meshvid.train import distributed as D
from meshvid.train.batch import model_keypoints, targets
from meshvid.train.logger import CSVLog
from meshvid.train.recipe import OptimSpec, Recipe
from meshvid.train.state import has_state, load_state, save_state
from meshvid.train.tables import FrameTable


class Source(Protocol):
    def __len__(self) -> int: ...
    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]: ...


@dataclass
class StageResult:
    steps: int
    seconds: float
    last_losses: dict[str, float]
    validation: dict[str, Any] | None = None  # SATN model selection: the epoch kept and its score
    skipped_batches: int = 0  # batches with a NaN/inf loss or gradient (no update made)


ProgressFn = Callable[[str, int, int, dict[str, float]], None]


class TrainingDivergedError(MeshvidError):
    """Too many batches in a row had a NaN/inf loss or gradient (OptimSpec.max_bad_batches)."""


def _optimizer(params: list[torch.nn.Parameter], spec: OptimSpec) -> torch.optim.Optimizer:
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum,
                               weight_decay=spec.weight_decay)
    return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)


def _set_lr(opt: torch.optim.Optimizer, spec: OptimSpec, epoch: int, base: float) -> float:
    lr = base * 0.1 ** sum(epoch >= e for e in spec.lr_decay_epochs)
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def _epoch_order(n: int, seed: int, stage: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 7919 + stage * 104729 + epoch)
    return torch.randperm(n, generator=g)


class _Loop:
    """The shared epoch/step/checkpoint loop of stages 1 and 3."""

    def __init__(self, stage: str, stage_no: int, spec: OptimSpec, recipe: Recipe, model: MeshNet,
                 params: list[torch.nn.Parameter], folder: Path, info: D.DistInfo, log: CSVLog,
                 adversarial: bool, progress: ProgressFn | None) -> None:
        self.stage, self.stage_no, self.spec, self.recipe = stage, stage_no, spec, recipe
        self.model, self.params, self.folder, self.info, self.log = model, params, folder, info, log
        self.progress = progress
        self.opt = _optimizer(params, spec)
        self.optimizers: dict[str, torch.optim.Optimizer] = {"main": self.opt}
        self.disc_params: list[torch.nn.Parameter] = []
        if adversarial and model.discriminator is not None:
            self.disc_params = list(model.discriminator.parameters())
            self.disc_opt = torch.optim.Adam(self.disc_params, lr=spec.disc_lr)
            self.optimizers["disc"] = self.disc_opt
        self.gen = torch.Generator().manual_seed(recipe.seed * 31 + stage_no)
        self.counters: dict[str, Any] = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0}
        if has_state(folder):
            self.counters = load_state(folder, model, self.optimizers, {"main": self.gen})
        self.counters.setdefault("skipped_batches", 0)  # NaN/inf batches so far (checkpointed)
        self.bad_in_a_row = 0

    def save(self) -> None:
        if self.info.is_main:
            save_state(self.folder, self.model, self.optimizers, self.counters, {"main": self.gen},
                       metadata={"stage": self.stage, "recipe": self.recipe.name})
        D.barrier(self.info)

    def run(self, n_items: int, step_fn: Callable[[torch.Tensor, torch.Generator], dict[str, torch.Tensor]],
            epoch_end: Callable[[int], None] | None = None) -> StageResult:
        """Train to spec.epochs; `epoch_end(epoch)` runs after each epoch, before its checkpoint
        (it may add JSON-able entries to self.counters, which the checkpoint keeps)."""
        spec, info = self.spec, self.info
        per_rank = math.ceil(n_items / info.world_size)
        n_batches = max(1, per_rank // spec.batch_size)  # drop the ragged last batch
        total = spec.epochs * n_batches
        last: dict[str, float] = {}
        t_start = time.time() - float(self.counters["seconds"])
        self.model.train()
        while self.counters["epoch"] < spec.epochs:
            epoch = int(self.counters["epoch"])
            lr = _set_lr(self.opt, spec, epoch, spec.lr)
            order = D.shard(_epoch_order(n_items, self.recipe.seed, self.stage_no, epoch), info)
            for b in range(int(self.counters["batch"]), n_batches):
                idx = order[b * spec.batch_size:(b + 1) * spec.batch_size]
                terms = step_fn(idx, self.gen)
                self.counters["batch"] = b + 1
                self.counters["step"] = int(self.counters["step"]) + 1
                self.counters["seconds"] = time.time() - t_start
                step = int(self.counters["step"])
                last = {k: float(v) for k, v in terms.items()}
                if self.progress:
                    self.progress(self.stage, step, total, last)
                if step % 10 == 0 or step == 1 or self.bad_in_a_row > 0:  # every skip logged
                    row = {k: D.all_mean(v, info) for k, v in last.items()}
                    self.log.write({"stage": self.stage, "epoch": epoch, "step": step,
                                    "lr": lr, **{k: f"{v:.6g}" for k, v in row.items()},
                                    "skipped_batches": int(self.counters["skipped_batches"])})
                if self.bad_in_a_row >= spec.max_bad_batches:
                    raise TrainingDivergedError(
                        f"training diverged: {self.bad_in_a_row} batches in a row had a NaN/inf "
                        f"loss or gradient (stage {self.stage}, epoch {epoch}, step {step}; "
                        f"{self.counters['skipped_batches']} skipped in all, see log.csv); lower "
                        f"{self.stage}.lr or raise {self.stage}.grad_clip, then resume")
                if spec.checkpoint_every and step % spec.checkpoint_every == 0:
                    self.save()
            self.counters["epoch"] = epoch + 1
            self.counters["batch"] = 0
            if epoch_end is not None:
                epoch_end(epoch + 1)
            self.save()
        return StageResult(int(self.counters["step"]), time.time() - t_start, last,
                           skipped_batches=int(self.counters["skipped_batches"]))

    def update(self, loss: torch.Tensor) -> bool:
        """One optimiser step on `loss`; False (no step, batch counted as skipped) when the loss
        or the gradient is NaN/inf on any process."""
        self.opt.zero_grad(set_to_none=True)
        ok = D.all_mean(float(bool(torch.isfinite(loss.detach()).all())), self.info) == 1.0
        if ok:
            loss.backward()
            D.average_gradients(self.params, self.info)
            max_norm = self.spec.grad_clip if self.spec.grad_clip > 0 else float("inf")
            norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
            ok = bool(torch.isfinite(norm))  # averaged gradients: the same on every process
        if not ok:
            self.opt.zero_grad(set_to_none=True)
            self.counters["skipped_batches"] = int(self.counters["skipped_batches"]) + 1
            self.bad_in_a_row += 1
            return False
        self.bad_in_a_row = 0
        self.opt.step()
        return True

    def update_discriminator(self, real_rotmat: torch.Tensor, real_betas: torch.Tensor,
                             fake_rotmat: torch.Tensor, fake_betas: torch.Tensor) -> torch.Tensor:
        disc = self.model.discriminator
        assert disc is not None
        loss = discriminator_loss(disc(real_rotmat, real_betas),
                                  disc(fake_rotmat.detach(), fake_betas.detach()))
        self.disc_opt.zero_grad(set_to_none=True)
        loss.backward()
        D.average_gradients(self.disc_params, self.info)
        self.disc_opt.step()
        return loss.detach()


def _real_poses(table: Source, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Real bodies for the discriminator: mocap labels of training frames (never held-out)."""
    from meshvid.geometry.rotations import axis_angle_to_matrix

    pool = getattr(table, "_smpl_rows", None)
    if pool is None:
        pool = (table.has_smpl > 0).nonzero().squeeze(1) if isinstance(table, FrameTable) else None
        table._smpl_rows = pool  # type: ignore[attr-defined]
    pick = pool[torch.randint(len(pool), (n,), generator=gen)]
    b = table.batch(pick)
    return axis_angle_to_matrix(b["pose"]), b["betas"]


def init_mean_theta(model: MeshNet, table: FrameTable) -> None:
    """HMR's mean parameters: the body-pose mean and betas mean of the training labels (the
    root keeps the head's upright-facing-camera default; the camera keeps its default)."""
    from meshvid.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    rows = table.has_smpl > 0
    if not rows.any():
        return
    rot = axis_angle_to_matrix(table.pose[rows]).mean(0)  # chordal mean, then project to SO(3)
    u, _, vt = torch.linalg.svd(rot)
    fix = torch.ones(rot.shape[0], 3)
    fix[:, 2] = torch.sign(torch.linalg.det(u @ vt))
    mean_rot = u @ torch.diag_embed(fix) @ vt
    pose = matrix_to_axis_angle(mean_rot)
    head = model.dsd.head
    from meshvid.geometry.rotations import sixd_to_axis_angle

    pose[0] = sixd_to_axis_angle(head.mean_pose_6d[0])
    cam_s = torch.nn.functional.softplus(head.mean_cam_raw[:1])
    head.set_mean(pose, table.betas[rows].mean(0), torch.cat([cam_s, head.mean_cam_raw[1:]]))
    if model.satn is not None:
        copy_mean_theta(head, model.satn.head)


def init_satn_head(model: MeshNet) -> str:
    """Stage 3's starting Θ head: a residual SATN takes the trained DSD head whole (so it starts
    at the single-frame result); otherwise only the mean parameters are shared."""
    assert model.satn is not None
    src, dst = model.dsd.head, model.satn.head
    same = {k: v.shape for k, v in src.state_dict().items()} == \
        {k: v.shape for k, v in dst.state_dict().items()}
    if model.satn.refine is not None and same:
        dst.load_state_dict(src.state_dict())
        return "dsd_head"
    copy_mean_theta(src, dst)
    return "mean_theta"


def copy_mean_theta(src: torch.nn.Module, dst: torch.nn.Module) -> None:
    """Copy a ThetaHead's mean parameters (not its FC layer, whose input widths differ)."""
    with torch.no_grad():
        for name in ("mean_pose_6d", "mean_betas", "mean_cam_raw"):
            getattr(dst, name).copy_(getattr(src, name))


def train_dsd(recipe: Recipe, model: MeshNet, source: Source, body, folder: Path,
              info: D.DistInfo, log: CSVLog, progress: ProgressFn | None = None) -> StageResult:
    spec = recipe.dsd
    dsd = model.dsd
    cached = isinstance(source, FrameTable) and source.features is not None
    params = [p for n, p in dsd.named_parameters()
              if p.requires_grad and not (cached and n.startswith("backbone."))]
    adversarial = spec.adversarial and model.discriminator is not None
    loop = _Loop("dsd", 1, spec, recipe, model, params, folder, info, log, adversarial, progress)
    kp_set = source.keypoints_set if isinstance(source, FrameTable) else recipe.model.dsd.skeleton.joints
    skel_set = recipe.model.dsd.skeleton.joints if recipe.model.dsd.skeleton.source == "learned" else None
    w = recipe.model.losses
    if cached:
        dsd.backbone.eval()

    def step(idx: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        batch = source.batch(idx)
        kp = conf = None
        if dsd.needs_keypoints:
            kp, conf = model_keypoints(batch, recipe.data.keypoint_noise, gen,
                                       spec.simulated_keypoints)
        if "features" in batch:
            out = dsd.forward_features(batch["features"], kp, conf, batch.get("has_image"))
        else:
            out = dsd(batch["image"], kp, conf)
        fake = model.discriminator(out.theta.rotmat, out.theta.betas) if adversarial else None
        terms = compute_losses(out.theta, targets(batch, kp_set, skel_set), w, body,
                               skeleton=out.skeleton, fake_scores=fake)
        if loop.update(terms["total"]) and adversarial:
            rr, rb = _real_poses(source, len(idx), gen)
            terms["disc"] = loop.update_discriminator(rr, rb, out.theta.rotmat, out.theta.betas)
        return {k: v.detach() for k, v in terms.items()}

    def branch_health(epoch: int) -> None:
        """Log how alive each branch is (a collapse shows here, not in the losses)."""
        if not (cached and info.is_main):
            return
        from meshvid.model.diagnostics import table_branch_stats
        from meshvid.train.logger import HEALTH_STAGE

        rows = _epoch_order(len(source), recipe.seed, 99, 0)[:1024]
        stats = table_branch_stats(dsd, source, rows)
        loop.counters.setdefault("branch_health", []).append({"epoch": epoch, **stats})
        log.write({"stage": HEALTH_STAGE, "epoch": epoch - 1, "step": int(loop.counters["step"]),
                   **{k: f"{v:.4g}" for k, v in stats.items()}})

    return loop.run(len(source), step, epoch_end=branch_health)


@torch.no_grad()
def sequence_features(recipe: Recipe, model: MeshNet, table: FrameTable,
                      seed_offset: int = 0, batch: int = 512, draws: int = 1) -> torch.Tensor:
    """Stage 2: the DSD feature y of every row, (draws, N, 512): each draw with its own
    simulated detector keypoints from a fixed seed (train and eval features come from the same
    detector model)."""
    model.eval()
    gen = torch.Generator().manual_seed(recipe.seed * 131 + 2 + seed_offset)
    out = []
    for draw in range(max(1, draws)):
        # Draw 0 uses the real detections where the data has them; later draws replace half of
        # the frames' keypoints with the noise model's, so the draws differ.
        sim = 0.0 if draw == 0 else 0.5
        for start in range(0, len(table), batch):
            idx = torch.arange(start, min(start + batch, len(table)))
            b = table.batch(idx)
            kp = conf = None
            if model.dsd.needs_keypoints:
                kp, conf = model_keypoints(b, recipe.data.keypoint_noise, gen, sim)
            out.append(model.dsd.forward_features(b["features"], kp, conf).feature)
    if not out:
        return torch.zeros(max(1, draws), 0, model.cfg.dsd.feature_dim)
    return torch.cat(out).reshape(max(1, draws), len(table), -1)


def window_index(seq_rows: list[torch.Tensor], window: int, stride: int = 1) -> torch.Tensor:
    """(M, W) table rows of every training window: each frame of each sequence as a centre,
    the ends replicate-padded (as SATN.forward_sequence does at inference)."""
    half = window // 2
    out = []
    for rows in seq_rows:
        t = len(rows)
        if t == 0:
            continue
        centres = torch.arange(0, t, stride)
        offs = torch.arange(-half, half + 1)
        pos = (centres[:, None] + offs[None]).clamp(0, t - 1)
        out.append(rows[pos])
    return torch.cat(out) if out else torch.zeros(0, window, dtype=torch.long)


def train_satn(recipe: Recipe, model: MeshNet, table: FrameTable, features: torch.Tensor,
               body, folder: Path, info: D.DistInfo, log: CSVLog,
               progress: ProgressFn | None = None,
               split: tuple[list[int], list[int]] | None = None) -> StageResult:
    """Stage 3. features: (draws, N, F) DSD features of the table's rows. split: explicit
    (training, validation) sequence ids; default `validation_split` by the recipe."""
    spec = recipe.satn
    assert spec is not None and model.satn is not None
    satn = model.satn
    cfg = recipe.model.satn
    assert cfg is not None
    sequences = table.sequences()
    train_ids, val_ids = split or validation_split(table, spec.validation_fraction, recipe.seed)
    windows = window_index([sequences[i] for i in train_ids], cfg.window, spec.window_stride)
    if len(windows) == 0:
        raise ValueError("no training sequences for SATN")
    adversarial = spec.adversarial and model.discriminator is not None
    if spec.freeze_head:
        for p in satn.head.parameters():
            p.requires_grad_(False)
    params = [p for p in satn.parameters() if p.requires_grad]
    loop = _Loop("satn", 3, spec, recipe, model, params, folder, info, log, adversarial, progress)
    w = recipe.model.losses
    # The DSD part is fixed in this stage.
    model.dsd.eval()
    for p in model.dsd.parameters():
        p.requires_grad_(False)

    def step(idx: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        rows = windows[idx]  # (B, W)
        # features: (draws, N, F); each frame of each window takes one draw
        if features.shape[0] == 1:
            x = features[0, rows]
        elif spec.window_draws:  # one draw per window: its temporal noise stays coherent
            pick = torch.randint(0, features.shape[0], (len(rows), 1), generator=gen)
            x = features[pick.expand_as(rows), rows]
        else:
            x = features[torch.randint(0, features.shape[0], rows.shape, generator=gen), rows]
        x = x.float()
        if spec.feature_noise > 0:
            x = x + spec.feature_noise * torch.randn(x.shape, generator=gen)
        perm = None
        if cfg.variant == "satn":
            perm = random_permutations(len(rows), cfg.window, cfg.shuffle_prob, generator=gen)
        out = satn(x, perm)
        centre = table.batch(rows[:, cfg.window // 2])
        fake = model.discriminator(out.theta.rotmat, out.theta.betas) if adversarial else None
        terms = compute_losses(out.theta, targets(centre, table.keypoints_set), w, body,
                               fake_scores=fake, sort_scores=out.sort_scores,
                               permutation=out.permutation, sort_sigma=cfg.sort_sigma)
        if loop.update(terms["total"]) and adversarial:
            rr, rb = _real_poses(table, len(idx), gen)
            terms["disc"] = loop.update_discriminator(rr, rb, out.theta.rotmat, out.theta.betas)
        return {k: v.detach() for k, v in terms.items()}

    if not val_ids:
        return loop.run(len(windows), step)

    # Model selection on held-out training clips: score the start (the residual base) and every
    # epoch, keep the best weights, end with them.
    best_path = folder / "best-satn.safetensors"
    val_rows = [sequences[i] for i in val_ids]

    def score(epoch: int) -> None:
        err = validation_pa_mpjpe(satn, features[0], table, val_rows, body)
        satn.train()
        log.write({"stage": "satn", "epoch": epoch, "step": int(loop.counters["step"]),
                   "val_pa_mpjpe": f"{err:.4g}"})
        best = loop.counters.get("val_best")
        if best is None or err < best["pa_mpjpe"]:
            loop.counters["val_best"] = {"epoch": epoch, "pa_mpjpe": err}
            if info.is_main:
                from safetensors.torch import save

                atomic_write_bytes(best_path, save({k: v.detach().contiguous()
                                                    for k, v in satn.state_dict().items()}))
            D.barrier(info)

    if "val_best" not in loop.counters:
        score(0)
    res = loop.run(len(windows), step, epoch_end=score)
    from safetensors.torch import load_file

    satn.load_state_dict(load_file(str(best_path)))
    res.validation = {"sequences": len(val_ids), "frames": int(sum(len(r) for r in val_rows)),
                      **loop.counters["val_best"]}
    return res


def validation_split(table: FrameTable, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Sequence ids for training and for validation: whole motion clips (seq_groups) are held
    out, chosen by seed, until `fraction` of the sequences is reached (at least one clip, never
    all); a table with a single clip holds out sequences instead."""
    n = len(table.seq_names)
    if fraction <= 0 or n < 2:
        return list(range(n)), []
    gen = torch.Generator().manual_seed(seed * 7919 + 3)
    groups = table.seq_groups if len(table.seq_groups) == n else [str(i) for i in range(n)]
    names = sorted(set(groups))
    if len(names) < 2:
        names, groups = [str(i) for i in range(n)], [str(i) for i in range(n)]
    order = [names[i] for i in torch.randperm(len(names), generator=gen).tolist()]
    held: set[str] = set()
    count = 0
    for name in order[:-1]:
        if count >= fraction * n:
            break
        held.add(name)
        count += sum(g == name for g in groups)
    val = [i for i in range(n) if groups[i] in held]
    return [i for i in range(n) if groups[i] not in held], val


@torch.no_grad()
def validation_pa_mpjpe(satn, features: torch.Tensor, table: FrameTable,
                        sequences: list[torch.Tensor], body) -> float:
    """Frame-weighted PA-MPJPE (mm, LSP-14 joints labelled in every frame) of SATN's sliding
    output on the given sequences."""
    from meshvid import metrics as M

    satn.eval()
    total, frames = 0.0, 0
    valid = (table.joints3d[..., 3] > 0).all(0)
    for rows in sequences:
        if len(rows) == 0:
            continue
        theta = satn.forward_sequence(features[rows].float())
        pred = body.forward_rotmat(theta.rotmat, theta.betas).lsp14[:, valid]
        total += float(M.pa_mpjpe(pred, table.joints3d[rows][:, valid, :3]).sum())
        frames += len(rows)
    return total / max(frames, 1)
