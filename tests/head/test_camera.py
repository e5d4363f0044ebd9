"""Cameras: projection conventions (orthographic and perspective) and orbiting views."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.head.camera import Camera, rotation_yaw_pitch


def test_camera_front_projection_conventions():
    cam = Camera(translation=np.array([0.0, 0.0, 1.0]), focal=100.0, principal=(50.0, 50.0), orthographic=True)
    # subject's left (+x) appears on the image right, up (+y) appears higher (smaller row), +z is nearer
    p = cam.project(np.array([[0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 0.1]]))
    np.testing.assert_allclose(p[0], [60.0, 50.0, 1.0])
    np.testing.assert_allclose(p[1], [50.0, 40.0, 1.0])
    assert p[2, 2] < p[0, 2]
    persp = Camera(translation=np.array([0.0, 0.0, 2.0]), focal=100.0, principal=(50.0, 50.0), orthographic=False)
    np.testing.assert_allclose(persp.project(np.array([[0.2, 0.0, 0.0]]))[0, :2], [60.0, 50.0])


def test_yaw_90_sees_the_left_side():
    R = rotation_yaw_pitch(90.0)
    # the camera looks along -x: the subject's left (+x) points toward the camera (negative camera z)
    assert (R @ np.array([1.0, 0, 0]))[2] == pytest.approx(-1.0)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
