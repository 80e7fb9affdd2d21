import numpy as np
import trimesh

from meshvid.render.offscreen import MeshToDraw, PinholeCamera, render_meshes
from meshvid.render.overlay import OverlayRenderer, PersonInFrame, side_view_vertices, track_color


def _sphere(center, radius=0.4):
    s = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    return np.asarray(s.vertices) + np.asarray(center), np.asarray(s.faces)


def test_render_projects_in_opencv_convention():
    verts, faces = _sphere([0.3, -0.2, 3.0], 0.3)
    cam = PinholeCamera.centred(300, 320, 240)
    result = render_meshes([MeshToDraw(verts, faces)], cam, (320, 240))
    ys, xs = np.nonzero(result.mask)
    # x right and y down: the centre projects to (160 + 30, 120 - 20)
    assert abs(xs.mean() - 190) < 2 and abs(ys.mean() - 100) < 3
    assert 2.6 < result.depth[result.mask].min() < 2.8
    # silhouette area matches the projected disc (radius ~ f r / z)
    expected = np.pi * (300 * 0.3 / np.sqrt(3.0**2 - 0.3**2)) ** 2
    assert abs(result.mask.sum() / expected - 1) < 0.08


def test_overlay_composites_and_side_view_doubles_width():
    frame = np.full((120, 160, 3), 30, np.uint8)
    verts, faces = _sphere([0.0, 0.0, 4.0])
    kps = np.tile([[80.0, 60.0]], (17, 1))
    with OverlayRenderer(160, 120, faces, side_view=True, show_keypoints=True) as r:
        out = r.render(frame, [PersonInFrame(7, verts, kps, np.ones(17))], focal=150)
        empty = r.render(frame, [], focal=150)
    assert out.shape == (120, 320, 3)
    assert np.any(out[:, :160] != 30), "the mesh was drawn over the frame"
    assert np.any(out[:, 160:] != 235), "the side view shows the person"
    assert np.array_equal(empty[:, :160], frame)


def test_track_colours_are_stable_and_distinct():
    # stable: a pure function of the id (no palette state, no hash seed), pinned to the values
    # the golden-ratio hue rule gives, so a person keeps their colour across runs and files
    first = track_color(3)
    _ = [track_color(i) for i in range(100, 0, -1)]
    assert track_color(3) == first
    np.testing.assert_allclose(track_color(0), (0.95, 0.77235, 0.4275), atol=1e-6)
    np.testing.assert_allclose(track_color(1), (0.6198866, 0.4275, 0.95), atol=1e-6)
    cols = np.array([track_color(i) for i in range(8)])
    d = np.linalg.norm(cols[:, None] - cols[None], axis=-1) + np.eye(8)
    assert d.min() > 0.05


def test_side_view_keeps_distances_and_swaps_depth_for_width():
    a = np.array([[0.0, 0.0, 3.0]])
    b = np.array([[0.0, 0.0, 5.0]])
    ra, rb = side_view_vertices([a, b])
    assert np.isclose(np.linalg.norm(ra - rb), 2.0)
    assert np.isclose(abs(ra[0, 0] - rb[0, 0]), 2.0)  # depth gap now shows as width


def test_reduced_render_size_keeps_the_mesh_in_place():
    frame = np.zeros((240, 320, 3), np.uint8)
    verts, faces = _sphere([0.4, 0.2, 4.0], 0.5)
    people = [PersonInFrame(1, verts)]
    # one GL context at a time (pyrender's EGL contexts do not nest)
    with OverlayRenderer(320, 240, faces, alpha=1.0, max_render_side=None) as full:
        a = full.render(frame, people, focal=300).sum(-1) > 0
    with OverlayRenderer(320, 240, faces, alpha=1.0, max_render_side=160) as half:
        assert half.render_size == (160, 120)
        b = half.render(frame, people, focal=300).sum(-1) > 30
    ya, xa = np.nonzero(a)
    yb, xb = np.nonzero(b)
    assert abs(xa.mean() - xb.mean()) < 1.5 and abs(ya.mean() - yb.mean()) < 1.5
    assert abs(a.sum() / b.sum() - 1) < 0.1


def test_rendering_before_torch_dynamo_does_not_crash():
    """A script that opens a GL context first and then touches roma (torch._dynamo -> triton)
    used to segfault: both bring their own LLVM. The renderer now loads triton first."""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from meshvid.render.overlay import OverlayRenderer\n"
            "r = OverlayRenderer(64, 48, np.array([[0, 1, 2]]))\n"
            "import roma\n"
            "r.close()\nprint('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-2000:]


def test_colour_only_read_matches_the_full_read():
    """with_depth=False (the overlay's path: no depth read) gives pyrender's exact RGBA, and its
    alpha covers the depth mask (plus partially covered edge pixels)."""
    from meshvid.render.fast import BodyRenderer, Intrinsics, Light

    verts, faces = _sphere([0.2, 0.1, 3.0], 0.5)
    lights = [Light((0.0, 0.5, 1.0), 3.0)]
    intr = Intrinsics(200.0, 200.0, 80.0, 60.0)
    with BodyRenderer(160, 120, faces, len(verts)) as r:
        full = r.render_many([(verts, np.array([0.8, 0.3, 0.3]))], intr, lights)
        fast = r.render_many([(verts, np.array([0.8, 0.3, 0.3]))], intr, lights, with_depth=False)
        again = r.render_many([(verts, np.array([0.8, 0.3, 0.3]))], intr, lights)
    assert fast.depth is None and full.depth is not None
    assert np.array_equal(fast.rgba, full.rgba)
    assert np.array_equal(again.depth, full.depth)  # pyrender's own read is restored
    assert np.all(fast.mask[full.mask]) and fast.mask.sum() <= 1.1 * full.mask.sum()


def test_pipelined_encoder_keeps_order_and_raises_errors():
    import pytest

    from meshvid.pipeline.overlay_video import _Pipelined

    seen = []
    with _Pipelined(seen.append) as write:
        for i in range(10):
            write(i)
    assert seen == list(range(10))

    def fail(x):
        if x == 3:
            raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        with _Pipelined(fail) as write:
            for i in range(10):
                write(i)
