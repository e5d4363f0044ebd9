"""Lid-eye coordination: the upper lid follows the eye joints' pitch (head/lid_follow.py)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.head.model import Joint

UPPER, LOWER, IRIS = (159, 386), (145, 374), (468, 473)  # right, left eye (mediapipe indices)


def _landmarks(head, pitch=0.0, **weights):
    expr = np.zeros((1, head.num_expression), np.float32)
    for name, w in weights.items():
        expr[0, head.expression_index(name)] = w
    pose = np.zeros((1, 5, 3), np.float32)
    pose[0, Joint.EYE_LEFT:, 0] = pitch
    return head.forward(None, expr, pose).landmarks[0]


def _dy(head, pitch, **weights):
    """(upper lid, iris) y moves (IOD units, y up) of both eyes for an eye pitch (rad), vs pitch 0."""
    a, b = _landmarks(head, 0.0, **weights), _landmarks(head, pitch, **weights)
    iod = float(np.linalg.norm(a[33] - a[263]))
    return (b[list(UPPER), 1] - a[list(UPPER), 1]) / iod, (b[list(IRIS), 1] - a[list(IRIS), 1]) / iod


def test_upper_lid_follows_a_downward_eye_pitch_by_most_of_the_iris_move(builtin_head):
    lid, iris = _dy(builtin_head, 0.12)  # +pitch looks down (the iris moves down, y up)
    assert np.all(iris < -0.01)
    assert np.all(lid < 0.6 * iris) and np.all(lid > 1.05 * iris), (lid, iris)


def test_upper_lid_rises_less_with_an_upward_eye_pitch(builtin_head):
    lid, iris = _dy(builtin_head, -0.1)
    down, down_iris = _dy(builtin_head, 0.1)
    assert np.all(iris > 0.01)
    assert np.all(lid > 0.15 * iris) and np.all(lid / iris < 0.8 * down / down_iris), (lid, iris)
    # the lower lid stays (it would narrow the eye)
    a, b = _landmarks(builtin_head, 0.0), _landmarks(builtin_head, -0.1)
    assert np.abs(b[list(LOWER), 1] - a[list(LOWER), 1]).max() < 0.2 * np.abs(iris).min() * np.linalg.norm(
        a[33] - a[263])


def test_pitch_zero_and_yaw_change_nothing_of_the_lids(builtin_head):
    rest = _landmarks(builtin_head)
    # no jump at pitch 0: a tiny pitch moves the lids by a tiny amount (the follow is continuous there)
    lid, _ = _dy(builtin_head, 1e-4)
    assert np.abs(lid).max() < 1e-4, lid
    pose = np.zeros((1, 5, 3), np.float32)
    pose[0, Joint.EYE_LEFT:, 1] = 0.2
    yawed = builtin_head.forward(None, None, pose).landmarks[0]
    assert np.array_equal(yawed[list(UPPER + LOWER)], rest[list(UPPER + LOWER)])


@pytest.mark.parametrize("pitch", [0.1, -0.1])
def test_a_closed_blink_stays_closed_when_the_eyes_look_down_or_up(builtin_head, pitch):
    blink = {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}
    a, b = _landmarks(builtin_head, 0.0, **blink), _landmarks(builtin_head, pitch, **blink)
    assert np.allclose(a[list(UPPER)], b[list(UPPER)], atol=1e-7)


def test_downcast_eyes_of_an_emotion_are_not_lowered_past_the_shape(builtin_head):
    # sadness' eyeLookDown at full weight already lowers the lid as far as the shape goes: a look down adds none
    full = {"eyeLookDownLeft": 1.0, "eyeLookDownRight": 1.0}
    lid, _ = _dy(builtin_head, 0.1, **full)
    assert np.abs(lid).max() < 1e-6
    half = {"eyeLookDownLeft": 0.5, "eyeLookDownRight": 0.5}
    lid, _ = _dy(builtin_head, 0.1, **half)
    assert np.all(lid < -0.005)
