"""Intensity reads stronger as it rises: 1.5 is a stronger 1.0, never drawn back by the fold repair or the head."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.animate.compose import Composition, compose
from emodiffhead.animate.emotion_vectors import (emotion_above, emotion_above_arkit, emotion_basis, emotion_basis_arkit,
                                                 emotion_response)
from emodiffhead.emotion import EMOTIONS
from emodiffhead.render.unfold import LIFT, MIN_AREA_RATIO, Unfolder, signed_area

LEVELS = np.round(np.arange(0.0, 1.51, 0.25), 2)


def _axes(L):
    ex = L[263, :2] - L[33, :2]
    iod = float(np.hypot(*ex))
    ex = ex / iod
    return ex, np.array([ex[1], -ex[0]]), iod  # eye line, up in the image (y down), inter-ocular distance


def brow_gap(L) -> float:
    """Inner brow heads' distance along the eye line, IOD (AU4 knits them)."""
    ex, _, iod = _axes(L)
    return float((L[336, :2] - L[107, :2]) @ ex) / iod


def smile(L) -> tuple[float, float]:
    """(corner height above the outer lips' middle, mouth width), IOD (AU12 raises and widens)."""
    ex, up, iod = _axes(L)
    mid = (L[0, :2] + L[17, :2]) / 2
    lift = float(np.mean([(L[i, :2] - mid) @ up for i in (61, 291)])) / iod
    return lift, float(np.hypot(*(L[291, :2] - L[61, :2]))) / iod


def _drawn(renderer, head, emotion):
    from emodiffhead.track import Track

    w = np.zeros((len(LEVELS), len(EMOTIONS)), np.float32)
    w[:, EMOTIONS.index(emotion)] = LEVELS
    tr = Track.neutral(len(LEVELS), 25.0, head.name, head.expression_names)
    tr.expression[:] = emotion_response(w, emotion_basis(head), emotion_above(head))  # as the animator renders it
    lm = renderer.drive(tr).landmarks
    return [renderer.frame_landmarks(lm[k]) for k in range(len(LEVELS))]  # as the warp draws them


def _grows(series, sign):
    s = sign * (np.asarray(series) - series[0])
    return np.all(np.diff(s) > 0), s


#: How far (IOD) one 0.25 step of the knit may fall back: the fold repair saturates there (anger's knit grows 0.002 IOD
#: from 1.25 to 1.5), and its iteration count, which sets how much of the step it takes back, follows the fit's last
#: digits (a 1e-5 change of the fitted shape moved anger's 1.5 knit by 0.007 IOD either way); the old repair undid
#: several times this. Still needed with the response above 1 (anger's brows grow linearly there: its 1.25 -> 1.5
#: step is -0.0068 IOD, disgust's +0.025).
KNIT_STEP_NOISE = 0.01


def test_knit_brows_keep_knitting_up_to_1_5(warp_renderer, builtin_head):
    # anger lowers and draws the brows together; the fold repair between them used to undo part of the knit at
    # 1.25-1.5 (it restored compressed triangles fully): now each 0.25 step knits further, up to the repair's noise
    # where it saturates, and 1.5 more than 1.0
    for emotion in ("angry", "disgusted"):
        _, s = _grows([brow_gap(L) for L in _drawn(warp_renderer, builtin_head, emotion)], -1)
        assert np.all(np.diff(s) > -KNIT_STEP_NOISE) and s[-1] > s[-3], (emotion, np.round(s, 3))


def test_a_broad_smile_keeps_rising_and_widening_up_to_1_5(warp_renderer, builtin_head):
    frames = _drawn(warp_renderer, builtin_head, "happy")
    lift, width = zip(*(smile(L) for L in frames))
    ok_l, s_l = _grows(lift, 1)
    ok_w, s_w = _grows(width, 1)
    assert ok_l and ok_w, (np.round(s_l, 3), np.round(s_w, 3))


def test_unfolder_saturates_compressed_skin_instead_of_restoring_it():
    # a row of cells squeezed from the right: the squeezed cells end on their area floor and stay squeezed as the
    # push grows (the old repair moved them rigidly back to their photo shape, so the push was taken back)
    xs = np.arange(6) * 10.0
    src = np.array([[x, y] for y in (0.0, 10.0) for x in xs])
    n = len(xs)
    tris = np.array([t for i in range(n - 1) for t in ([i, i + 1, n + i], [i + 1, n + i + 1, n + i])])
    u = Unfolder(src, tris)
    widths = []
    for push in np.linspace(0, 9.5, 20):
        p = src.copy()
        p[[2, n + 2], 0] -= push  # the third column pushed left, onto the second
        fixed = u(p).astype(np.float64)
        a = signed_area(fixed, tris) / signed_area(src, tris)
        assert a.min() >= MIN_AREA_RATIO - 1e-6  # no fold, no crushed cell
        widths.append(fixed[2, 0] - fixed[0, 0])  # the two squeezed cells together
    # the only step back allowed: a cell reaching its floor is lifted by the margin LIFT above it, once
    assert np.all(np.diff(widths) <= (LIFT - 1) * MIN_AREA_RATIO * widths[0]), np.round(widths, 2)
    assert widths[-1] < 0.7 * widths[0]  # the squeeze holds near the floor (the old repair: 0.76), not undone


