"""Headless mesh rendering with pyrender over EGL (Mesa llvmpipe on CPU, the GPU driver if any).

Inputs are in meshvid's camera convention (meshvid/geometry/camera.py: OpenCV axes, x right,
y down, z forward, metres); this module is the only place that converts to OpenGL's axes.
One `OffscreenRenderer` keeps its GL context and scene alive, so rendering many frames costs
only the draw, not context set-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np  # noqa: E402

from meshvid.errors import MissingDependencyError  # noqa: E402

# OpenCV camera axes -> OpenGL camera axes (y up, looking down -z).
_CV_TO_GL = np.diag([1.0, -1.0, -1.0]).astype(np.float32)


@dataclass
class PinholeCamera:
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def centred(cls, focal: float, width: int, height: int) -> "PinholeCamera":
        return cls(focal, focal, width / 2.0, height / 2.0)


@dataclass
class MeshToDraw:
    vertices: np.ndarray  # (V, 3) camera-space metres
    faces: np.ndarray  # (F, 3) int
    color: tuple[float, float, float] = (0.65, 0.74, 0.86)  # RGB in [0, 1]
    vertex_colors: np.ndarray | None = None  # (V, 3) or (V, 4) floats in [0, 1]; wins over color
    alpha: float = 1.0
    smooth: bool = True


@dataclass
class RenderResult:
    color: np.ndarray  # (H, W, 3) uint8, meshes composited over the background
    depth: np.ndarray  # (H, W) float32 metres along z, 0 where no mesh
    mask: np.ndarray = field(default=None)  # (H, W) bool, True where a mesh is drawn

    def __post_init__(self) -> None:
        if self.mask is None:
            self.mask = self.depth > 0


def _import_pyrender():
    try:
        import pyrender  # noqa: PLC0415
    except Exception as err:  # pragma: no cover - depends on the machine
        raise MissingDependencyError(
            f"the headless renderer is unavailable ({err}); run scripts/setup.sh to install "
            "pyrender and Mesa's EGL libraries (libegl1, libegl-mesa0, libgl1-mesa-dri)"
        ) from None
    return pyrender


def _load_triton_first() -> None:
    """Mesa's llvmpipe (the EGL context) and triton (which torch._dynamo imports lazily, e.g.
    through `import roma`) each bring their own LLVM: importing triton after a context exists
    segfaults the process. Loading it first is harmless."""
    try:
        import roma  # noqa: F401, PLC0415
    except Exception:  # noqa: BLE001 - nothing to protect if it cannot load
        pass


class GLContext:
    """One headless pyrender context of a fixed size; closed on exit. Base of the renderers."""

    def __init__(self, width: int, height: int) -> None:
        _load_triton_first()
        pyrender = _import_pyrender()
        self._pyrender = pyrender
        self.width, self.height = int(width), int(height)
        try:
            self._renderer = pyrender.OffscreenRenderer(self.width, self.height)
        except Exception as err:
            raise MissingDependencyError(
                f"could not open a headless OpenGL context ({type(err).__name__}: {err}); "
                "install Mesa's EGL libraries (scripts/setup.sh) or set PYOPENGL_PLATFORM=egl"
            ) from None

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OffscreenRenderer(GLContext):
    """Renders lists of meshes with a pinhole camera at a fixed image size."""

    def __init__(self, width: int, height: int, *, ambient: float = 0.35) -> None:
        super().__init__(width, height)
        self._ambient = ambient

    def _lights(self, scene) -> None:
        pyrender = self._pyrender
        # A key light from the camera and two fill lights from above-left and above-right,
        # all expressed in the OpenGL camera frame (the camera sits at the origin).
        for direction, intensity in (((0, 0, -1), 2.2), ((-1, -1, -1), 1.2), ((1, -0.6, -1), 1.0)):
            d = np.asarray(direction, dtype=np.float64)
            d /= np.linalg.norm(d)
            pose = _look_along(d)
            scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=intensity), pose=pose)

    def render(
        self,
        meshes: list[MeshToDraw],
        camera: PinholeCamera,
        background: np.ndarray | None = None,
        *,
        background_color: tuple[float, float, float] = (1.0, 1.0, 1.0),
        znear: float = 0.05,
        zfar: float = 200.0,
    ) -> RenderResult:
        import trimesh  # noqa: PLC0415

        pyrender = self._pyrender
        scene = pyrender.Scene(
            bg_color=(*background_color, 0.0), ambient_light=np.full(3, self._ambient)
        )
        for item in meshes:
            verts = np.asarray(item.vertices, dtype=np.float32) @ _CV_TO_GL.T
            tm = trimesh.Trimesh(verts, np.asarray(item.faces), process=False)
            if item.vertex_colors is not None:
                vc = np.asarray(item.vertex_colors, dtype=np.float32)
                if vc.shape[1] == 3:
                    vc = np.concatenate([vc, np.full((len(vc), 1), item.alpha, np.float32)], 1)
                tm.visual.vertex_colors = (np.clip(vc, 0, 1) * 255).astype(np.uint8)
                mesh = pyrender.Mesh.from_trimesh(tm, smooth=item.smooth)
            else:
                material = pyrender.MetallicRoughnessMaterial(
                    baseColorFactor=(*item.color, item.alpha),
                    metallicFactor=0.05,
                    roughnessFactor=0.7,
                    alphaMode="BLEND" if item.alpha < 1.0 else "OPAQUE",
                )
                mesh = pyrender.Mesh.from_trimesh(tm, material=material, smooth=item.smooth)
            scene.add(mesh)
        cam = pyrender.IntrinsicsCamera(
            camera.fx, camera.fy, camera.cx, camera.cy, znear=znear, zfar=zfar
        )
        scene.add(cam, pose=np.eye(4))
        self._lights(scene)
        rgba, depth = self._renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
        depth = np.asarray(depth, dtype=np.float32)
        mask = depth > 0
        if background is None:
            color = np.ascontiguousarray(rgba[..., :3])
        else:
            if background.shape[:2] != (self.height, self.width):
                raise ValueError(
                    f"background is {background.shape[1]}x{background.shape[0]}, "
                    f"renderer is {self.width}x{self.height}"
                )
            alpha = (rgba[..., 3:4].astype(np.float32) / 255.0) * mask[..., None]
            color = (rgba[..., :3] * alpha + background[..., :3] * (1.0 - alpha)).astype(np.uint8)
        return RenderResult(color=color, depth=depth, mask=mask)


def _look_along(direction: np.ndarray) -> np.ndarray:
    """A pose whose -z axis points along `direction` (pyrender lights shine down -z)."""
    z = -direction / np.linalg.norm(direction)
    up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.95 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, y, z
    return pose


def render_meshes(
    meshes: list[MeshToDraw],
    camera: PinholeCamera,
    image_size: tuple[int, int],
    background: np.ndarray | None = None,
    **kwargs,
) -> RenderResult:
    """One-shot render (opens and closes a GL context): for a single picture, not a video."""
    width, height = image_size
    with OffscreenRenderer(width, height) as renderer:
        return renderer.render(meshes, camera, background, **kwargs)
