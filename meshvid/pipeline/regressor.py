"""The trained regressor at inference time: DSD on crops (per frame), SATN over a tracklet.

Wraps meshvid.model (MeshNet) for the pipeline: loads the shipped weights folder (or any
checkpoint), applies the inference-only speed-ups, and exposes two batched calls that take
and return plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from meshvid.errors import MissingAssetError
from meshvid.model.theta import Theta
from meshvid.paths import weights_dir

DEFAULT_WEIGHTS = "dsd_satn_cpu"
# SATN is trained on sequences sampled at this rate (meshvid synth --fps 10, like the paper's
# 10 fps Human3.6M): its 9-frame window spans 0.9 s. At inference the window keeps that span
# by sampling every round(fps / 10)-th frame, so 24, 30 and 60 fps clips behave alike.
SATN_TRAINING_FPS = 10.0


def default_weights_path() -> Path:
    return weights_dir() / DEFAULT_WEIGHTS


def temporal_stride(fps: float, training_fps: float = SATN_TRAINING_FPS) -> int:
    """Frames between the SATN window's samples so that the window spans the training time."""
    if not fps or fps <= 0:
        return 1
    return max(1, int(round(fps / training_fps)))


ORIENT_FILE = "orient.safetensors"  # optional root-orientation network in a weights folder
BODY_FILE = "body.safetensors"  # optional articulation network in a weights folder (issue 24)
# optional SATN over the articulation network's per-frame features (a pair with BODY_FILE)
BODY_SATN_FILE = "body_satn.safetensors"


@dataclass
class FrameEstimate:
    """Single-frame outputs for a batch of crops."""

    features: np.ndarray  # (N, feature_width) the DSD feature y (SATN's input)
    theta: np.ndarray  # (N, 157) Θ as Theta.vector(): pose 6D, betas, cam
    # (N, 6) the orientation network's root rotation (6D), when the weights have one
    root: np.ndarray | None = None
    # (N, 144) the articulation network's pose (24 joints, 6D), when the weights have one
    body: np.ndarray | None = None
    # (N, body_feature_width) the articulation network's feature (its SATN's input; with
    # flip_test the view's then the mirror view's, as `features`), when its SATN is loaded
    body_features: np.ndarray | None = None


def theta_from_vector(vec: torch.Tensor) -> Theta:
    """Inverse of Theta.vector()."""
    return Theta(vec[..., :144].reshape(*vec.shape[:-1], 24, 6), vec[..., 144:154],
                 vec[..., 154:157])


# x -> -x: the mirror image of a crop (its horizontal axis is the camera's x)
_MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))


def mirror_theta(theta: Theta) -> Theta:
    """Θ of the crop's mirror image: joints swapped left/right, every rotation reflected in x
    (M R M, as meshvid.synth.motion.mirror does for motions), the crop translation's x negated;
    the shape is its own mirror image (anny24 and SMPL are left/right symmetric)."""
    from meshvid.body.joints import SMPL_24_FLIP
    from meshvid.geometry.rotations import matrix_to_sixd, sixd_to_matrix

    rot = sixd_to_matrix(theta.pose_6d)[..., list(SMPL_24_FLIP), :, :]
    m = _MIRROR.to(rot)
    cam = theta.cam.clone()
    cam[..., 1] = -cam[..., 1]
    return Theta(matrix_to_sixd(m @ rot @ m), theta.betas, cam)


# Two views' rotations of a joint further apart than this are not averaged: the mean of two
# very different rotations is a third one neither view supports (a body facing left and one
# facing right average to one lying down); the first view's rotation is kept there.
MAX_AVERAGED_DEG = 60.0


def average_thetas(a: Theta, b: Theta, max_deg: float | None = None) -> Theta:
    """The mean of two estimates: per joint the rotation nearest the mean of the two matrices
    (chordal mean; roma.special_procrustes) where they are within `max_deg` (default
    MAX_AVERAGED_DEG) of each other, else `a`'s; shapes and cameras averaged."""
    from meshvid.geometry.rotations import matrix_to_sixd, sixd_to_matrix

    rot = mean_rotations(sixd_to_matrix(a.pose_6d), sixd_to_matrix(b.pose_6d), max_deg)
    return Theta(matrix_to_sixd(rot), 0.5 * (a.betas + b.betas), 0.5 * (a.cam + b.cam))


