"""Rendered samples and their labels agree: reprojection, silhouettes, camera conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshvid.geometry.camera import crop_cam_to_frame_translation, project_weak_perspective


@pytest.fixture(scope="module")
def maker():
    from meshvid.synth.generate import SampleMaker

    m = SampleMaker("train")  # headless EGL is part of the install (scripts/setup.sh)
    yield m
    m.close()


@pytest.fixture(scope="module")
def crops(maker):
    return [maker.crop(np.random.default_rng(1000 + i)) for i in range(12)]


def _relabel(maker, frame: dict, person: dict, k: int = 0):
    """Everything recomputed from the stored labels alone: body(pose, betas, transl)."""
    pose = torch.from_numpy(frame["pose"][k]).float()[None]
    betas = torch.from_numpy(np.asarray(person["betas"])).float()[None]
    transl = torch.from_numpy(frame["transl"][k]).float()[None]
    with torch.no_grad():
        return maker.body(pose, betas, transl)


def _project(pts: np.ndarray, f: float, c: np.ndarray) -> np.ndarray:
    return f * pts[:, :2] / pts[:, 2:3] + c


def test_labels_reproduce_the_rendered_body(maker, crops) -> None:
    for s in crops:
        fr = s.frame
        out = _relabel(maker, fr, s.person)
        for name, joints in (("smpl24", out.joints), ("lsp14", out.lsp14), ("coco17", out.coco17)):
            j3 = joints[0].numpy()
            assert np.abs(j3 - fr[f"joints3d_{name}"][0]).max() < 1e-3  # metres
            px = _project(j3, float(fr["crop_focal"][0]), fr["crop_center"][0])
            assert np.abs(px - fr[f"joints2d_{name}"][0]).max() < 0.25  # sub-pixel
            norm = fr[f"joints2d_{name}"][0] * (2.0 / 224) - 1.0
            assert np.allclose(norm, fr[f"joints2d_{name}_norm"][0], atol=1e-5)
        for key, v in fr.items():
            assert np.isfinite(np.asarray(v, dtype=np.float64)).all(), key
        assert np.isfinite(s.person["betas"]).all()


def test_weak_perspective_camera_matches_the_crop(maker, crops) -> None:
    checked = 0
    for s in crops:
        fr = s.frame
        cam = torch.from_numpy(fr["cam"]).double()
        out = _relabel(maker, fr, s.person)
        model_joints = (out.joints - torch.from_numpy(fr["transl"])[:, None]).double()  # transl = 0
        weak = project_weak_perspective(model_joints, cam)[0].numpy()
        # Exact for the root joint ...
        assert np.abs(weak[0] - fr["joints2d_smpl24_norm"][0, 0]).max() < 1e-4
        # ... and the weak-perspective approximation elsewhere (a few % of the crop).
        vis = fr["vis_smpl24"][0].astype(bool)
        if vis.sum() > 5:
            checked += 1
            assert np.median(np.abs(weak - fr["joints2d_smpl24_norm"][0])[vis]) < 0.08
        box = torch.from_numpy(fr["box"]).double()
        centre = box[:, :2] + box[:, 2:3] / 2
        w, h = (int(x) for x in fr["frame_size"][0])
        t = crop_cam_to_frame_translation(cam, centre, box[:, 2], float(fr["focal"][0]), (w, h))[0].numpy()
        root_depth = fr["joints3d_smpl24"][0, 0, 2]
        assert np.allclose(t[:2], fr["transl"][0, :2], atol=1e-4)
        assert abs(t[2] - root_depth) < 1e-4
    assert checked >= 10, f"only {checked} of {len(crops)} crops had > 5 visible joints"


def test_rendered_silhouette_matches_the_projected_mesh(maker, crops) -> None:
    """Render the mesh the labels describe with the renderer, rasterise its projection with
    PIL: the two silhouettes agree (IoU >= 0.95), so pixels and labels share one camera."""
    from meshvid.render.fast import Intrinsics, Light

    faces = maker.faces
    checked = 0
    for s in crops[:6]:
        fr = s.frame
        if fr["box"][0, 2] < 40:  # tiny boxes only upsample: skip
            continue
        checked += 1
        verts = _relabel(maker, fr, s.person).vertices[0].numpy()
        f, c = float(fr["crop_focal"][0]), fr["crop_center"][0]
        res = maker.renderer.render(verts, np.full((len(verts), 3), 0.7, np.float32),
                                    Intrinsics(f, f, float(c[0]), float(c[1])), [Light((0, 0, 1), 2.0)])
        proj = _rasterise(_project(verts, f, c), faces, 224)
        for mask in (res.mask, res.rgba[..., 3] > 127):  # depth, and coverage (alpha)
            inter = (proj & mask).sum()
            union = (proj | mask).sum()
            assert union > 500
            assert inter / union >= 0.95, inter / union
    assert checked >= 5, f"only {checked} of 6 crops were large enough to compare"


def _rasterise(uv: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """Pixels whose centre (x + 0.5, y + 0.5) lies inside any projected triangle."""
    tri = uv[faces]  # (F, 3, 2)
    span = (np.ceil(tri.max(1)) - np.floor(tri.min(1) - 0.5)).max(1)
    mask = np.zeros((size, size), dtype=bool)
    for sel, k in ((span < 8, 8), ((span >= 8) & (span < 32), 32), (span >= 32, int(span.max()) + 1)):
        if sel.any():
            mask |= _rasterise_window(tri[sel], size, k)
    return mask


def _rasterise_window(tri: np.ndarray, size: int, k: int) -> np.ndarray:
    """All triangles at once, each tested over a k x k pixel window from its bbox corner."""
    lo = np.floor(tri.min(1) - 0.5).astype(np.int64)  # (F, 2)
    off = np.stack(np.meshgrid(np.arange(k), np.arange(k), indexing="xy"), -1).reshape(-1, 2)
    pix = lo[:, None, :] + off[None]  # (F, k*k, 2)
    p = pix + 0.5
    a, b, c = tri[:, 0, None], tri[:, 1, None], tri[:, 2, None]
    d = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
    d = np.where(np.abs(d) < 1e-12, np.nan, d)
    w1 = ((p[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (p[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])) / d
    w2 = ((b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])) / d
    inside = (w1 >= 0) & (w2 >= 0) & (w1 + w2 <= 1)
    inside &= (pix[..., 0] >= 0) & (pix[..., 1] >= 0) & (pix[..., 0] < size) & (pix[..., 1] < size)
    mask = np.zeros((size, size), dtype=bool)
    hit = pix[inside]
    mask[hit[:, 1], hit[:, 0]] = True
    return mask


def test_upright_people_are_upright_in_the_crop(maker) -> None:
    """Standing clips, seen by level-ish cameras: the head is above the feet in the image and
    the root's up axis points to the image top (the camera-frame root convention)."""
    from meshvid.synth import sources

    lib = maker.library
    walk = lib.clip_names.index("deepmimic/humanoid3d_walk")
    rng = np.random.default_rng(5)
    draw = lib.draw_frame

    def only_walk(r):
        d = draw(r)
        while d.clip_id != walk or d.kind != sources.SOURCE_DEEPMIMIC:
            d = draw(r)
        return d

    lib.draw_frame = only_walk
    try:
        ups = []
        for _ in range(6):
            s = maker.crop(rng)
            fr = s.frame
            head, ankles = fr["joints2d_smpl24"][0, 15], fr["joints2d_smpl24"][0, [7, 8]]
            assert head[1] < ankles[:, 1].min()
            from meshvid.geometry.rotations import axis_angle_to_matrix

            root = axis_angle_to_matrix(torch.from_numpy(fr["pose"][0, 0]))
            ups.append(float((root @ torch.tensor([0.0, 1.0, 0.0]))[1]))
        assert np.mean(ups) < -0.7  # body up = camera -y (image up)
    finally:
        lib.draw_frame = draw


def test_sequences_are_one_person_moving(maker) -> None:
    s = maker.sequence(np.random.default_rng(3), length=6, fps=10.0)
    assert s.images.shape == (6, 224, 224, 3)
    fr = s.frame
    assert fr["pose"].shape == (6, 24, 3)
    assert all(np.isfinite(np.asarray(v, dtype=np.float64)).all() for v in fr.values())
    # Consecutive frames: small, nonzero joint motion (3D, camera frame, root-relative).
    rel = fr["joints3d_smpl24"] - fr["joints3d_smpl24"][:, :1]
    step = np.linalg.norm(np.diff(rel, axis=0), axis=-1).max(-1)
    assert (step > 1e-4).all() and (step < 1.5).all()  # < 15 m/s: no jumps between frames
    # Every frame's labels reproduce its mesh.
    for k in range(6):
        out = _relabel(maker, fr, s.person, k)
        px = _project(out.joints[0].numpy(), float(fr["crop_focal"][k]), fr["crop_center"][k])
        assert np.abs(px - fr["joints2d_smpl24"][k]).max() < 0.25
