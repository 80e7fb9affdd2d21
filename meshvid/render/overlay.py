"""Overlay frames: each person's mesh over the video frame in a stable colour per track, with an
optional side view and 2D keypoints. Used by `meshvid infer` (and anything else that shows
results over footage).

Drawn with the fast body renderer (meshvid/render/fast.py: per-vertex lighting, one persistent
scene) at most `max_render_side` pixels wide, then upscaled and blended only inside the meshes'
bounding box: the software rasteriser, the upscale and the blend all cost in proportion to
pixels, and people rarely cover the whole frame."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from meshvid.body.joints import COCO_17_BONES
from meshvid.render.fast import BodyRenderer, Intrinsics, Light

# A key light from the camera and two fills from the upper left and upper right (OpenCV camera
# axes: the direction each light travels).
OVERLAY_LIGHTS = [Light((0.0, 0.0, 1.0), 2.2), Light((-1.0, 1.0, 1.0), 1.2),
                  Light((1.0, 0.6, 1.0), 1.0)]
OVERLAY_AMBIENT = 0.35


def track_color(track_id: int) -> tuple[float, float, float]:
    """A stable, well-separated RGB colour in [0, 1] for a track id (golden-ratio hues)."""
    hue = (0.11 + 0.618033988749895 * int(track_id)) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.55, 0.95)


@dataclass
class PersonInFrame:
    track_id: int
    vertices: np.ndarray  # (V, 3) camera space (meshvid/geometry/camera.py convention)
    keypoints: np.ndarray | None = None  # (17, 2) frame pixels, COCO_17
    keypoint_scores: np.ndarray | None = None  # (17,)


def side_view_vertices(
    people: list[np.ndarray], angle_deg: float = 90.0,
    world: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Rotate all people together about a vertical axis through their joint centroid, so the
    side view shows their depth arrangement (who is in front of whom) as seen from the side.

    Args:
        people: camera-space vertices, one (V, 3) array per person.
        angle_deg: the turn about the vertical.
        world: for a moving camera, this frame's world -> camera (R (3, 3), t (3,))
            (meshvid/scene/world.py): the people are first taken into the world frame (y is
            gravity there) and the view is turned from the world's fixed axes, then put
            back where the people are in this frame (their centroid's camera position), so a
            turning video camera does not turn the side view and it stays on screen.
    Returns:
        The rotated vertices, one (V, 3) array per person, in the renderer's camera axes.
    """
    if not people:
        return []
    if world is not None:
        R, t = world
        target = np.concatenate(people, 0).mean(0)  # where they are on screen now
        people = [(v - t) @ R for v in people]  # R^T (v - t), row vectors: the world
        centroid = np.concatenate(people, 0).mean(0)
        people = [v - centroid + target for v in people]
    center = np.concatenate(people, 0).mean(0)
    a = np.radians(angle_deg)
    # vertical axis is camera y (pointing down); rotation about it
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return [(v - center) @ rot.T + center for v in people]