def _composed(emotion: str, levels: tuple[float, ...], above: bool = True) -> Composition:
    """The composition of ``emotion`` alone at each of ``levels`` (one frame each, no speech), with the response
    above intensity 1 (``above=False``: linear, as tracks written before it)."""
    basis = emotion_basis_arkit()
    inten = np.zeros((len(levels), len(EMOTIONS)), np.float32)
    inten[:, EMOTIONS.index(emotion)] = levels
    return compose(np.zeros((len(levels), basis.shape[1]), np.float32), inten, basis,
                   above_arkit=emotion_above_arkit() if above else None)


def test_sad_lids_gaze_and_lip_corners_hold_at_intensity_1_while_brows_and_chin_grow():
    from emodiffhead.facs import ARKIT_INDEX

    f = _composed("sad", (1.0, 1.5)).final
    # the eyes stay visible (no sleepy face at 1.5); the corners keep the posed frown's depression (deepened under
    # the rising chin raiser the mouth became a cartoon's arch)
    for name in ("eyeBlinkLeft", "eyeLookDownRight", "mouthFrownLeft", "mouthFrownRight"):
        k = ARKIT_INDEX[name]
        assert f[1, k] == pytest.approx(f[0, k], abs=1e-6) and f[0, k] > 0, name
    for name in ("browInnerUp", "browDownLeft", "mouthShrugLower"):
        assert f[1, ARKIT_INDEX[name]] > 1.4 * f[0, ARKIT_INDEX[name]], name


def test_builtin_upper_lip_raiser_spares_the_mouth_corners(builtin_head):
    # AU10 lifts the upper lip, not the corners (that is AU12): the corners rise at most a fifth of the lip's
    # peak (the raw target lifted them a third to a half of it, and bared teeth curved into a grin)
    lm0 = builtin_head.forward().landmarks[0]
    upper = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
    for side, corners in (("Right", (61, 78)), ("Left", (291, 308))):
        e = np.zeros((1, builtin_head.num_expression), np.float32)
        e[0, builtin_head.expression_index(f"mouthUpperUp{side}")] = 1.0
        dy = builtin_head.forward(expression=e).landmarks[0][:, 1] - lm0[:, 1]  # y up in the head's frame
        peak = dy[upper].max()
        assert peak > 0 and max(dy[list(corners)]) < 0.2 * peak, (side, dy[list(corners)], peak)


def test_a_stronger_smile_pulls_the_corners_further_without_opening_the_mouth_further():
    # above intensity 1 happy's lip parting and jaw drop (AU25, AU26) hold: the 1.5 smile is wider and higher, not
    # an open "ha"; only the lower lip's depressor (AU16) goes on with the smile; the linear response (no above-1
    # term) still opens them
    from emodiffhead.facs import ARKIT_INDEX, EMOTION_PROTOTYPES, JAW_OPEN

    c = _composed("happy", (1.0, 1.5))
    assert c.emotion_jaw[1] == pytest.approx(c.emotion_jaw[0], abs=1e-6) and c.emotion_jaw[0] > 0
    assert c.final[1, ARKIT_INDEX["mouthUpperUpRight"]] == pytest.approx(c.final[0, ARKIT_INDEX["mouthUpperUpRight"]],
                                                                         abs=1e-6)
    lower = c.final[:, ARKIT_INDEX["mouthLowerDownLeft"]]  # AU16 is mouthLowerDown at 1 per unit
    assert lower[1] - lower[0] == pytest.approx(0.5 * EMOTION_PROTOTYPES["happy"]["16"], abs=1e-5)
    for name in ("mouthSmileLeft", "cheekSquintRight"):
        assert c.final[1, ARKIT_INDEX[name]] == pytest.approx(1.5 * c.final[0, ARKIT_INDEX[name]], rel=1e-5), name
    linear = _composed("happy", (1.0, 1.5), above=False)
    assert linear.final[1, JAW_OPEN] > 1.4 * linear.final[0, JAW_OPEN]


def test_fear_above_1_stretches_the_lips_without_dropping_the_jaw_into_a_surprise():
    from emodiffhead.facs import ARKIT_INDEX

    c = _composed("fearful", (1.0, 1.5))
    assert c.emotion_jaw[1] == pytest.approx(c.emotion_jaw[0], abs=1e-6) and c.emotion_jaw[0] > 0
    for name in ("mouthStretchLeft", "browInnerUp", "eyeWideRight"):
        assert c.final[1, ARKIT_INDEX[name]] == pytest.approx(1.5 * c.final[0, ARKIT_INDEX[name]], rel=1e-5), name


def test_a_stronger_anger_draws_the_lip_corners_down_instead_of_widening_into_a_grin():
    from emodiffhead.facs import ARKIT_INDEX

    f = _composed("angry", (0.5, 1.0, 1.5)).final
    frown = f[:, ARKIT_INDEX["mouthFrownLeft"]]
    assert frown[0] == frown[1] == 0 and frown[2] > 0.1  # recruited only past the posed level
    for name in ("browDownLeft", "mouthUpperUpRight", "eyeSquintLeft"):  # the rest keeps growing linearly
        assert f[2, ARKIT_INDEX[name]] == pytest.approx(1.5 * f[1, ARKIT_INDEX[name]], rel=1e-5), name
