"""Making labelled samples: a motion, a body, a scene, a render, and exact labels.

A `SampleMaker` owns the body model, the motion library of one split and one persistent
renderer; `crop(rng)` makes one single-frame sample, `sequence(rng, length, fps)` one
sequence (consecutive frames of one person, one camera that may pan or travel). Everything
random comes from the `rng` passed in, so a sample is a pure function of its seed.

Label convention (docs/synth.md has the full table): every 3D quantity is in the CAMERA frame
(OpenCV axes, metres) and the pose's root rotation too, so a label is exactly what the network
must predict: body(pose, betas, transl) reproduces the rendered mesh.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# One rasteriser thread per renderer: data generation parallelises over processes, and Mesa's
# llvmpipe threads only fight each other (and the other workers) for the same cores.
os.environ.setdefault("LP_NUM_THREADS", "1")

from dataclasses import dataclass, field  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from meshvid.synth import backgrounds as bgs  # noqa: E402
from meshvid.synth.appearance import BodyRegions, sample_colors  # noqa: E402
from meshvid.synth.motion import rotmat_to_rotvec  # noqa: E402
from meshvid.render.fast import BodyRenderer  # noqa: E402
from meshvid.synth.scene import (  # noqa: E402
    CropPolicy,
    FrameCamera,
    Occluder,
    RaisedCameras,
    crop_box,
    look_at,
    place_camera,
    sample_betas,
    sample_frame_size,
    sample_lighting,
    sample_occluders,
)
from meshvid.synth.sources import MotionDraw, MotionLibrary  # noqa: E402

JOINT_SETS = ("smpl24", "lsp14", "coco17")


@dataclass
class Sample:
    """One rendered frame or sequence: images (N, S, S, 3) uint8 and per-frame labels (N, ...)
    plus per-sample labels (betas, provenance)."""

    images: np.ndarray
    frame: dict[str, np.ndarray]
    person: dict[str, np.ndarray | int | float] = field(default_factory=dict)


class SampleMaker:
    def __init__(self, split: str = "train", crop_size: int = 224, body_name: str = "anny24",
                 policy: CropPolicy | None = None, motions: tuple[str, ...] = (),
                 render: bool = True, builtin: bool = True,
                 corpus_mix: dict[str, float] | None = None) -> None:
        """motions: capture files / folders joining the motion library (meshvid.motion);
        render=False: labels only (`crop_labels`), no renderer or background photos;
        builtin / corpus_mix: see MotionLibrary.build."""
        from meshvid.body import load_body_model  # noqa: PLC0415

        self.split = split
        self.size = int(crop_size)
        self.policy = policy or CropPolicy()
        self.body = load_body_model(body_name)
        with torch.no_grad():
            rest_v, rest_j = self.body.rest_shape(torch.zeros(1, 10))
        self.rest_joints = rest_j[0].double().numpy()
        self.regions = BodyRegions.from_body(
            rest_v[0].double().numpy(), self.rest_joints, self.body.lbs_weights.double().numpy())
        self.library = MotionLibrary.build(split, self.rest_joints, motions, builtin, corpus_mix)
        self.faces = np.asarray(self.body.faces)
        # opt-in raised cameras for the sequences (`sequence_labels`; issue 24: real rigs look
        # down); None keeps the default heights and random stream
        self.raised: RaisedCameras | None = None
        self.renderer: BodyRenderer | None = None
        self.photo_names: list[str] = []
        if render:
            self.renderer = BodyRenderer(self.size, self.size, self.faces, self.body.num_vertices)
            self.photo_names = list(bgs.available_photos())
            for name in self.photo_names:  # decode once, up front
                bgs.load_photo(name)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()

    # --- body

    def _pose_body(self, rotmats: np.ndarray, betas: np.ndarray):
        """World-frame posing with transl = 0 (the root joint stays at its rest position)."""
        with torch.no_grad():
            out = self.body.forward_rotmat(
                torch.from_numpy(rotmats).float(),
                torch.from_numpy(betas).float()[None].expand(len(rotmats), -1))
        return out

    def _leg_ratio(self, betas: np.ndarray) -> float:
        with torch.no_grad():
            _, j = self.body.rest_shape(torch.from_numpy(betas).float()[None])
        j = j[0].double().numpy()

        def leg(rj: np.ndarray) -> float:
            return float(np.linalg.norm(rj[4] - rj[1]) + np.linalg.norm(rj[7] - rj[4]))

        return leg(j) / leg(self.rest_joints)

    # --- single crops

    def _crop_scene(self, rng: np.random.Generator):
        """A posed, shaped body in a sampled camera and the crop box around it."""
        draw = self.library.draw_frame(rng)
        betas = sample_betas(rng, heldout=not self.library.augment)
        out = self._pose_body(draw.rotmats, betas)
        shift, cam, verts_c, box = self._place_crop(rng, out.vertices[0].double().numpy())
        return draw, betas, out, shift, cam, verts_c, box

    def _place_crop(self, rng: np.random.Generator, verts_w: np.ndarray):
        """World vertices (V, 3) posed with transl 0 -> (world shift, camera, camera-space
        vertices, crop box)."""
        # Stand the body on the ground (y = 0) and centre it horizontally.
        shift = np.array([-verts_w[:, 0].mean(), -verts_w[:, 1].min(), -verts_w[:, 2].mean()])
        lo, hi = verts_w.min(0) + shift, verts_w.max(0) + shift
        center = 0.5 * (lo + hi)
        extent = float(np.max(hi - lo))
        width, height = sample_frame_size(rng)
        cam = place_camera(rng, center, extent, width, height)
        verts_c = cam.to_camera(verts_w + shift)
        uv = cam.project(verts_c)
        bbox = np.array([*uv.min(0), *uv.max(0)])
        box = crop_box(rng, bbox, self.policy)
        return shift, cam, verts_c, box

    def crop(self, rng: np.random.Generator) -> Sample:
        draw, betas, out, shift, cam, verts_c, box = self._crop_scene(rng)
        width, height = cam.width, cam.height
        background = bgs.sample_background(rng, width, height)
        occluders = sample_occluders(rng, box, p=0.2 if self.library.augment else 0.0)
        lighting = sample_lighting(rng)
        colors = sample_colors(rng, self.regions)
        degrade = _sample_degradation(rng)
        image, frame = self._render_frame(cam, shift, box, out, 0, draw, verts_c, colors, lighting,
                                          background, occluders, (0.0, 0.0), degrade, rng)
        person = self._person_labels(draw, betas, background)
        return Sample(image[None], {k: v[None] for k, v in frame.items()}, person)

    def crop_labels(self, rng: np.random.Generator, occlusion_p: float = 0.2) -> Sample:
        """The labels of a single crop without rendering it (skeleton-side training samples):
        the same motion, body, camera and crop-box distributions as `crop`. With probability
        `occlusion_p` one to four joints are marked not visible, as rendered occluders would.
        `images` is empty (1, 0, 0, 3)."""
        draw, betas, out, shift, cam, verts_c, box = self._crop_scene(rng)
        return self.labels_in_crop(rng, draw, betas, out, 0, shift, cam, box, occlusion_p)

    def labels_in_crop(self, rng: np.random.Generator, draw: MotionDraw, betas: np.ndarray, out,
                       k: int, shift: np.ndarray, cam: FrameCamera, box: np.ndarray,
                       occlusion_p: float = 0.2) -> Sample:
        """`crop_labels` for body k of a (possibly batched) posed body output."""
        s = self.size
        intr = cam.crop_intrinsics(box, s)
        inside = _inside_frame_mask(box, s, cam.width, cam.height)
        occ = np.zeros((s, s), dtype=bool)
        # _frame_labels indexes the draw and the body output with the same frame index: give it
        # body k alone.
        body_k = SimpleNamespace(joints=out.joints[k:k + 1], lsp14=out.lsp14[k:k + 1],
                                 coco17=out.coco17[k:k + 1])
        frame = self._frame_labels(cam, shift, box, body_k, 0, draw, intr, occ, inside)
        if rng.random() < occlusion_p:
            hidden = rng.choice(17, size=int(rng.integers(1, 5)), replace=False)
            frame["vis_coco17"] = frame["vis_coco17"].copy()
            frame["vis_coco17"][hidden] = 0
        person = {"betas": betas.astype(np.float32), "clip_id": int(draw.clip_id)}
        return Sample(np.zeros((1, 0, 0, 3), np.uint8), {k: v[None] for k, v in frame.items()},
                      person)

    # --- sequences

    def sequence(self, rng: np.random.Generator, length: int, fps: float) -> Sample:
        draw, betas, out, trans, cams = self._sequence_scene(rng, length, fps)
        width, height = cams[0].width, cams[0].height
        background = bgs.sample_background(rng, width, height)
        lighting = sample_lighting(rng)
        colors = sample_colors(rng, self.regions)
        degrade = _sample_degradation(rng)
        truncate, scale, shift = self._sequence_framing(rng)
        pans = _background_pans(cams, rng)
        occluders: list[Occluder] = []
        images, frames = [], []
        for k, cam in enumerate(cams):
            verts_c = cam.to_camera(out.vertices[k].double().numpy() + trans[k])
            uv = cam.project(verts_c)
            bbox = np.array([*uv.min(0), *uv.max(0)])
            box = crop_box(rng, bbox, self.policy, truncate=truncate, scale=scale, shift=shift,
                           jitter=0.015)
            if k == 0:
                occluders = sample_occluders(rng, box, p=0.2 if self.library.augment else 0.0,
                                             max_count=1)
            shifted = [Occluder(o.polygon - np.asarray(pans[k]), o.color, o.texture_seed, o.shade)
                       for o in occluders]
            image, frame = self._render_frame(cam, trans[k], box, out, k, draw, verts_c, colors,
                                              lighting, background, shifted, pans[k], degrade, rng)
            images.append(image)
            frames.append(frame)
        person = self._person_labels(draw, betas, background)
        person["fps"] = float(fps)
        stacked = {key: np.stack([f[key] for f in frames]) for key in frames[0]}
        return Sample(np.stack(images), stacked, person)

    def sequence_labels(self, rng: np.random.Generator, length: int, fps: float) -> Sample:
        """The labels of a sequence without rendering it (SATN's skeleton sequences): the same
        motion windows, bodies, cameras (static / panning / travelling, `_sequence_cameras`)
        and per-frame crop boxes as `sequence`, but no occluders (every in-crop joint is
        labelled visible). `images` is empty (N, 0, 0, 3); person labels hold betas, clip_id,
        fps and the camera mode ("static" / "pan" / "travel")."""
        draw, betas, out, trans, cams = self._sequence_scene(rng, length, fps)
        truncate, scale, shift = self._sequence_framing(rng)
        s = self.size
        frames = []
        verts = out.vertices.double().numpy()
        for k, cam in enumerate(cams):
            uv = cam.project(cam.to_camera(verts[k] + trans[k]))
            bbox = np.array([*uv.min(0), *uv.max(0)])
            box = crop_box(rng, bbox, self.policy, truncate=truncate, scale=scale, shift=shift,
                           jitter=0.015)
            intr = cam.crop_intrinsics(box, s)
            inside = _inside_frame_mask(box, s, cam.width, cam.height)
            frames.append(self._frame_labels(cam, trans[k], box, out, k, draw, intr,
                                             np.zeros((s, s), dtype=bool), inside))
        stacked = {key: np.stack([f[key] for f in frames]) for key in frames[0]}
        static = all(c is cams[0] for c in cams)
        person = {"betas": betas.astype(np.float32), "clip_id": int(draw.clip_id),
                  "fps": float(fps), "camera": "static" if static else "moving"}
        return Sample(np.zeros((len(cams), 0, 0, 3), np.uint8), stacked, person)

    def _sequence_framing(self, rng: np.random.Generator) -> tuple[bool, float, np.ndarray]:
        """A sequence's crop framing: truncated or not, box scale, box shift."""
        truncate = rng.random() < 0.5 * self.policy.truncation_p
        scale = rng.uniform(*(self.policy.truncation_scale if truncate else self.policy.scale))
        shift = (rng.uniform(-1, 1, 2) * self.policy.truncation_shift) if truncate else np.zeros(2)
        return truncate, scale, shift

    def _sequence_scene(self, rng: np.random.Generator, length: int, fps: float):
        """A sequence's motion, body and cameras: (draw, betas, posed body output, per-frame
        world translation (N, 3), cameras (N,))."""
        draw = self.library.draw_window(rng, length, fps)
        betas = sample_betas(rng, heldout=not self.library.augment)
        ratio = self._leg_ratio(betas)
        yaw = rng.uniform(-np.pi, np.pi)
        ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        draw.rotmats = draw.rotmats.copy()
        draw.rotmats[:, 0] = ry @ draw.rotmats[:, 0]
        root = (draw.root_pos * ratio) @ ry.T
        out = self._pose_body(draw.rotmats, betas)
        # Place each frame: the root joint (at its rest position after posing with transl 0)
        # moves to the clip's pelvis trajectory; then ground and centre the whole sequence.
        j0 = out.joints[:, 0].double().numpy()
        trans = root - j0  # (N, 3) per-frame world translation
        verts_w = out.vertices.double().numpy() + trans[:, None]
        ground = verts_w[..., 1].min()
        mid = 0.5 * (verts_w.reshape(-1, 3).min(0) + verts_w.reshape(-1, 3).max(0))
        shift = np.array([-mid[0], -ground, -mid[2]])
        trans = trans + shift
        verts_w = verts_w + shift
        lo, hi = verts_w.reshape(-1, 3).min(0), verts_w.reshape(-1, 3).max(0)
        per_frame_extent = float(np.max(verts_w.max(1) - verts_w.min(1)))
        travel = float(np.linalg.norm((hi - lo)[[0, 2]]))
        width, height = sample_frame_size(rng)
        cams = self._sequence_cameras(rng, verts_w, per_frame_extent, travel, width, height)
        return draw, betas, out, trans, cams

    def _sequence_cameras(self, rng: np.random.Generator, verts_w: np.ndarray, extent: float,
                          travel: float, width: int, height: int) -> list[FrameCamera]:
        """A static camera (50%), a camera panning to follow the person (35%), or one
        travelling alongside (15%)."""
        n = len(verts_w)
        centers = 0.5 * (verts_w.min(1) + verts_w.max(1))  # (N, 3)
        mean_c = centers.mean(0)
        u = rng.random()
        mode = "static" if u < 0.5 else ("pan" if u < 0.85 else "travel")
        # Static cameras must see the whole path: back off until it fits in ~70% of the frame.
        base = place_camera(rng, mean_c, extent, width, height, outside_p=0.0, raised=self.raised)
        eye = -base.R.T @ base.t
        if mode == "static":
            need = base.focal * (extent + travel) / (0.7 * min(width, height))
            dist = np.linalg.norm((mean_c - eye)[[0, 2]])
            if need > dist:
                direction = (eye - mean_c) / np.linalg.norm(eye - mean_c)
                eye = mean_c + direction * need * np.linalg.norm(eye - mean_c) / dist
                base = FrameCamera(width, height, base.focal, base.R, -base.R @ eye)
            return [base] * n
        # Following cameras keep frame 0's roll and off-centre framing: R_k = R_off @ look_at_k.
        r_off = base.R @ look_at(eye, mean_c).T
        smooth = _smooth(centers, 3)
        follow = rng.uniform(0.9, 1.0)
        cams = []
        for k in range(n):
            eye_k = eye if mode == "pan" else eye + (smooth[k] - smooth[0]) * follow
            r_k = r_off @ look_at(eye_k, smooth[k])
            cams.append(FrameCamera(width, height, base.focal, r_k, -r_k @ eye_k))
        return cams

    # --- one frame

    def _render_frame(self, cam: FrameCamera, world_transl: np.ndarray, box: np.ndarray, out,
                      k: int, draw: MotionDraw, verts_c: np.ndarray, colors: np.ndarray, lighting,
                      background: bgs.FrameBackground, occluders: list[Occluder],
                      pan: tuple[float, float], degrade: dict, rng: np.random.Generator,
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        s = self.size
        intr = cam.crop_intrinsics(box, s)
        rendered = self.renderer.render(verts_c, colors, intr, lighting.lights,
                                        ambient=lighting.ambient, roughness=lighting.roughness)
        bg = background.crop(box[0], box[1], box[2], s, pan=pan).astype(np.float32)
        rgba = rendered.rgba.astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        # pyrender resolves its 4x MSAA over a transparent background: colour is premultiplied.
        img = rgba[..., :3] + bg * (1.0 - alpha)
        occ_mask = np.zeros((s, s), dtype=bool)
        if occluders:
            img, occ_mask = _paint_occluders(img, occluders, box, s, self.photo_names)
        # Outside the video frame a real crop is padding (zeros): the camera never saw it.
        inside = _inside_frame_mask(box, s, cam.width, cam.height)
        img[~inside] = 0.0
        img = _apply_degradation(img, degrade, rng)
        image = np.clip(img + 0.5, 0, 255).astype(np.uint8)

        labels = self._frame_labels(cam, world_transl, box, out, k, draw, intr, occ_mask, inside)
        labels["silhouette_px"] = np.int32((rendered.mask & inside & ~occ_mask).sum())
        labels["occluded_px"] = np.int32((rendered.mask & inside & occ_mask).sum())
        return image, labels

    def _frame_labels(self, cam: FrameCamera, world_transl: np.ndarray, box: np.ndarray, out,
                      k: int, draw: MotionDraw, intr, occ_mask: np.ndarray, inside: np.ndarray
                      ) -> dict[str, np.ndarray]:
        s = self.size
        # The body was posed in the world with transl = 0 and then moved by world_transl; the
        # camera maps X -> R X + t. transl (camera frame) is defined by
        #   body(pose_cam, betas, transl).vertices == the rendered camera-space vertices,
        # i.e. R (J0 + world_transl) + t - J0, J0 being the rest root joint (posing keeps it).
        j0 = out.joints[k, 0].double().numpy()
        transl = cam.R @ (j0 + world_transl) + cam.t - j0
        world = {"smpl24": out.joints[k], "lsp14": out.lsp14[k], "coco17": out.coco17[k]}
        root_world = draw.rotmats[k, 0]
        pose = rotmat_to_rotvec(draw.rotmats[k]).copy()
        pose[0] = rotmat_to_rotvec(cam.R @ root_world)
        labels: dict[str, np.ndarray] = {
            "pose": pose.astype(np.float32),
            "transl": transl.astype(np.float32),
            "cam": _weak_cam(cam, box, transl, float((j0 + transl)[2])).astype(np.float32),
            "world_transl": world_transl.astype(np.float32),
            "box": box.astype(np.float32),
            "frame_size": np.array([cam.width, cam.height], np.int32),
            "focal": np.float32(cam.focal),
            "crop_focal": np.float32(intr.fx),
            "crop_center": np.array([intr.cx, intr.cy], np.float32),
            "cam_R": cam.R.astype(np.float32),
            "cam_t": cam.t.astype(np.float32),
        }
        for name, pts in world.items():
            pc = cam.to_camera(pts.double().numpy() + world_transl)
            z = np.maximum(pc[:, 2:3], 1e-6)
            px = np.concatenate([intr.fx * pc[:, :1] / z + intr.cx, intr.fy * pc[:, 1:2] / z + intr.cy], 1)
            labels[f"joints3d_{name}"] = pc.astype(np.float32)
            labels[f"joints2d_{name}"] = px.astype(np.float32)
            labels[f"joints2d_{name}_norm"] = (px * (2.0 / s) - 1.0).astype(np.float32)
            labels[f"vis_{name}"] = _visibility(px, pc[:, 2], occ_mask, inside, s)
        return labels

    def _person_labels(self, draw: MotionDraw, betas: np.ndarray,
                       background: bgs.FrameBackground) -> dict:
        bg_id = self.photo_names.index(background.source) if background.source in self.photo_names else -1
        return {
            "betas": betas.astype(np.float32),
            "source_kind": int(draw.kind),
            "clip_id": int(draw.clip_id),
            "clip_id2": int(draw.clip_id2),
            "clip_time": float(draw.time),
            "speed": float(draw.speed),
            "mirrored": int(draw.mirrored),
            "background_id": int(bg_id),
        }


# --- helpers (pure functions)

def _weak_cam(cam: FrameCamera, box: np.ndarray, transl: np.ndarray, root_depth: float) -> np.ndarray:
    """(s, tx, ty) with x_crop = s * (X_xy + t), X = body points posed with transl = 0.

    s = 2 f / (z_root * side) and t = transl_xy - (box centre - frame centre) * z_root / f, so
    that camera.crop_cam_to_frame_translation(cam, box centre, side, f, frame size) returns
    (transl_x, transl_y, z_root): exact for the root joint's projection (X_root = J0), the
    usual weak-perspective approximation for every other point.
    """
    x0, y0, side = box
    bcx, bcy = x0 + side / 2, y0 + side / 2
    cx, cy = cam.center
    z = root_depth
    return np.array([2.0 * cam.focal / (z * side),
                     transl[0] - (bcx - cx) * z / cam.focal,
                     transl[1] - (bcy - cy) * z / cam.focal])


def _visibility(px: np.ndarray, z: np.ndarray, occ: np.ndarray, inside: np.ndarray, s: int) -> np.ndarray:
    u = np.floor(px[:, 0]).astype(np.int64)
    v = np.floor(px[:, 1]).astype(np.int64)
    ok = (z > 0) & (u >= 0) & (v >= 0) & (u < s) & (v < s)
    uc, vc = np.clip(u, 0, s - 1), np.clip(v, 0, s - 1)
    ok &= inside[vc, uc] & ~occ[vc, uc]
    return ok.astype(np.uint8)


def _inside_frame_mask(box: np.ndarray, s: int, width: int, height: int) -> np.ndarray:
    x0, y0, side = box
    c = (np.arange(s) + 0.5) * side / s
    ux = (x0 + c >= 0) & (x0 + c < width)
    vy = (y0 + c >= 0) & (y0 + c < height)
    return vy[:, None] & ux[None, :]


def _paint_occluders(img: np.ndarray, occluders: list[Occluder], box: np.ndarray, s: int,
                     photos: list[str]) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, side = box
    k = s / side
    occ = np.zeros((s, s), dtype=bool)
    for o in occluders:
        poly = (o.polygon - np.array([x0, y0])) * k
        m = Image.new("L", (s, s), 0)
        ImageDraw.Draw(m).polygon([tuple(p) for p in poly], fill=255)
        mask = np.asarray(m) > 127
        if not mask.any():
            continue
        if o.texture_seed >= 0:
            trng = np.random.default_rng(o.texture_seed)
            if photos and trng.random() < 0.6:
                photo = bgs.load_photo(photos[int(trng.integers(len(photos)))])
                h, w = photo.shape[:2]
                cs = int(min(h, w) * trng.uniform(0.2, 0.6))
                y, x = int(trng.integers(0, h - cs + 1)), int(trng.integers(0, w - cs + 1))
                tex = np.asarray(Image.fromarray(photo[y:y + cs, x:x + cs]).resize((s, s), Image.BILINEAR))
            else:
                tex = bgs.procedural_texture(trng, size=s)
            fill = tex.astype(np.float32) * o.shade
        else:
            ramp = np.linspace(1.0, 0.75, s, dtype=np.float32)[:, None, None]
            fill = o.color[None, None, :].astype(np.float32) * ramp * o.shade
        img = np.where(mask[..., None], np.broadcast_to(fill, img.shape), img)
        occ |= mask
    return img, occ


def _sample_degradation(rng: np.random.Generator) -> dict:
    return {
        "blur": float(rng.uniform(0.3, 1.1)) if rng.random() < 0.3 else 0.0,
        "noise": float(rng.uniform(1.0, 5.0)) if rng.random() < 0.3 else 0.0,
    }


def _apply_degradation(img: np.ndarray, degrade: dict, rng: np.random.Generator) -> np.ndarray:
    if degrade["blur"] > 0:
        im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        img = np.asarray(im.filter(ImageFilter.GaussianBlur(degrade["blur"]))).astype(np.float32)
    if degrade["noise"] > 0:
        img = img + degrade["noise"] * rng.standard_normal(img.shape, dtype=np.float32)
    return img


def _smooth(x: np.ndarray, radius: int) -> np.ndarray:
    """Moving average along axis 0 (edges use the available neighbours)."""
    out = np.empty_like(x)
    n = len(x)
    for i in range(n):
        out[i] = x[max(0, i - radius):min(n, i + radius + 1)].mean(0)
    return out


def _background_pans(cams: list[FrameCamera], rng: np.random.Generator) -> list[tuple[float, float]]:
    """Per-frame shift of the background picture, in frame-0 pixels: rotation moves a distant
    background by where frame k's optical axis lands in frame 0; travel adds parallax for a
    background at a random depth (6-30 m)."""
    depth = rng.uniform(6.0, 30.0)
    c0 = cams[0]
    eye0 = -c0.R.T @ c0.t
    pans = []
    for cam in cams:
        axis_w = cam.R.T @ np.array([0.0, 0.0, 1.0])
        a = c0.R @ axis_w
        du = c0.focal * a[0] / a[2]
        dv = c0.focal * a[1] / a[2]
        eye = -cam.R.T @ cam.t
        move = c0.R @ (eye - eye0)
        du += c0.focal * move[0] / depth
        dv += c0.focal * move[1] / depth
        pans.append((float(du), float(dv)))
    return pans
