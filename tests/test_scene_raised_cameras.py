"""The opt-in raised-camera option of meshvid.synth.scene.place_camera (issue 24)."""

import numpy as np

from meshvid.synth.scene import RaisedCameras, camera_pitch_deg, place_camera


def _eye(cam):
    return -cam.R.T @ cam.t


def test_default_is_unchanged_by_the_option():
    center = np.array([0.0, 0.9, 0.0])
    a = place_camera(np.random.default_rng(3), center, 1.8, 640, 480)
    b = place_camera(np.random.default_rng(3), center, 1.8, 640, 480, raised=None)
    assert np.allclose(a.R, b.R) and np.allclose(a.t, b.t) and a.focal == b.focal


def test_raised_cameras_look_down_by_the_drawn_pitch():
    center = np.array([0.0, 0.9, 0.0])
    rng = np.random.default_rng(0)
    pitches = [camera_pitch_deg(_eye(place_camera(rng, center, 1.8, 640, 480,
                                                  raised=RaisedCameras(1.0, (24.0, 35.0)))), center)
               for _ in range(50)]
    assert min(pitches) >= 24.0 - 1e-6 and max(pitches) <= 35.0 + 1e-6
    level = [camera_pitch_deg(_eye(place_camera(rng, center, 1.8, 640, 480)), center) for _ in range(200)]
    assert np.mean(np.array(level) > 24.0) < 0.3  # the default mostly looks level
