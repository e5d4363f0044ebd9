"""Closing an open-mouthed photo as a jaw closes it: lip thickness from the pixels, lips unrolled onto a meeting
line, chin with the jaw (render/open_mouth.py), and the closed mouth as a face detector sees it."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.face import facemesh_topology as topo
from emodiffhead.render.open_mouth import (LOWER_LIP_RANGE, MAX_LIP_LINE_CURVE, closed_lip_thickness,
                                           closing_displacement, lower_lip_thickness, meeting_line, smooth_resample)


def _centre_thickness(t: np.ndarray) -> float:
    k = len(t)
    return float(np.median(t[k // 3: k - k // 3]))


def test_lower_lip_thickness_is_read_from_the_lip_not_the_landmarks(open_mouthed):
    r, photo, lm = open_mouthed(lip_px=6.0)  # outer landmarks 3 px inside the lip
    up, lo = topo.mouth_lines()
    t = lower_lip_thickness(photo, lm, up, lo)
    assert t[0] == t[-1] == 0.0
    assert 5.0 <= _centre_thickness(t) <= 7.5  # the painted 6 px, not the landmarks' 3
    grey = np.repeat(photo.astype(np.float32).mean(2, keepdims=True), 3, 2).astype(np.uint8)
    assert 2.0 <= _centre_thickness(lower_lip_thickness(grey, lm, up, lo)) <= 3.5  # no colour: the landmarks


def test_closed_lip_thickness_is_bounded_and_tapers_into_the_corners():
    arc = np.linspace(0, 1, 11)
    t = closed_lip_thickness(np.full(11, 40.0), arc, 100.0)
    assert t[5] == pytest.approx(LOWER_LIP_RANGE[1] * 100.0)  # a tongue taken for lip is clipped
    assert t[0] == t[-1] == 0.0 and t[1] < t[3] < t[5]
    assert closed_lip_thickness(np.full(11, 2.0), arc, 100.0)[5] == pytest.approx(LOWER_LIP_RANGE[0] * 100.0)
    assert closed_lip_thickness(np.full(11, 12.0), arc, 100.0, stretch=1.5)[5] == pytest.approx(18.0)  # same area


def test_meeting_line_flattens_an_arched_open_mouth_around_its_middle():
    u = np.linspace(0, 1, 11)
    arch = np.stack([100 + 60 * u, 200 - 25 * np.sin(np.pi * u)], 1)  # an O's upper lip: 0.42 widths high
    meet = meeting_line(arch, arch)
    assert np.allclose(meet[5], arch[5], atol=1e-6)  # the middle stays, the corners rise
    assert np.allclose(meet[[0, -1], 0], arch[[0, -1], 0])
    sag = meet[0, 1] - meet[5, 1]
    assert 0 < sag <= MAX_LIP_LINE_CURVE * 60 + 1e-6
    straight = np.stack([100 + 60 * u, np.full(11, 200.0)], 1)
    assert np.allclose(meeting_line(straight, straight)[:, 1], 200.0)


def test_smooth_resample_keeps_ends_and_removes_a_kink():
    v = np.stack([np.linspace(0, 40, 9), np.r_[0, 5, 10, 15, 20, 15, 10, 5, 0.0]], 1)  # a V
    s = smooth_resample(v)
    assert np.allclose(s[[0, -1]], v[[0, -1]])
    assert s[:, 1].max() < 19.5  # the kink is rounded


def _o_mouth():
    """An O-shaped open mouth: inner lines, a lip ring 4 px outside each, points above and below, a jaw field
    that moves everything below the corners' line up by 30 px."""
    up, lo = topo.mouth_lines()
    K = len(up)
    a = np.linspace(np.pi, 0, K)
    cx, cy, rx = 100.0, 100.0, 20.0
    lm = np.zeros((478, 2))
    lm[:, 0] = cx
    lm[:, 1] = 10.0  # everything else: far above the mouth
    lm[up] = np.stack([cx + rx * np.cos(a), cy - 10 * np.sin(a)], 1)
    lm[lo] = np.stack([cx + rx * np.cos(a), cy + 30 * np.sin(a)], 1)
    lm[up[0]] = lm[lo[0]] = (cx - rx, cy)
    lm[up[-1]] = lm[lo[-1]] = (cx + rx, cy)
    lower_ring = [146, 91, 181, 84, 17, 314, 405, 321, 375]
    lm[lower_ring] = np.stack([cx + rx * np.cos(a[1:-1]) * 1.1, cy + 30 * np.sin(a[1:-1]) + 4], 1)
    upper_ring = [185, 40, 39, 37, 0, 267, 269, 270, 409]
    lm[upper_ring] = np.stack([cx + rx * np.cos(a[1:-1]) * 1.1, cy - 10 * np.sin(a[1:-1]) - 4], 1)
    lm[152] = (cx, cy + 70)  # the chin
    lm[1] = (cx, cy - 40)  # the nose tip
    jaw = np.zeros((478, 2))
    jaw[lm[:, 1] > cy + 1, 1] = -30.0
    return lm, up, lo, lower_ring, jaw


