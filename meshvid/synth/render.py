"""A fast, persistent renderer for synthetic data: one GL context, one pyrender scene, and per
sample only the body mesh, the camera intrinsics and the lights change.

meshvid/render/offscreen.py is the general helper (builds a trimesh and a new scene per call);
this path skips trimesh, computes smooth normals with a precomputed sparse vertex-face matrix
and keeps the scene, which is what makes >= 20 crops/s possible on two CPU cores. Same
conventions: inputs in OpenCV camera coordinates (x right, y down, z forward, metres).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from meshvid.errors import MissingDependencyError  # noqa: E402

_CV_TO_GL = np.diag([1.0, -1.0, -1.0]).astype(np.float32)


@dataclass
class Light:
    direction: tuple[float, float, float]  # OpenCV camera axes, the way the light travels
    intensity: float
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float


@dataclass
class Rendered:
    rgba: np.ndarray  # (H, W, 4) uint8; alpha 255 where the body is
    depth: np.ndarray  # (H, W) float32 metres along z, 0 = background

    @property
    def mask(self) -> np.ndarray:
        return self.depth > 0


class VertexNormals:
    """Area-weighted smooth vertex normals for a fixed triangle list."""

    def __init__(self, faces: np.ndarray, num_vertices: int) -> None:
        faces = np.asarray(faces, dtype=np.int64)
        self.faces = faces
        rows = faces.reshape(-1)
        cols = np.repeat(np.arange(len(faces)), 3)
        self._incidence = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(num_vertices, len(faces))
        )

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        v = vertices[self.faces]
        face_n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])  # length = 2 x area
        n = self._incidence @ face_n
        n /= np.linalg.norm(n, axis=1, keepdims=True).clip(min=1e-12)
        return n.astype(np.float32)


def _look_along(direction: np.ndarray) -> np.ndarray:
    """Pose (OpenGL camera frame) of a pyrender light shining along `direction` (its -z)."""
    z = -direction / np.linalg.norm(direction)
    up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.95 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, y, z
    return pose


class BodyRenderer:
    """Renders one vertex-coloured body mesh per call at a fixed image size."""

    def __init__(self, width: int, height: int, faces: np.ndarray, num_vertices: int,
                 max_lights: int = 3) -> None:
        try:
            import pyrender  # noqa: PLC0415
        except Exception as err:  # pragma: no cover - depends on the machine
            raise MissingDependencyError(
                f"pyrender is unavailable ({err}); run scripts/setup.sh") from None
        self._pr = pyrender
        self.width, self.height = int(width), int(height)
        try:
            self._renderer = pyrender.OffscreenRenderer(self.width, self.height)
        except Exception as err:
            raise MissingDependencyError(
                f"could not open a headless OpenGL context ({type(err).__name__}: {err}); "
                "install Mesa's EGL libraries (scripts/setup.sh) and keep PYOPENGL_PLATFORM=egl"
            ) from None
        self.faces = np.ascontiguousarray(np.asarray(faces, dtype=np.uint32))
        self.normals = VertexNormals(faces, num_vertices)
        self.scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 0.0), ambient_light=np.full(3, 0.3))
        self._camera = pyrender.IntrinsicsCamera(1.0, 1.0, 0.5, 0.5, znear=0.05, zfar=100.0)
        self.scene.add(self._camera, pose=np.eye(4))
        self._lights = []
        for _ in range(max_lights):
            light = pyrender.DirectionalLight(color=np.ones(3), intensity=0.0)
            self._lights.append((light, self.scene.add(light, pose=np.eye(4))))
        self._mesh_node = None
        self._material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=(1.0, 1.0, 1.0, 1.0), metallicFactor=0.0, roughnessFactor=0.8)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None

    def __enter__(self) -> "BodyRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def render(self, vertices: np.ndarray, colors: np.ndarray, intrinsics: Intrinsics,
               lights: list[Light], ambient: float = 0.3, roughness: float = 0.8) -> Rendered:
        """vertices (V, 3) in camera coordinates; colors (V, 3|4) uint8 or float in [0, 1]."""
        pr = self._pr
        verts = (np.asarray(vertices, dtype=np.float32) @ _CV_TO_GL.T).astype(np.float32)
        normals = self.normals(verts)
        colors = np.asarray(colors)
        if colors.dtype == np.uint8:
            colors = colors.astype(np.float32) / 255.0
        if colors.shape[1] == 3:
            colors = np.concatenate([colors, np.ones((len(colors), 1), np.float32)], 1)
        self._material.roughnessFactor = float(roughness)
        prim = pr.Primitive(positions=verts, normals=normals, color_0=colors.astype(np.float32),
                            indices=self.faces, material=self._material)
        if self._mesh_node is not None:
            self.scene.remove_node(self._mesh_node)
        self._mesh_node = self.scene.add(pr.Mesh(primitives=[prim]))
        cam = self._camera
        # pyrender measures (cx, cy) from the top-left like OpenCV: no flip needed.
        cam.fx, cam.fy, cam.cx, cam.cy = intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
        self.scene.ambient_light = np.full(3, float(ambient))
        for k, (light, node) in enumerate(self._lights):
            if k < len(lights):
                spec = lights[k]
                d = np.asarray(spec.direction, dtype=np.float64) @ _CV_TO_GL.T
                self.scene.set_pose(node, _look_along(d))
                light.intensity = float(spec.intensity)
                light.color = np.asarray(spec.color, dtype=np.float64)
            else:
                light.intensity = 0.0
        rgba, depth = self._renderer.render(self.scene, flags=pr.RenderFlags.RGBA)
        return Rendered(rgba=np.asarray(rgba), depth=np.asarray(depth, dtype=np.float32))
