"""SMPL backend through `smplx`, from the user's own licensed model files.

SMPL is not redistributable: register at https://smpl.is.tue.mpg.de, download the SMPL model
(python version) and point meshvid at the folder with `--smpl-dir DIR` or $MESHVID_SMPL_DIR.
Accepted file names in DIR (or DIR/smpl): SMPL_{NEUTRAL,MALE,FEMALE}.npz or .pkl, or the
official basicmodel_*_lbs_10_207_0_v1.*.pkl. .npz files (chumpy-free) are preferred; the
official .pkl files pickle chumpy arrays and need the `chumpy` package to be read.

Keypoints: LSP-14 limb joints are the posed SMPL joints. COCO-17 keypoints are where COCO's
annotators click, which is not quite SMPL's joint centres (shoulders sit higher, hips lower and
more forward): each COCO limb keypoint is the SMPL joint plus a small offset that moves rigidly
with that joint's rotation, the offset (a few cm) being the one anny24's COCO-17 vertex
regressor (fitted to Anny's own COCO regressor) has from anny24's joint in the rest pose, scaled
by the ratio of the two rest statures (`coco_offsets_from_anny24`). No SMPL data is needed to
make it, so it ships nothing. The face keypoints (nose, eyes, ears), LSP head_top and LSP neck
come from vertex selections on SMPL's fixed 6890-vertex topology (SMPL_FACE_VERTICES,
SMPL_HEAD_TOP_VERTEX below), so no external regressor file is needed.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from meshvid.body.base import BodyModel, BodyOutput
from meshvid.body.joints import COCO_17, LSP_14, NUM_BETAS, SMPL_24, SMPL_24_PARENTS
from meshvid.body.lbs import forward_kinematics, homogeneous
from meshvid.errors import MissingAssetError, MissingDependencyError

SMPL_NUM_VERTICES = 6890
ENV_VAR = "MESHVID_SMPL_DIR"
GENDERS = ("neutral", "male", "female")

# Vertex ids on SMPL's topology (the ones smplx itself uses for its extra face joints).
SMPL_FACE_VERTICES = {"nose": 332, "right_eye": 6260, "left_eye": 2800, "right_ear": 4071, "left_ear": 583}
SMPL_HEAD_TOP_VERTEX = 411  # crown of the head, the usual SMPL "head top" vertex

_OFFICIAL_NAMES = {
    "neutral": ("basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
    "male": ("basicmodel_m_lbs_10_207_0_v1.1.0.pkl", "basicmodel_m_lbs_10_207_0_v1.0.0.pkl", "basicModel_m_lbs_10_207_0_v1.0.0.pkl"),
    "female": ("basicmodel_f_lbs_10_207_0_v1.1.0.pkl", "basicmodel_f_lbs_10_207_0_v1.0.0.pkl", "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
}
_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def _missing(where: str, gender: str) -> MissingAssetError:
    return MissingAssetError(
        f"SMPL model files not found ({where}): register at https://smpl.is.tue.mpg.de, download "
        f"the SMPL python model and put SMPL_{gender.upper()}.npz (or .pkl) in a folder given by "
        f"--smpl-dir or ${ENV_VAR}"
    )


def find_smpl_file(smpl_dir: str | Path | None, gender: str = "neutral") -> Path:
    """The SMPL model file for `gender` in the user's folder, or MissingAssetError."""
    if gender not in GENDERS:
        raise MissingAssetError(f"unknown SMPL gender {gender!r}; choose one of {', '.join(GENDERS)}")
    if smpl_dir is None:
        smpl_dir = os.environ.get(ENV_VAR) or None
    if smpl_dir is None:
        raise _missing(f"no --smpl-dir and ${ENV_VAR} is not set", gender)
    root = Path(smpl_dir).expanduser()
    if root.is_file():
        return root
    if not root.is_dir():
        raise _missing(f"{root} does not exist", gender)
    names = [f"SMPL_{gender.upper()}.npz", f"SMPL_{gender.upper()}.pkl", *_OFFICIAL_NAMES[gender]]
    for folder in (root, root / "smpl"):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    raise _missing(f"none of {', '.join(names[:2])} in {root}", gender)