def draw_keypoints(
    image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None,
    color: tuple[float, float, float], min_score: float = 0.3,
) -> None:
    """Draw a COCO-17 skeleton in place (RGB image)."""
    c = tuple(int(255 * x) for x in color)
    ok = np.ones(len(keypoints), bool) if scores is None else scores >= min_score
    thickness = max(1, image.shape[0] // 360)
    for a, b in COCO_17_BONES:
        if ok[a] and ok[b]:
            pa = tuple(int(round(x)) for x in keypoints[a])
            pb = tuple(int(round(x)) for x in keypoints[b])
            cv2.line(image, pa, pb, c, thickness, cv2.LINE_AA)
    for k, p in enumerate(keypoints):
        if ok[k]:
            cv2.circle(image, (int(round(p[0])), int(round(p[1]))), thickness + 1,
                       (255, 255, 255), -1, cv2.LINE_AA)


class OverlayRenderer:
    """Keeps one GL context for a whole video; `render` returns the composited RGB frame."""

    def __init__(self, width: int, height: int, faces: np.ndarray, *, side_view: bool = False,
                 show_keypoints: bool = False, alpha: float = 0.85,
                 max_render_side: int | None = 1024) -> None:
        self.width, self.height = width, height
        self.faces = faces
        self.side_view = side_view
        self.show_keypoints = show_keypoints
        self.alpha = alpha
        # The software rasteriser's cost grows with pixels: draw meshes at most this large and
        # upscale the mesh layer (a smooth mesh loses nothing visible; the frame stays sharp).
        longest = max(width, height)
        self.scale = 1.0 if not max_render_side or longest <= max_render_side else \
            max_render_side / longest
        self.render_size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        self._renderer = BodyRenderer(*self.render_size, faces, int(faces.max()) + 1)

    def _draw(self, bodies: list[tuple[np.ndarray, tuple[float, float, float]]], focal: float,
              background: np.ndarray, alpha: float) -> np.ndarray:
        """Meshes [(vertices, colour)] composited over `background` (full size), drawn at the
        render size; only the meshes' bounding box is upscaled and blended."""
        rw, rh = self.render_size
        s = self.scale
        drawn = self._renderer.render_many(
            [(v, np.asarray(c, np.float32)) for v, c in bodies],
            Intrinsics(focal * s, focal * s, rw / 2.0, rh / 2.0), OVERLAY_LIGHTS, OVERLAY_AMBIENT,
            with_depth=False)
        out = background.copy()
        mask = drawn.mask  # from alpha (no depth read): the meshes' multisampled coverage
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        if len(rows) == 0:
            return out
        # the box in output pixels that covers every render pixel the meshes touched (+1 margin)
        x0 = max(0, int(np.floor((cols[0] - 1) / s)))
        x1 = min(self.width, int(np.ceil((cols[-1] + 2) / s)))
        y0 = max(0, int(np.floor((rows[0] - 1) / s)))
        y1 = min(self.height, int(np.ceil((rows[-1] + 2) / s)))
        if s != 1.0:
            # the render pixels under the box (+1 for the bilinear taps), and a warp in which
            # output pixel (x, y) samples the render at ((x + 0.5) s - 0.5, (y + 0.5) s - 0.5)
            rx0, ry0 = max(0, int(np.floor(x0 * s)) - 1), max(0, int(np.floor(y0 * s)) - 1)
            rx1, ry1 = min(rw, int(np.ceil(x1 * s)) + 2), min(rh, int(np.ceil(y1 * s)) + 2)
            warp = np.array([[s, 0.0, (x0 + 0.5) * s - 0.5 - rx0],
                             [0.0, s, (y0 + 0.5) * s - 0.5 - ry0]])
            layer = cv2.warpAffine(np.ascontiguousarray(drawn.rgba[ry0:ry1, rx0:rx1]), warp,
                                   (x1 - x0, y1 - y0),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        else:
            layer = drawn.rgba[y0:y1, x0:x1]
        # out = w * mesh + (1 - w) * frame, w = alpha x coverage; OpenCV's SIMD blend
        w = layer[..., 3].astype(np.float32) * (alpha / 255.0)
        box = np.ascontiguousarray(out[y0:y1, x0:x1])
        out[y0:y1, x0:x1] = cv2.blendLinear(np.ascontiguousarray(layer[..., :3]), box, w, 1.0 - w)
        return out

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> "OverlayRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def output_size(self) -> tuple[int, int]:
        return (self.width * (2 if self.side_view else 1), self.height)

    def render(self, frame: np.ndarray, people: list[PersonInFrame], focal: float,
               world: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """The frame with the people's meshes (and the side view beside it when asked; `world`:
        this frame's world -> camera (R, t) for a moving camera, see `side_view_vertices`)."""
        meshes = [(p.vertices, track_color(p.track_id)) for p in people]
        # blend (alpha < 1) so the person stays a little visible through the mesh
        out = self._draw(meshes, focal, frame, self.alpha) if meshes else frame.copy()
        if self.show_keypoints:
            for p in people:
                if p.keypoints is not None:
                    draw_keypoints(out, p.keypoints, p.keypoint_scores, track_color(p.track_id))
        for p in people:
            self._label(out, p)
        if not self.side_view:
            return out
        side = np.full_like(frame, 235)
        if people:
            rotated = side_view_vertices([p.vertices for p in people], world=world)
            side_meshes = [(v, track_color(p.track_id)) for v, p in zip(rotated, people)]
            side = self._draw(side_meshes, focal, side, 1.0)
        return np.concatenate([out, side], axis=1)

    def _label(self, image: np.ndarray, person: PersonInFrame) -> None:
        if person.keypoints is None:
            return
        ok = (person.keypoint_scores is None) or (person.keypoint_scores >= 0.3)
        pts = person.keypoints[ok] if np.any(ok) else person.keypoints
        x, y = int(pts[:, 0].min()), int(max(pts[:, 1].min() - 8, 12))
        c = tuple(int(255 * v) for v in track_color(person.track_id))
        scale = max(0.5, image.shape[0] / 1000)
        cv2.putText(image, f"#{person.track_id}", (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, c,
                    max(1, int(2 * scale)), cv2.LINE_AA)
