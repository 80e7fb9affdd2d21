"""Scene sampling: shapes, cameras, crop boxes, lights and occluders.

World frame = the motion world of meshvid.synth.motion (y up, ground at y = 0). Cameras follow
meshvid.geometry.camera (OpenCV axes: x right, y down, z forward), with X_cam = R @ X_world + t.
A "frame" is the virtual video frame (width x height, focal f, principal point at its centre);
a crop is a square box of that frame resampled to crop_size pixels, rendered directly with the
crop's own intrinsics (focal f * S / side, principal point shifted), exactly as a real crop of a
real frame would look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from meshvid.synth.motion import rotvec_to_rotmat, shortest_arc
from meshvid.render.fast import Intrinsics, Light

# (width, height, weight): phone videos in landscape and portrait, webcams, square clips.
FRAME_SIZES = ((1920, 1080, 0.3), (1280, 720, 0.25), (1080, 1920, 0.15), (720, 1280, 0.1),
               (640, 480, 0.1), (1080, 1080, 0.1))


@dataclass
class CropPolicy:
    """How crop boxes are cut around the person (match the inference crops)."""

    scale: tuple[float, float] = (1.1, 1.35)  # box side / longer side of the person's bbox
    jitter: float = 0.05  # centre jitter, fraction of the side (std)
    truncation_p: float = 0.15  # probability of a tight or shifted box cutting the body
    truncation_scale: tuple[float, float] = (0.65, 0.95)
    truncation_shift: float = 0.25  # max centre shift of a truncating box, fraction of side


@dataclass
class FrameCamera:
    width: int
    height: int
    focal: float
    R: np.ndarray  # (3, 3) world -> camera
    t: np.ndarray  # (3,)

    @property
    def center(self) -> tuple[float, float]:
        return self.width / 2.0, self.height / 2.0

    def to_camera(self, pts: np.ndarray) -> np.ndarray:
        return pts @ self.R.T + self.t

    def project(self, pts_cam: np.ndarray) -> np.ndarray:
        z = np.maximum(pts_cam[..., 2:3], 1e-6)
        cx, cy = self.center
        return self.focal * pts_cam[..., :2] / z + np.array([cx, cy])

    def crop_intrinsics(self, box: np.ndarray, size: int) -> Intrinsics:
        """Intrinsics of the crop image for a square box (x0, y0, side) in frame pixels."""
        x0, y0, side = box
        k = size / side
        cx, cy = self.center
        return Intrinsics(self.focal * k, self.focal * k, (cx - x0) * k, (cy - y0) * k)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World -> camera rotation for a level camera at `eye` looking at `target`."""
    z = target - eye
    z = z / np.linalg.norm(z)
    up = np.array([0.0, 1.0, 0.0])
    x = np.cross(z, up)  # image right = forward x up (OpenCV: x = y x z with y = -up)
    if np.linalg.norm(x) < 1e-6:
        x = np.array([1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # image down
    return np.stack([x, y, z])


def aim(rot: np.ndarray, target_dir_cam: np.ndarray, pixel: tuple[float, float], focal: float,
        center: tuple[float, float]) -> np.ndarray:
    """Rotate a camera so that a point currently along `target_dir_cam` appears at `pixel`."""
    ray = np.array([(pixel[0] - center[0]) / focal, (pixel[1] - center[1]) / focal, 1.0])
    return shortest_arc(target_dir_cam, ray) @ rot


def roll(rot: np.ndarray, angle: float) -> np.ndarray:
    return rotvec_to_rotmat(np.array([0.0, 0.0, angle])) @ rot


def sample_frame_size(rng: np.random.Generator) -> tuple[int, int]:
    w = np.array([s[2] for s in FRAME_SIZES])
    k = rng.choice(len(FRAME_SIZES), p=w / w.sum())
    return FRAME_SIZES[k][0], FRAME_SIZES[k][1]


def sample_focal(rng: np.random.Generator, width: int, height: int) -> float:
    hfov = math.radians(rng.uniform(40.0, 78.0))  # along the longer side
    return 0.5 * max(width, height) / math.tan(hfov / 2.0)


def sample_camera_height(rng: np.random.Generator) -> float:
    u = rng.random()
    if u < 0.7:
        return float(np.clip(rng.normal(1.35, 0.3), 0.5, 2.2))
    if u < 0.9:
        return float(rng.uniform(2.2, 4.5))  # raised: stands, balconies, surveillance
    return float(rng.uniform(0.15, 0.5))  # low: on the ground, children's eye level


def sample_betas(rng: np.random.Generator, heldout: bool = False) -> np.ndarray:
    """Shapes spread like Anny's phenotypes: anny24's PCA betas are ~N(0, 1) over Anny's
    phenotype distribution (children to elders, thin to heavy); a few draws widen the first
    components to cover the extremes."""
    b = rng.normal(0.0, 1.0, 10)
    if not heldout and rng.random() < 0.15:
        b[:3] *= rng.uniform(1.2, 1.6)
    return np.clip(b, -3.5, 3.5)


@dataclass(frozen=True)
class RaisedCameras:
    """Opt-in camera-pitch widening (issue 24: real rigs look down 24-35 degrees, and the
    default heights of `sample_camera_height` give mostly near-level views). With probability
    `p` the camera height is set so that it looks down at the body centre by a pitch drawn
    uniformly in `pitch_deg` (degrees below horizontal); otherwise `sample_camera_height`."""

    p: float = 0.5
    pitch_deg: tuple[float, float] = (10.0, 45.0)


def camera_pitch_deg(eye: np.ndarray, target: np.ndarray) -> float:
    """Degrees the line eye -> target points below the horizontal (y up)."""
    d = np.asarray(target, float) - np.asarray(eye, float)
    return float(math.degrees(math.atan2(-d[1], math.hypot(d[0], d[2]))))


def place_camera(rng: np.random.Generator, body_center: np.ndarray, body_height: float,
                 width: int, height: int, distance: float | None = None,
                 outside_p: float = 0.1, raised: RaisedCameras | None = None) -> FrameCamera:
    """A camera looking at a body centred at `body_center` (world), from a random azimuth,
    distance and height, with the body at a random place in the frame (fully inside it, except
    with probability `outside_p`, when it may reach past the border) and a small roll.
    `raised` (default None: unchanged behaviour and random stream) widens the pitch range."""
    focal = sample_focal(rng, width, height)
    short = min(width, height)
    if distance is None:
        # Distance so that the person fills 20-85% of the shorter frame side, kept >= 1.6 m.
        frac = rng.uniform(0.2, 0.85)
        distance = max(1.6, focal * body_height / (frac * short))
    frac = focal * body_height / (distance * short)
    azimuth = rng.uniform(0, 2 * np.pi)
    if raised is not None and rng.random() < raised.p:
        pitch = math.radians(rng.uniform(*raised.pitch_deg))
        cam_h = float(body_center[1] + distance * math.tan(pitch))
    else:
        cam_h = sample_camera_height(rng)
    eye = body_center + np.array([distance * np.sin(azimuth), 0.0, distance * np.cos(azimuth)])
    eye[1] = cam_h
    rot = look_at(eye, body_center)
    rot = roll(rot, float(np.clip(rng.normal(0.0, math.radians(3.0)), -0.15, 0.15)))
    # Room left for the person's box (~1.2 x its size) to move without leaving the frame.
    side = 1.2 * frac * short
    room_x = max(0.0, (width - side) / 2)
    room_y = max(0.0, (height - side) / 2)
    if rng.random() < outside_p:
        room_x += 0.4 * side
        room_y += 0.4 * side
    px = width / 2 + rng.uniform(-1, 1) * room_x
    py = height / 2 + rng.uniform(-1, 1) * room_y
    d_cam = rot @ (body_center - eye)
    rot = aim(rot, d_cam / np.linalg.norm(d_cam), (px, py), focal, (width / 2, height / 2))
    return FrameCamera(width, height, focal, rot, -rot @ eye)


def crop_box(rng: np.random.Generator, bbox: np.ndarray, policy: CropPolicy,
             truncate: bool | None = None, scale: float | None = None,
             shift: np.ndarray | None = None, jitter: float | None = None) -> np.ndarray:
    """Square crop box (x0, y0, side) around a person's bbox (x0, y0, x1, y1) in pixels.

    Single crops draw everything here. A sequence fixes `scale` and `shift` (a truncating box's
    offset, as a fraction of the side) for all its frames and uses a smaller per-frame `jitter`,
    like a tracker's boxes: steady framing that wobbles a little.
    """
    cx, cy = 0.5 * (bbox[0] + bbox[2]), 0.5 * (bbox[1] + bbox[3])
    size = max(bbox[2] - bbox[0], bbox[3] - bbox[1], 1.0)
    if truncate is None:
        truncate = rng.random() < policy.truncation_p
    if scale is None:
        scale = rng.uniform(*(policy.truncation_scale if truncate else policy.scale))
    if shift is None:
        shift = rng.uniform(-1, 1, 2) * policy.truncation_shift if truncate else np.zeros(2)
    side = size * scale
    sigma = policy.jitter if jitter is None else jitter
    cx += (rng.normal(0, sigma) + shift[0]) * side
    cy += (rng.normal(0, sigma) + shift[1]) * side
    return np.array([cx - side / 2, cy - side / 2, side])


@dataclass
class Lighting:
    lights: list[Light]
    ambient: float
    roughness: float


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A key light from roughly the camera side, a weaker fill, sometimes a rim light."""
    def direction(spread: float, towards_scene: float) -> tuple[float, float, float]:
        d = np.array([rng.normal(0, spread), rng.uniform(-0.2, 1.0), towards_scene])
        d /= np.linalg.norm(d)
        return tuple(d)

    warm = rng.uniform(-0.12, 0.12)
    colour = (1.0 + warm, 1.0, 1.0 - warm)
    lights = [
        Light(direction(0.8, 1.0), float(rng.uniform(1.6, 4.5)), colour),
        Light(direction(1.2, 0.7), float(rng.uniform(0.3, 1.6)), (1.0, 1.0, 1.0)),
    ]
    if rng.random() < 0.3:
        lights.append(Light(direction(0.8, -0.8), float(rng.uniform(0.5, 2.5)), (1.0, 1.0, 1.0)))
    return Lighting(lights, ambient=float(rng.uniform(0.15, 0.5)),
                    roughness=float(rng.uniform(0.5, 1.0)))


@dataclass
class Occluder:
    """A flat object in front of the person, in frame pixels (polygon vertices)."""

    polygon: np.ndarray  # (K, 2) frame pixels
    color: np.ndarray  # (3,) 0-255
    texture_seed: int  # picks a textured fill (photo or procedural) when >= 0
    shade: float = field(default=1.0)


def sample_occluders(rng: np.random.Generator, box: np.ndarray, p: float = 0.3,
                     max_count: int = 2) -> list[Occluder]:
    """0-2 occluders overlapping a crop box (x0, y0, side): bars, boxes, blobs."""
    out: list[Occluder] = []
    if rng.random() >= p:
        return out
    x0, y0, side = box
    for _ in range(int(rng.integers(1, max_count + 1))):
        cx = x0 + side * rng.uniform(0.15, 0.85)
        cy = y0 + side * rng.uniform(0.2, 0.95)
        kind = rng.integers(3)
        if kind == 0:  # rectangle (a box, a sign, a car door), possibly rotated
            w, h = side * rng.uniform(0.15, 0.5), side * rng.uniform(0.15, 0.5)
            pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        elif kind == 1:  # bar (a pole, a railing)
            w, h = side * rng.uniform(0.04, 0.12), side * rng.uniform(0.6, 1.5)
            pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        else:  # blob (a bush, a bag)
            k = int(rng.integers(6, 12))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            r = side * rng.uniform(0.08, 0.25) * rng.uniform(0.7, 1.3, k)
            pts = np.stack([r * np.cos(ang), r * np.sin(ang)], 1)
        a = rng.uniform(-0.6, 0.6) if kind != 1 else rng.normal(0, 0.15)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        poly = pts @ rot.T + np.array([cx, cy])
        out.append(Occluder(poly, rng.uniform(20, 235, 3),
                            int(rng.integers(0, 2**31)) if rng.random() < 0.6 else -1,
                            float(rng.uniform(0.6, 1.1))))
    return out