def read_smpl_file(path: Path) -> dict[str, np.ndarray]:
    """The SMPL arrays from a chumpy-free .npz, or a .pkl (which may need chumpy)."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        else:
            with open(path, "rb") as fh:
                data = pickle.load(fh, encoding="latin1")
    except ModuleNotFoundError as err:
        raise MissingDependencyError(
            f"{path} stores chumpy arrays and needs the `{err.name}` package; install it "
            "(pip install chumpy) or use a chumpy-free SMPL_<GENDER>.npz"
        ) from None
    except (OSError, ValueError, pickle.UnpicklingError, EOFError) as err:
        raise MissingAssetError(f"cannot read SMPL file {path}: {err}") from None
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise MissingAssetError(f"{path} is not an SMPL model file (missing {', '.join(missing)})")
    out = {}
    for k in _REQUIRED_KEYS:
        v = data[k]
        if hasattr(v, "todense"):  # scipy sparse J_regressor in the official files
            v = v.todense()
        out[k] = np.asarray(getattr(v, "r", v))  # chumpy arrays expose .r
    if out["v_template"].shape != (SMPL_NUM_VERTICES, 3):
        raise MissingAssetError(
            f"{path}: v_template is {out['v_template'].shape}, expected ({SMPL_NUM_VERTICES}, 3) (SMPL topology)"
        )
    if out["J_regressor"].shape[0] != 24 or out["weights"].shape != (SMPL_NUM_VERTICES, 24):
        raise MissingAssetError(f"{path}: not a 24-joint SMPL model (SMPL-H/X files are not supported)")
    if out["shapedirs"].shape[-1] < NUM_BETAS:
        raise MissingAssetError(f"{path}: only {out['shapedirs'].shape[-1]} shape components, need {NUM_BETAS}")
    parents = out["kintree_table"][0].astype(np.int64).copy()
    parents[0] = -1
    if tuple(int(p) for p in parents) != SMPL_24_PARENTS:
        raise MissingAssetError(f"{path}: kinematic tree differs from SMPL's")
    return out


def coco_offsets_from_anny24(stature: float | None = None) -> torch.Tensor:
    """(17, 3) rest-pose offsets from the SMPL_24 joint of the same name to the COCO-17 keypoint,
    taken from anny24 (its COCO vertex regressor vs its joints, template shape, T-pose) and
    scaled to `stature` metres (rows of the face keypoints, which have no joint, are zero)."""
    from meshvid.body.anny24 import Anny24Body

    anny = Anny24Body()  # not load_body_model: that holds its lock while SmplBody is built
    with torch.no_grad():
        out = anny(torch.zeros(1, 24, 3), torch.zeros(1, NUM_BETAS))
    verts = out.vertices[0]
    scale = 1.0 if stature is None else stature / float(verts[:, 1].max() - verts[:, 1].min())
    offsets = torch.zeros(len(COCO_17), 3)
    for k, name in enumerate(COCO_17):
        if name in SMPL_24:
            offsets[k] = (out.coco17[0, k] - out.joints[0, SMPL_24.index(name)]) * scale
    return offsets


class SmplBody(BodyModel):
    name = "smpl"

    def __init__(self, smpl_dir: str | Path | None = None, gender: str = "neutral") -> None:
        super().__init__()
        try:
            import smplx
            from smplx.utils import Struct
        except ImportError as err:  # pragma: no cover - smplx is a core dependency
            raise MissingDependencyError(f"smplx is not installed ({err}); run scripts/setup.sh") from None
        self.path = find_smpl_file(smpl_dir, gender)
        data = read_smpl_file(self.path)
        self.gender = gender
        self.smpl = smplx.SMPL(
            model_path=str(self.path.parent),
            data_struct=Struct(**data),
            gender=gender,
            num_betas=NUM_BETAS,
            create_betas=False,
            create_global_orient=False,
            create_body_pose=False,
            create_transl=False,
        )
        self._faces = np.asarray(data["f"], dtype=np.int64)
        verts = self.smpl.v_template
        nose, leye, reye, lear, rear = (SMPL_FACE_VERTICES[k] for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"))
        self._coco_vertex = {"nose": nose, "left_eye": leye, "right_eye": reye, "left_ear": lear, "right_ear": rear}
        # COCO limb keypoints = SMPL joint of the same name + a rest offset rotating with it.
        self._coco_joint = {k: SMPL_24.index(n) for k, n in enumerate(COCO_17) if n in SMPL_24}
        stature = float(verts[:, 1].max() - verts[:, 1].min())
        self.register_buffer("coco_offsets", coco_offsets_from_anny24(stature).to(verts.dtype))
        self._lsp_joint = {k: SMPL_24.index(n) for k, n in enumerate(LSP_14) if n not in ("neck", "head_top")}
        del verts

    @property
    def faces(self) -> np.ndarray:
        return self._faces

    @property
    def num_vertices(self) -> int:
        return int(self.smpl.v_template.shape[0])

    @property
    def lbs_weights(self) -> torch.Tensor:
        return self.smpl.lbs_weights

    def rest_shape(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from smplx.lbs import blend_shapes, vertices2joints

        betas = betas.to(self.smpl.v_template.dtype)
        verts = self.smpl.v_template + blend_shapes(betas, self.smpl.shapedirs)
        return verts, vertices2joints(self.smpl.J_regressor, verts)

    def coco17_rig(self, betas: torch.Tensor) -> torch.Tensor:
        """(B, 10) -> (B, 17, 24, 4). Limb keypoints are exact (joint + rotating offset); the
        face vertices leave out SMPL's pose blendshapes (millimetres at the head). See BodyModel."""
        rest_v, rest_j = self.rest_shape(betas)
        b = rest_v.shape[0]
        rig = rest_v.new_zeros(b, len(COCO_17), 24, 4)
        for k, name in enumerate(COCO_17):
            j = self._coco_joint.get(k)
            if j is not None:
                rig[:, k, j, :3] = rest_j[:, j] + self.coco_offsets[k]
                rig[:, k, j, 3] = 1.0
            else:
                w = self.smpl.lbs_weights[self._coco_vertex[name]]  # (24,)
                rig[:, k, :, :3] = w[None, :, None] * rest_v[:, self._coco_vertex[name]][:, None, :]
                rig[:, k, :, 3] = w
        return rig

    def forward_rotmat(
        self, rotmats: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor | None = None
    ) -> BodyOutput:
        rotmats, betas = self.batch_inputs(rotmats, betas, self.smpl.v_template.dtype)
        out = self.smpl(
            betas=betas, global_orient=rotmats[:, :1], body_pose=rotmats[:, 1:], pose2rot=False
        )
        verts = out.vertices
        # Joint frames for exporters/losses: SMPL's own FK on its regressed rest joints.
        _, rest_joints = self.rest_shape(betas)
        world_rot, joints = forward_kinematics(rotmats, rest_joints, SMPL_24_PARENTS)
        if transl is not None:
            shift = transl.to(verts.dtype)[:, None, :]
            verts, joints = verts + shift, joints + shift
        transforms = homogeneous(world_rot, joints)
        lsp = torch.stack(
            [
                joints[:, self._lsp_joint[k]] if k in self._lsp_joint
                else verts[:, SMPL_HEAD_TOP_VERTEX] if name == "head_top"
                # LSP's neck sits mid-neck: halfway between SMPL's neck (base) and head joints.
                else 0.5 * (joints[:, SMPL_24.index("neck")] + joints[:, SMPL_24.index("head")])
                for k, name in enumerate(LSP_14)
            ],
            dim=1,
        )
        coco = torch.stack(
            [
                joints[:, j] + world_rot[:, j] @ self.coco_offsets[k] if (j := self._coco_joint.get(k)) is not None
                else verts[:, self._coco_vertex[name]]
                for k, name in enumerate(COCO_17)
            ],
            dim=1,
        )
        return BodyOutput(vertices=verts, joints=joints, lsp14=lsp, coco17=coco, joint_transforms=transforms)