def test_closing_joins_the_lips_keeps_the_lower_lip_and_raises_the_chin():
    lm, up, lo, ring, jaw = _o_mouth()
    thick = np.full(len(lo), 8.0)
    thick[[0, -1]] = 0.0
    meet = meeting_line(lm[up], lm[up])
    d = closing_displacement(lm, up, lo, thick, jaw, meet)
    moved = lm + d
    dense = np.stack([np.interp(np.linspace(0, 10, 201), np.arange(11), meet[:, c]) for c in range(2)], 1)
    off = lambda p: np.min(np.linalg.norm(p[:, None] - dense[None], axis=2), 1)  # noqa: E731
    assert off(moved[up]).max() < 0.5 and off(moved[lo]).max() < 0.5  # both inner lines land on the meeting line
    assert np.abs(d[1]).max() < 1e-6  # the nose does not move
    k = len(lo) // 2
    length = lambda p: float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())  # noqa: E731
    stretch = length(lm[lo]) / length(meet)  # the O's lower lip is this much longer than the closed one
    assert stretch > 1.3
    t_closed = closed_lip_thickness(thick, np.linspace(0, 1, len(lo)), float(np.linalg.norm(meet[-1] - meet[0])),
                                    stretch)
    assert t_closed[k] > 8.0  # it keeps its area: thicker than the stretched open lip (within the range)
    gap = moved[17, 1] - moved[lo[k], 1]  # 4 px below the inner line in the photo, of a lip 8 px thick
    assert gap == pytest.approx(4.0 * t_closed[k] / 8.0, abs=0.6)
    lift = -d[lo[k], 1]
    assert lift > 25  # the lower lip rose by most of the 40 px opening ...
    assert -d[152, 1] == pytest.approx(lift, rel=0.1)  # ... and the chin with it (the jaw scaled to match)


def test_open_mouthed_photo_closes_for_a_face_detector(shared_data, builtin_head, neutral_track):
    """man_open_mouth.jpg: the neutral frame reads as closed lips to mediapipe (inner-lip gap ~0), with a lower
    lip of natural thickness and the chin risen by about the photo's opening."""
    from emodiffhead.face.detect import detect_face
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    r = WarpRenderer()
    fit = r.prepare(load_photo(shared_data / "photos" / "man_open_mouth.jpg"), builtin_head, size=384)
    frame = next(iter(r.frames(neutral_track(1))))
    got = detect_face(frame).landmarks[:, :2]
    photo = fit.landmarks[:, :2]
    iod = float(np.linalg.norm(got[33] - got[263]))
    opening = float(photo[14, 1] - photo[13, 1])
    assert opening / iod > 0.3  # the photo: wide open
    assert (got[14, 1] - got[13, 1]) / iod < 0.02  # the frame: closed (0.046 before: tongue read as mouth)
    width = float(np.linalg.norm(got[61] - got[291]))
    assert 0.08 <= (got[17, 1] - got[14, 1]) / width <= 0.3  # a lower lip, not lip + tongue (0.37 before)
    assert photo[152, 1] - got[152, 1] > 0.35 * opening  # the chin rose with the jaw (0.29 before; 0.40 now)


