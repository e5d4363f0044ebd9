"""Fitting the built-in head to a photo's landmarks."""

from __future__ import annotations

import numpy as np

from emodiffhead.face.detect import detect_face
from emodiffhead.face.fit import fit_head
from emodiffhead.face.image import load_photo


def test_fit_residual_is_small_and_the_projection_lands_on_the_face(example_photo, builtin_head):
    img = load_photo(example_photo)
    det = detect_face(img)
    fit = fit_head(img, builtin_head, det)
    iod = np.linalg.norm(det.landmarks[33, :2] - det.landmarks[263, :2])
    assert fit.residual_px < 0.05 * iod
    assert fit.shape.shape == (builtin_head.num_shape,)
    assert fit.expression.shape == (builtin_head.num_expression,)
    assert fit.pose.shape == (5, 3) and fit.translation.shape == (3,)
    out = builtin_head.forward(fit.shape, fit.expression[None], fit.pose[None], fit.translation[None])
    proj = fit.camera.project(out.landmarks[0])
    assert np.abs(proj[1, :2] - det.landmarks[1, :2]).max() < 0.1 * iod  # nose tip
    # a near-frontal, near-neutral portrait
    assert np.rad2deg(np.abs(fit.pose[0])).max() < 20
    assert fit.expression[builtin_head.expression_index("jawOpen")] < 0.2


def test_open_mouth_photo_is_understood(shared_data, builtin_head):
    jaw = builtin_head.expression_index("jawOpen")
    opened = fit_head(load_photo(shared_data / "photos" / "man_open_mouth.jpg"), builtin_head)
    closed = fit_head(load_photo(shared_data / "photos" / "einstein_1921.jpg"), builtin_head)
    assert opened.expression[jaw] > closed.expression[jaw] + 0.3