def mean_rotations(ra: torch.Tensor, rb: torch.Tensor, max_deg: float | None = None
                   ) -> torch.Tensor:
    """(..., 3, 3) x 2 -> their chordal mean (roma.special_procrustes), or `ra` where the two
    are more than `max_deg` (default MAX_AVERAGED_DEG) apart."""
    import roma

    max_deg = MAX_AVERAGED_DEG if max_deg is None else max_deg
    far = torch.rad2deg(roma.rotmat_geodesic_distance(ra, rb)) > max_deg
    return torch.where(far[..., None, None], ra, roma.special_procrustes(ra + rb))


def keypoint_output(net, keypoints: torch.Tensor, confidence: torch.Tensor):
    """The DSDOutput (Θ and feature) of a keypoints-only DSD (the orientation or articulation
    network) for crop-normalised keypoints (N, 17, 2) and confidences (N, 17)."""
    # keypoints only: the (pooled) image feature is never read
    return net.forward_features(keypoints.new_zeros(len(keypoints), 1), keypoints, confidence)


def keypoint_theta(net, keypoints: torch.Tensor, confidence: torch.Tensor) -> Theta:
    """Θ of a keypoints-only DSD for crop-normalised keypoints (`keypoint_output`)."""
    return keypoint_output(net, keypoints, confidence).theta


