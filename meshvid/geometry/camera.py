"""The one owner of meshvid's camera conventions.

Coordinates
-----------
* Camera space is OpenCV's: x right, y down, z forward (into the scene), metres.
* Image pixels: (u, v) with u right, v down, origin at the top-left pixel's corner.
* Crop-normalised coordinates: a square crop of side `crop_size` pixels maps to [-1, 1]^2,
  x_norm = 2 * u_crop / crop_size - 1 (same for y). Networks see and predict 2D points in these.

Weak-perspective camera (the paper's, eq. 7)
--------------------------------------------
`cam = (s, tx, ty)` projects camera-space 3D points X (root-relative) into crop-normalised
coordinates as  x = s * (X_xy + t). This is HMR/SPIN's parameterisation; the paper writes
J2d = s * Pi(R J3d) + t', which is the same with t' = s * t (R is absorbed in the root
rotation of the pose). Keeping t inside the bracket makes t metric, so it converts directly to
a perspective translation:

    t_z = 2 f / (s * crop_size)     for a focal length f in crop pixels.

`crop_cam_to_frame_translation` does the same conversion for the full frame, so a mesh rendered
with the full frame's intrinsics lands on the person (the CLIFF / 4D-Humans conversion).

Crop orientation
----------------
A network that sees only a crop sees the person along the ray through the crop's centre, not
along the optical axis: it can only know the body's orientation relative to that ray (the
crop's "virtual camera", whose z axis is the ray). `crop_ray_rotation` is the rotation from
that virtual camera to the real one; a root orientation predicted from the crop is
`R_ray @ R_crop` in camera space. For a person 230 px below the centre of a 1,020 px focal
length camera this is 13 degrees of lean (issue 24).
"""

from __future__ import annotations

import math

import torch

# Default focal length when the user gives none: a 55 degree horizontal field of view, typical
# of phone main cameras and webcams.
DEFAULT_FOV_DEG = 55.0


def default_focal_length(image_width: int, image_height: int) -> float:
    """Focal length in pixels for the default field of view along the longer image side."""
    return 0.5 * max(image_width, image_height) / math.tan(math.radians(DEFAULT_FOV_DEG) / 2.0)


def project_weak_perspective(points: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) camera-space points, (B, 3) cam (s, tx, ty) -> (B, N, 2) crop-normalised."""
    s = cam[:, None, 0:1]
    t = cam[:, None, 1:3]
    return s * (points[..., :2] + t)


def project_perspective(
    points: torch.Tensor, focal: torch.Tensor | float, center: torch.Tensor
) -> torch.Tensor:
    """(B, N, 3) camera-space points -> (B, N, 2) pixels for a pinhole camera.

    `focal` is a scalar or (B,) tensor in pixels; `center` is (B, 2) or (2,) in pixels.
    """
    focal_t = torch.as_tensor(focal, dtype=points.dtype, device=points.device)
    if focal_t.ndim == 1:
        focal_t = focal_t[:, None, None]
    z = points[..., 2:3].clamp(min=1e-6)
    return focal_t * points[..., :2] / z + torch.as_tensor(center, dtype=points.dtype,
                                                           device=points.device).reshape(-1, 1, 2)


def weak_to_perspective_translation(
    cam: torch.Tensor, focal: float | torch.Tensor, crop_size: float
) -> torch.Tensor:
    """(B, 3) weak-perspective cam -> (B, 3) camera-space root translation for the crop's camera.

    The crop camera has focal `focal` (crop pixels) and its principal point at the crop centre.
    """
    s, tx, ty = cam.unbind(-1)
    tz = 2.0 * torch.as_tensor(focal, dtype=cam.dtype, device=cam.device) / (
        s.clamp(min=1e-4) * crop_size
    )
    return torch.stack([tx, ty, tz], dim=-1)


def crop_cam_to_frame_translation(
    cam: torch.Tensor,
    box_center: torch.Tensor,
    box_size: torch.Tensor,
    focal: float | torch.Tensor,
    image_size: tuple[int, int],
) -> torch.Tensor:
    """Weak-perspective cam of a crop -> translation in the full frame's perspective camera.

    cam: (B, 3); box_center: (B, 2) pixels in the frame; box_size: (B,) side of the square crop
    in frame pixels; focal: frame focal length in pixels; image_size: (width, height). The
    principal point is the image centre.
    """
    width, height = image_size
    s, tx, ty = cam.unbind(-1)
    sb = s.clamp(min=1e-4) * box_size
    f = torch.as_tensor(focal, dtype=cam.dtype, device=cam.device)
    tz = 2.0 * f / sb
    cx = tx + 2.0 * (box_center[:, 0] - width / 2.0) / sb
    cy = ty + 2.0 * (box_center[:, 1] - height / 2.0) / sb
    return torch.stack([cx, cy, tz], dim=-1)


def crop_ray_rotation(box_center: torch.Tensor, focal: float | torch.Tensor,
                      image_size: tuple[int, int]) -> torch.Tensor:
    """Rotation from each crop's virtual camera (z along the ray through the crop's centre) to
    the frame's camera: the shortest arc taking the optical axis (0, 0, 1) onto the ray.

    Args:
        box_center: (B, 2) crop centres, frame pixels.
        focal: the frame's focal length in pixels.
        image_size: (width, height); the principal point is the image centre.

    Returns:
        (B, 3, 3) rotation matrices (identity for a crop at the image centre).
    """
    width, height = image_size
    f = torch.as_tensor(focal, dtype=box_center.dtype, device=box_center.device)
    ray = torch.stack([(box_center[:, 0] - width / 2.0) / f, (box_center[:, 1] - height / 2.0) / f,
                       torch.ones_like(box_center[:, 0])], dim=-1)
    ray = ray / ray.norm(dim=-1, keepdim=True)
    z = torch.zeros_like(ray)
    z[:, 2] = 1.0
    axis = torch.linalg.cross(z, ray)
    angle = torch.atan2(axis.norm(dim=-1), ray[:, 2])
    rotvec = axis / axis.norm(dim=-1, keepdim=True).clamp(min=1e-12) * angle[:, None]
    from meshvid.geometry.rotations import axis_angle_to_matrix

    return axis_angle_to_matrix(rotvec)


def perspective_to_weak_cam(
    root_translation: torch.Tensor, focal: float | torch.Tensor, crop_size: float
) -> torch.Tensor:
    """Inverse of `weak_to_perspective_translation`: a crop-camera translation -> (s, tx, ty).

    Used to make weak-perspective labels for synthetic crops whose camera is known exactly.
    """
    tx, ty, tz = root_translation.unbind(-1)
    f = torch.as_tensor(focal, dtype=root_translation.dtype, device=root_translation.device)
    s = 2.0 * f / (tz.clamp(min=1e-6) * crop_size)
    return torch.stack([s, tx, ty], dim=-1)


def pixels_to_crop_normalised(points_px: torch.Tensor, crop_size: float) -> torch.Tensor:
    return points_px * (2.0 / crop_size) - 1.0


def crop_normalised_to_pixels(points_norm: torch.Tensor, crop_size: float) -> torch.Tensor:
    return (points_norm + 1.0) * (crop_size / 2.0)