def test_lip_line_is_drawn_where_the_lips_meet_and_fades_as_they_part():
    from emodiffhead.render.mouth import draw_lip_line

    u = np.linspace(0, 1, 11)
    arch = np.stack([20 + 60 * u, 30 - 8 * np.sin(np.pi * u)], 1)  # a bent (sad) lip line
    img = np.full((60, 100, 3), 150, np.uint8)
    out = draw_lip_line(img.copy(), arch, arch)
    lum = out.astype(np.float32).mean(2)
    assert lum[22, 50] < 0.7 * 150  # dark on the line at the centre ...
    assert lum[27, 50] == 150 and lum[30, 22] > 140  # ... not beside it, faint toward the corners
    cols = np.arange(35, 66)
    depth = (150 - lum[:, cols]).argmax(0)  # the darkest row of each column follows the curve: no stair steps
    want = np.interp(cols, arch[:, 0], arch[:, 1])
    assert np.abs(depth - want).max() <= 1.0
    parted = draw_lip_line(img.copy(), arch, arch + (0, 3.0))
    assert np.array_equal(parted, img)  # 3 px apart: the mouth interior is drawn there, no line


def test_closing_a_smile_leaves_the_eyes_above_its_corners_still():
    """A broad open smile closes onto a narrower meeting line (its corners come in and down). Points far above
    the corners (the eyes) are nearest to the same corner on both lip lines; they must not take the lower lip's
    corner motion (they did by half: the eyes sank with the mouth)."""
    up, lo = topo.mouth_lines()
    K = len(up)
    cx, cy, rx = 100.0, 100.0, 30.0
    x = np.linspace(-rx, rx, K)
    lm = np.zeros((478, 2))
    lm[:, 0], lm[:, 1] = cx, 10.0
    # a smile: both inner lips curve up into raised corners, the lower one deeper (teeth between them)
    lm[up] = np.stack([cx + x, cy - 6.0 + 6.0 * (1 - (x / rx) ** 2)], 1)
    lm[lo] = np.stack([cx + x, cy - 6.0 + 20.0 * (1 - (x / rx) ** 2)], 1)
    lm[up[0]] = lm[lo[0]] = (cx - rx, cy - 6.0)
    lm[up[-1]] = lm[lo[-1]] = (cx + rx, cy - 6.0)
    lower_ring = [146, 91, 181, 84, 17, 314, 405, 321, 375]
    upper_ring = [185, 40, 39, 37, 0, 267, 269, 270, 409]
    xr = np.linspace(-rx, rx, 11)[1:-1] * 1.05
    lm[lower_ring] = np.stack([cx + xr, cy + 2.0 + 20.0 * (1 - (xr / rx) ** 2)], 1)
    lm[upper_ring] = np.stack([cx + xr, cy - 12.0 + 6.0 * (1 - (xr / rx) ** 2)], 1)
    eyes = [33, 133, 263, 362, 159, 386]
    lm[eyes] = [(cx - rx - 5, cy - 70), (cx - rx + 12, cy - 70), (cx + rx + 5, cy - 70), (cx + rx - 12, cy - 70),
                (cx - rx + 3, cy - 78), (cx + rx - 3, cy - 78)]
    meet = np.stack([cx + 0.8 * x, np.full(K, cy)], 1)  # closed: 20 % narrower, corners 6 px lower
    thick = np.full(K, 8.0)
    thick[[0, -1]] = 0.0
    jaw = np.zeros((478, 2))
    jaw[lm[:, 1] > cy + 1, 1] = -20.0
    d = closing_displacement(lm, up, lo, thick, jaw, meet)
    assert np.abs(d[up[0]]).max() > 4.0  # the corners do move in and down ...
    assert np.abs(d[eyes]).max() < 0.05, d[eyes]  # ... the eyes do not