def keypoint_root(net, keypoints: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """(N, 6) root rotation of a keypoints-only DSD (the orientation network)."""
    return keypoint_theta(net, keypoints, confidence).pose_6d[:, 0]


def blend_body(pose6d: torch.Tensor, body6d: torch.Tensor) -> torch.Tensor:
    """(N, 24, 6) poses of the main network and of the articulation network -> the main pose
    with joints 1..23 replaced by the two networks' chordal mean (`mean_rotations`: the main
    network's where they are more than MAX_AVERAGED_DEG apart); the root stays the main
    network's."""
    from meshvid.geometry.rotations import matrix_to_sixd, sixd_to_matrix

    mixed = mean_rotations(sixd_to_matrix(pose6d[:, 1:]), sixd_to_matrix(body6d[:, 1:]))
    out = pose6d.clone()
    out[:, 1:] = matrix_to_sixd(mixed)
    return out


# Where the orientation network's root rotation is trusted: it corrects the main network's
# root by the few degrees a camera's height costs (issue 24: 4-8 degrees of trunk pitch on
# lab4cam), but it never saw acrobatics, which the main network was rendered on (cartwheels,
# get-ups); where the two disagree by more than ROOT_TRUST_DEG[1] the main network's root
# stands, below ROOT_TRUST_DEG[0] the orientation network's, linearly (on the geodesic) between.
ROOT_TRUST_DEG = (20.0, 40.0)


def gated_root(main6d: torch.Tensor, orient6d: torch.Tensor,
               trust_deg: tuple[float, float] = ROOT_TRUST_DEG, *,
               with_trust: bool = False):
    """(N, 6) root rotations of the main and the orientation network -> (N, 6) the root used
    (and, `with_trust`, (N,) the orientation network's weight in it, 0-1)."""
    import roma

    from meshvid.geometry.rotations import matrix_to_sixd, sixd_to_matrix

    main, orient = sixd_to_matrix(main6d), sixd_to_matrix(orient6d)
    delta = roma.rotmat_to_rotvec(main.transpose(-1, -2) @ orient)  # in the main root's frame
    angle = torch.rad2deg(delta.norm(dim=-1, keepdim=True))
    lo, hi = trust_deg
    w = ((hi - angle) / max(hi - lo, 1e-6)).clamp(0.0, 1.0)
    root = matrix_to_sixd(main @ roma.rotvec_to_rotmat(w * delta))
    return (root, w[..., 0]) if with_trust else root


def flip_inputs(crops: np.ndarray, keypoints_norm: np.ndarray | None,
                keypoint_scores: np.ndarray | None):
    """The mirror images of a batch of crops and their crop-normalised keypoints (x -> -x,
    left and right swapped: the mirrored person's left hand is where their right was)."""
    from meshvid.body.joints import COCO_17_FLIP

    flipped = np.ascontiguousarray(np.asarray(crops)[:, :, ::-1])
    if keypoints_norm is None:
        return flipped, None, None
    kp = np.asarray(keypoints_norm, np.float32)[:, list(COCO_17_FLIP)].copy()
    kp[..., 0] = -kp[..., 0]
    return flipped, kp, np.asarray(keypoint_scores, np.float32)[:, list(COCO_17_FLIP)]


class MeshRegressor:
    """The shipped (or given) DSD-SATN weights, ready for inference.

    Args:
        weights: a weights folder or checkpoint (default: weights/dsd_satn_cpu).
        device: torch device for the networks.
        optimize: apply model.inference.optimize_for_inference (batch-norm folding etc.).
        backend: where the DSD backbone runs on CPU: "auto" (OpenVINO when it works, else
            PyTorch, see model/openvino_backbone.py), "openvino" or "torch". On other devices
            it always runs in PyTorch. `self.backend` says which one runs, `self.fallback_reason`
            why `auto` fell back (None when it did not).
        body_temporal: run the articulation network's SATN (body_satn.safetensors) when the
            weights folder has one (`body_temporal()`).
    """

    def __init__(self, weights: str | Path | None = None, *, device: str = "cpu",
                 optimize: bool = True, backend: str = "auto", flip_test: bool = False,
                 orientation: bool = True, articulation: bool = True,
                 body_temporal: bool = True) -> None:
        from meshvid.model.inference import optimize_for_inference
        from meshvid.train.export import load_model

        path = Path(weights) if weights else default_weights_path()
        if not path.exists():
            raise MissingAssetError(
                f"no trained weights at {path}: restore weights/{DEFAULT_WEIGHTS}/ from the "
                "repository, train your own with `meshvid train`, or pass --weights DIR")
        self.path = path
        self.device = torch.device(device)
        model = load_model(path).to(self.device).eval()
        if optimize:
            optimize_for_inference(model.dsd)
            if model.satn is not None:
                optimize_for_inference(model.satn)
        self.model = model
        cfg = model.cfg.dsd
        self.crop_size = int(cfg.backbone.image_size)
        self.uses_keypoints = model.dsd.needs_keypoints
        self.has_temporal = model.satn is not None
        self._ov = None
        self.fallback_reason: str | None = None
        if self.device.type == "cpu" and model.dsd.uses_image:
            from meshvid.model.openvino_backbone import make_openvino_backbone

            self._ov, self.fallback_reason = make_openvino_backbone(
                model.dsd.backbone, self.crop_size, backend,
                pooled=not model.dsd.needs_feature_map)
        self.backend = "openvino" if self._ov is not None else "torch"
        # flip test (issue 24): every crop also runs mirrored, the mirrored estimate is mirrored
        # back and the two are averaged; the features of both views are kept side by side
        # (feature_width doubles) so that SATN can run on each view too
        self.flip_test = bool(flip_test)
        self.feature_width = 512 * (2 if self.flip_test else 1)
        # The root-orientation network (issue 24; docs/model.md, "Root orientation"): a
        # keypoints-only DSD trained on the CMU library with cameras that look down as real
        # ones do. Its root rotation replaces the main network's; everything else is the main
        # network's. Present when the weights folder has orient.safetensors.
        self.orient = self._keypoint_net(path, ORIENT_FILE) if orientation else None
        # The articulation network (issue 24; docs/model.md, "Articulation network"): a
        # keypoints-only DSD trained on CMU-library and synth-library skeleton rows; its body
        # joints are averaged with the main network's after SATN. Present when the folder has
        # body.safetensors; its own SATN over a track's features when it also has
        # body_satn.safetensors (and `body_temporal`).
        self.body_net = self.body_satn = None
        if articulation:
            body = self._keypoint_model(path, BODY_FILE,
                                        BODY_SATN_FILE if body_temporal else None)
            self.body_net = None if body is None else body.dsd
            self.body_satn = None if body is None else body.satn
        if self.body_satn is not None and optimize:
            optimize_for_inference(self.body_satn)
        self.body_feature_width = 0 if self.body_satn is None else \
            self.body_satn.cfg.feature_dim * (2 if self.flip_test else 1)

    def _keypoint_net(self, folder: Path, name: str):
        """The keypoints-only DSD `name` of a weights folder, or None when it has none."""
        model = self._keypoint_model(folder, name)
        return None if model is None else model.dsd

    def _keypoint_model(self, folder: Path, name: str, satn_name: str | None = None):
        """The keypoints-only MeshNet `name` of a weights folder (None when it has none), with
        the SATN of `satn_name` (meshvid.train.export.load_pair) when given and present."""
        from meshvid.errors import MeshvidError
        from meshvid.train.export import load_model, load_pair

        file = folder / name
        if not (folder.is_dir() and file.is_file()):
            return None
        satn_file = folder / satn_name if satn_name else None
        if satn_file is not None and satn_file.is_file():
            try:
                net = load_pair(file, satn_file)
            except MeshvidError as err:
                raise MissingAssetError(f"{satn_file} does not load with {name}: {err}") from None
        else:
            net = load_model(file)
        net = net.to(self.device).eval()
        if net.dsd.uses_image or not net.dsd.needs_keypoints:
            raise MissingAssetError(f"{file} is not a keypoints-only network")
        return net

    @torch.inference_mode()
    def single_frame(self, crops: np.ndarray, keypoints_norm: np.ndarray | None,
                     keypoint_scores: np.ndarray | None) -> FrameEstimate:
        """DSD on a batch of crops (and on their mirror images with flip_test).

        Args:
            crops: (N, S, S, 3) uint8 RGB.
            keypoints_norm: (N, 17, 2) crop-normalised keypoints (external skeleton), or None.
            keypoint_scores: (N, 17), or None.
        Returns:
            FrameEstimate with features (N, feature_width) and Θ vectors (N, 157).
        """
        if not self.flip_test:
            out = self._single_frame(crops, keypoints_norm, keypoint_scores)
            if self.orient is not None:
                out.root = self._root(keypoints_norm, keypoint_scores)
            if self.body_net is not None:
                body, out.body_features = self._body(keypoints_norm, keypoint_scores)
                out.body = body.reshape(len(crops), -1)
            return out
        n = len(crops)
        fc, fk, fs = flip_inputs(crops, keypoints_norm, keypoint_scores)
        both = self._single_frame(
            np.concatenate([crops, fc]),
            None if fk is None else np.concatenate([keypoints_norm, fk]),
            None if fs is None else np.concatenate([keypoint_scores, fs]))
        vec = torch.from_numpy(both.theta)
        theta = average_thetas(theta_from_vector(vec[:n]),
                               mirror_theta(theta_from_vector(vec[n:])))
        root = None
        if self.orient is not None:
            r = torch.from_numpy(self._root(np.concatenate([keypoints_norm, fk]),
                                            np.concatenate([keypoint_scores, fs])))
            root = self._average_roots(r[:n], r[n:])
        body = body_features = None
        if self.body_net is not None:
            b, f = self._body(np.concatenate([keypoints_norm, fk]),
                              np.concatenate([keypoint_scores, fs]))
            if f is not None:  # the two views side by side: body_temporal runs each
                body_features = np.concatenate([f[:n], f[n:]], axis=1)
            b = torch.from_numpy(b)
            zeros = torch.zeros(n, 10)
            cams = torch.zeros(n, 3)
            body = average_thetas(Theta(b[:n], zeros, cams),
                                  mirror_theta(Theta(b[n:], zeros, cams))).pose_6d
            body = body.reshape(n, -1).float().numpy()
        return FrameEstimate(np.concatenate([both.features[:n], both.features[n:]], axis=1),
                             theta.vector().float().numpy(), root, body, body_features)

    def _root(self, keypoints_norm: np.ndarray, keypoint_scores: np.ndarray) -> np.ndarray:
        """(N, 6) the orientation network's root rotation for crop-normalised keypoints."""
        return self._keypoint_pose(self.orient, keypoint_scores=keypoint_scores,
                                   keypoints_norm=keypoints_norm)[:, 0]

    def _body(self, keypoints_norm: np.ndarray, keypoint_scores: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 24, 6) the articulation network's pose for crop-normalised keypoints and, when
        its SATN is loaded, (N, D) its feature (that SATN's input), from one pass."""
        out = self._keypoint_output(self.body_net, keypoints_norm, keypoint_scores)
        feature = None if self.body_satn is None else out.feature.float().cpu().numpy()
        return out.theta.pose_6d.float().cpu().numpy(), feature

    def _keypoint_pose(self, net, keypoints_norm: np.ndarray, keypoint_scores: np.ndarray
                       ) -> np.ndarray:
        """(N, 24, 6) the pose a keypoints-only network gives for crop-normalised keypoints."""
        out = self._keypoint_output(net, keypoints_norm, keypoint_scores)
        return out.theta.pose_6d.float().cpu().numpy()

    def _keypoint_output(self, net, keypoints_norm: np.ndarray, keypoint_scores: np.ndarray):
        """keypoint_output for numpy keypoints, on the regressor's device."""
        kp = torch.from_numpy(np.asarray(keypoints_norm, np.float32)).to(self.device)
        conf = torch.from_numpy(np.asarray(keypoint_scores, np.float32)).to(self.device)
        return keypoint_output(net, kp, conf)

    @staticmethod
    def _average_roots(a: torch.Tensor, b_mirrored: torch.Tensor) -> np.ndarray:
        """Root 6D of a view and of its mirror image (mirrored back) -> their mean."""
        from meshvid.geometry.rotations import matrix_to_sixd, sixd_to_matrix

        rb = _MIRROR @ sixd_to_matrix(b_mirrored) @ _MIRROR
        return matrix_to_sixd(mean_rotations(sixd_to_matrix(a), rb)).numpy()

    def _single_frame(self, crops: np.ndarray, keypoints_norm: np.ndarray | None,
                      keypoint_scores: np.ndarray | None) -> FrameEstimate:
        kp = conf = None
        if self.uses_keypoints:
            kp = torch.from_numpy(np.asarray(keypoints_norm, np.float32)).to(self.device)
            conf = torch.from_numpy(np.asarray(keypoint_scores, np.float32)).to(self.device)
        if self._ov is not None:  # the backbone on OpenVINO, the heads in PyTorch
            feats = torch.from_numpy(self._ov(crops))
            out = self.model.dsd.forward_features(feats, kp, conf)
        else:
            images = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
            images = images.permute(0, 3, 1, 2).float().div_(255.0)
            out = self.model.dsd(images, kp, conf)
        return FrameEstimate(out.feature.float().cpu().numpy(),
                             out.theta.vector().float().cpu().numpy())

    @torch.inference_mode()
    def temporal(self, features: np.ndarray, stride: int = 1) -> np.ndarray:
        """(T, 512) features of one tracklet -> (T, 157) Θ vectors for every frame.

        With stride k the window samples every k-th frame: each of the k phases (frames
        r, r+k, r+2k, ...) is one sliding pass, and the phases interleave back into frame order.
        """
        return self._temporal_views(self.model.satn, features, stride)

    @torch.inference_mode()
    def body_temporal(self, features: np.ndarray, stride: int = 1) -> np.ndarray:
        """(T, body_feature_width) articulation-network features of one tracklet -> (T, 144)
        its SATN's pose (24 joints, 6D) for every frame, strided and flip-tested as `temporal`."""
        if self.body_satn is None:
            raise MissingAssetError(f"{self.path} has no {BODY_SATN_FILE} loaded "
                                    "(or body_temporal=False)")
        return self._temporal_views(self.body_satn, features, stride)[:, :144]

    def _temporal_views(self, satn, features: np.ndarray, stride: int) -> np.ndarray:
        """(T, 157) Θ vectors of `satn` over a tracklet's features; with flip_test the features
        are two views side by side: each through `satn`, the mirrored one mirrored back, the
        two averaged."""
        if not self.flip_test:
            return self._temporal(satn, features, stride)
        feats = np.asarray(features, np.float32)
        half = feats.shape[1] // 2
        a = torch.from_numpy(self._temporal(satn, feats[:, :half], stride))
        b = torch.from_numpy(self._temporal(satn, feats[:, half:], stride))
        theta = average_thetas(theta_from_vector(a), mirror_theta(theta_from_vector(b)))
        return theta.vector().float().numpy()

    def _temporal(self, satn, features: np.ndarray, stride: int) -> np.ndarray:
        feats = torch.from_numpy(np.asarray(features, np.float32)).to(self.device)
        out = torch.empty(len(feats), 157)
        for phase in range(min(stride, len(feats))):
            theta = satn.forward_sequence(feats[phase::stride])
            out[phase::stride] = theta.vector().float().cpu()
        return out.numpy()
