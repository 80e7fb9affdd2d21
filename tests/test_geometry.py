import math

import torch

from meshvid.geometry import camera, rotations
from meshvid.geometry.procrustes import procrustes_align


def test_rotation_round_trips():
    torch.manual_seed(0)
    rotvec = torch.nn.functional.normalize(torch.randn(100, 3), dim=1) * torch.rand(100, 1) * 3.0
    mat = rotations.axis_angle_to_matrix(rotvec)
    assert torch.allclose(rotations.matrix_to_axis_angle(mat), rotvec, atol=1e-5)
    assert torch.allclose(rotations.sixd_to_matrix(rotations.matrix_to_sixd(mat)), mat, atol=1e-5)
    q = rotations.matrix_to_quaternion_wxyz(mat)
    assert torch.allclose(rotations.quaternion_wxyz_to_matrix(q), mat, atol=1e-5)


def test_sixd_is_first_two_columns_and_gram_schmidt_projects():
    mat = rotations.axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]]))
    sixd = rotations.matrix_to_sixd(mat)
    assert torch.allclose(sixd[0, :3], mat[0, :, 0])
    assert torch.allclose(sixd[0, 3:], mat[0, :, 1])
    noisy = rotations.sixd_to_matrix(sixd * 3.0 + 0.01)
    eye = noisy @ noisy.transpose(-1, -2)
    assert torch.allclose(eye, torch.eye(3).expand_as(eye), atol=1e-5)
    assert rotations.geodesic_angle(noisy, mat).item() < 0.02


def test_weak_perspective_matches_perspective_for_distant_body():
    torch.manual_seed(1)
    points = torch.randn(1, 20, 3) * 0.3  # a body-sized cloud around the root
    focal, crop = 500.0, 224.0
    cam = torch.tensor([[0.8, 0.05, -0.1]])
    transl = camera.weak_to_perspective_translation(cam, focal, crop)
    # far away relative to the body's depth, perspective and weak perspective agree
    weak = camera.project_weak_perspective(points * 0.01, cam)
    persp_px = camera.project_perspective(points * 0.01 + transl[:, None], focal,
                                          torch.tensor([crop / 2, crop / 2]))
    persp = camera.pixels_to_crop_normalised(persp_px, crop)
    assert torch.allclose(weak, persp, atol=1e-3)
    # the inverse conversion recovers the camera
    assert torch.allclose(camera.perspective_to_weak_cam(transl, focal, crop), cam, atol=1e-6)


def test_crop_to_frame_translation_puts_root_at_box_centre():
    cam = torch.tensor([[1.1, 0.0, 0.0]])
    box_center = torch.tensor([[900.0, 300.0]])
    box_size = torch.tensor([400.0])
    focal, size = 1200.0, (1600, 900)
    t = camera.crop_cam_to_frame_translation(cam, box_center, box_size, focal, size)
    px = camera.project_perspective(t[:, None], focal, torch.tensor([800.0, 450.0]))
    assert torch.allclose(px[0, 0], box_center[0], atol=1e-3)
    # the projected size of a 1 m object equals s * box_size / 2 pixels, as in the crop
    top = camera.project_perspective((t + torch.tensor([0.0, 1.0, 0.0]))[:, None], focal,
                                     torch.tensor([800.0, 450.0]))
    assert math.isclose(float(top[0, 0, 1] - px[0, 0, 1]), 1.1 * 400 / 2, rel_tol=1e-4)


def test_crop_normalised_round_trip():
    pts = torch.tensor([[0.0, 0.0], [224.0, 112.0]])
    n = camera.pixels_to_crop_normalised(pts, 224)
    assert torch.allclose(n, torch.tensor([[-1.0, -1.0], [1.0, 0.0]]))
    assert torch.allclose(camera.crop_normalised_to_pixels(n, 224), pts)


def test_default_focal_length_has_the_documented_fov():
    f = camera.default_focal_length(1920, 1080)
    fov = 2 * math.degrees(math.atan(960 / f))
    assert math.isclose(fov, camera.DEFAULT_FOV_DEG, rel_tol=1e-9)


def test_procrustes_recovers_similarity_and_rejects_reflection():
    torch.manual_seed(2)
    target = torch.randn(3, 14, 3)
    rot = rotations.axis_angle_to_matrix(torch.randn(3, 3))
    source = 0.7 * target @ rot.transpose(1, 2) + torch.randn(3, 1, 3)
    assert torch.allclose(procrustes_align(source, target), target, atol=1e-5)
    # a mirrored copy cannot be aligned perfectly by a proper rotation
    mirrored = target * torch.tensor([-1.0, 1.0, 1.0])
    err = (procrustes_align(mirrored, target) - target).norm(dim=-1).mean()
    assert err > 0.1


def test_crop_ray_rotation_turns_the_optical_axis_onto_the_crop_ray():
    import math

    import torch

    from meshvid.geometry.camera import crop_ray_rotation

    centres = torch.tensor([[320.0, 240.0], [320.0, 240.0 + 230.0], [100.0, 50.0]])
    R = crop_ray_rotation(centres, 1020.0, (640, 480))
    assert torch.allclose(R[0], torch.eye(3), atol=1e-6)  # the image centre: no turn
    for r, c in zip(R, centres):
        ray = torch.tensor([(c[0] - 320) / 1020, (c[1] - 240) / 1020, 1.0])
        assert torch.allclose(r @ torch.tensor([0.0, 0.0, 1.0]), ray / ray.norm(), atol=1e-6)
        assert torch.allclose(r @ r.T, torch.eye(3), atol=1e-6)
    # 230 px below the centre at f = 1020: 12.7 degrees about the x axis, nothing else
    angle = math.degrees(math.acos(float(R[1][2, 2])))
    assert abs(angle - math.degrees(math.atan(230 / 1020))) < 1e-3
    assert abs(float(R[1][0, 1])) < 1e-6 and abs(float(R[1][0, 2])) < 1e-6
