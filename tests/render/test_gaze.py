"""Gaze in the warp renderer: the irises follow the eye joints; still frames are the warp's own; photos whose
irises cannot be found render without it and say so."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emodiffhead.face import facemesh_topology as topo
from emodiffhead.head.model import Joint


def _gaze_track(head, gazes):
    from emodiffhead.track import Track

    tr = Track.neutral(len(gazes), 25.0, head.name, head.expression_names)
    for k, (pitch, yaw) in enumerate(gazes):
        tr.pose[k, Joint.EYE_LEFT, :2] = tr.pose[k, Joint.EYE_RIGHT, :2] = (pitch, yaw)
    return tr


def _dark_eye_pixels(frame, landmarks, side) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) px of the darkest fifth of the pixels inside the eye opening (the iris and pupil)."""
    import cv2

    up, lo = topo.eye_lines(side)
    poly = np.concatenate([landmarks[up, :2], landmarks[lo[::-1], :2]]).round().astype(np.int32)
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    ys, xs = np.nonzero(mask)
    lum = frame[ys, xs].astype(np.float32).mean(1)
    dark = lum <= np.percentile(lum, 20)
    return xs[dark], ys[dark]


def _iris_centroid(frame, landmarks, side):
    """(2,) centroid (px) of the darkest fifth of the pixels inside the eye opening."""
    xs, ys = _dark_eye_pixels(frame, landmarks, side)
    return np.array([xs.mean(), ys.mean()])


@pytest.fixture(scope="module")
def plain_renderer(warp_renderer, builtin_head):
    from emodiffhead.render.warp_renderer import WarpRenderer

    r = WarpRenderer(gaze=False)
    r.prepare(warp_renderer.photo, builtin_head, fit=warp_renderer.fit)
    return r


def test_irises_are_found_on_the_example_photo(warp_renderer):
    assert warp_renderer.gaze_off_reason == ""
    assert len(warp_renderer._irises) == 2


def test_still_frames_are_the_warps_own(warp_renderer, plain_renderer, neutral_track):
    # the eyes' corners move a little as the photo's expression is taken out; the iris, following them, is
    # blended in by its move's length: a still frame stays the warp's own
    from emodiffhead.diffusion.metrics import ssim

    tr = neutral_track(2)
    for a, b in zip(warp_renderer.frames(tr), plain_renderer.frames(tr)):
        assert ssim(a, b) > 0.999
        changed = (np.abs(a.astype(int) - b.astype(int)).max(2) > 10).mean()
        assert changed < 0.001, changed  # a few pixels of the eyes at most


def test_irises_follow_the_eye_joints(warp_renderer, plain_renderer, builtin_head):
    g = np.radians(15.0)
    tr = _gaze_track(builtin_head, [(0, 0), (0, g), (0, -g), (g, 0)])
    d = warp_renderer.drive(tr)
    frames = list(warp_renderer.frames(tr))
    flat = list(plain_renderer.frames(tr))
    lm = warp_renderer.fit.landmarks
    iod = float(np.linalg.norm(lm[263, :2] - lm[33, :2]))
    for side in ("left", "right"):
        c = [_iris_centroid(f, d.landmarks[k], side) for k, f in enumerate(frames)]
        c0 = [_iris_centroid(f, d.landmarks[k], side) for k, f in enumerate(flat)]
        dx = [(ci - c[0])[0] / iod for ci in c]
        # yaw one way, then the other: the iris moves by several percent of the inter-ocular distance each way
        assert dx[1] * dx[2] < 0 and min(abs(dx[1]), abs(dx[2])) > 0.015, dx
        assert abs((c0[1] - c0[0])[0]) / iod < 0.01  # without gaze the iris stays
        assert (c[3] - c[0])[1] / iod > 0.01  # +pitch looks down


def test_gaze_is_off_with_a_reason_where_no_iris_stands_out(warp_renderer, builtin_head, caplog, neutral_track):
    import cv2

    from emodiffhead.render.warp_renderer import WarpRenderer

    photo = warp_renderer.photo.copy()
    lm = warp_renderer.fit.landmarks
    for side in ("left", "right"):  # eyes painted the colour of the skin (a statue's blank eyes)
        up, lo = topo.eye_lines(side)
        poly = np.concatenate([lm[up, :2], lm[lo[::-1], :2]]).round().astype(np.int32)
        cv2.fillPoly(photo, [poly], tuple(int(v) for v in photo[int(lm[1, 1]), int(lm[1, 0])]))
    r = WarpRenderer()
    with caplog.at_level(logging.WARNING, logger="emodiffhead.render.gaze"):
        r.prepare(photo, builtin_head, fit=warp_renderer.fit)
    assert r._irises == [] and "iris" in r.gaze_off_reason
    assert any("gaze is off" in m for m in caplog.messages)
    frame = next(iter(r.frames(_gaze_track(builtin_head, [(0.0, 0.25)]))))
    assert frame.shape == photo.shape


def _iris_aspect(frame, landmarks, side):
    """Height / width (standard deviations of y and x) of the darkest fifth of the pixels in the eye opening."""
    xs, ys = _dark_eye_pixels(frame, landmarks, side)
    return float(ys.std() / max(xs.std(), 1e-6))


def test_wide_open_lids_uncover_a_round_iris(warp_renderer, plain_renderer, builtin_head):
    # surprise raises the upper lids: the warp alone stretches the iris with the opening into a tall oval; with
    # gaze the iris keeps its shape and the white shows above it
    from emodiffhead.animate.emotion_vectors import emotion_basis
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.track import Track

    tr = Track.neutral(2, 25.0, builtin_head.name, builtin_head.expression_names)
    tr.expression[1] = 1.5 * emotion_basis(builtin_head)[EMOTIONS.index("surprised")]
    d = warp_renderer.drive(tr)
    on, off = list(warp_renderer.frames(tr)), list(plain_renderer.frames(tr))
    for side in ("left", "right"):
        rest = _iris_aspect(on[0], d.landmarks[0], side)
        wide_on = _iris_aspect(on[1], d.landmarks[1], side)
        wide_off = _iris_aspect(off[1], d.landmarks[1], side)
        assert wide_off > 1.15 * rest and wide_on < 0.9 * wide_off, (rest, wide_on, wide_off)


def test_an_opening_lid_leaves_its_shadow_at_the_lid(warp_renderer):
    # the white behind the iris is pasted stretched with the opening: resampled first, so the photo's shadowed
    # band under the lid keeps its width at the lid (stretched, it became a grey cap over a wide eye's iris)
    from dataclasses import replace

    from emodiffhead.render.gaze import uncovered_white

    sp = warp_renderer._irises[0][0]
    h, w = sp.white.shape[:2]
    cy = int(round(sp.centre[1] - sp.origin[1]))
    top = np.full(w, float(cy - 8), np.float32)
    white = np.full((h, w, 3), 200.0, np.float32)
    white[cy - 8:cy - 6] = 60.0  # a 2-row shadow under the lid, 8 rows above the centre
    sp = replace(sp, white=white, lid_top=top)
    assert uncovered_white(sp, 1.0) is white  # not opened: the photo's white as it is
    out = uncovered_white(sp, 2.0)
    dark = (out[: cy, :, 0] < 130).sum(0)
    assert np.all(dark[top < h] == 1)  # pasted 2x stretched: 2 rows at the lid, as in the photo
    assert np.all(out[cy - 7:cy, :, 0] >= 199)  # below it the white beside the centre
    assert np.array_equal(out[cy + 1:], white[cy + 1:])  # under the centre nothing changes


def test_the_iris_sprite_carries_no_white_from_under_the_lids(warp_renderer):
    # the white the sprite carries around its iris stops short of the lids: the band along a lid is in its shadow,
    # which stays with the lid (carried with the iris, it showed as a grey arc over a wide eye's iris)
    import cv2

    from emodiffhead.render.gaze import LID_SHADOW, _opening_mask, find_iris, lid_polygon

    scale = 3  # the example photo at 768 px: irises of about 15 px, a shadow band of 4-5 px
    photo = cv2.resize(warp_renderer.photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    lm = warp_renderer.fit.landmarks.copy()
    lm[:, :2] = (lm[:, :2] + 0.5) * scale - 0.5
    for side in ("left", "right"):
        sp, why = find_iris(photo, lm, side)
        assert sp is not None, why
        h, w = sp.alpha.shape
        opening = _opening_mask(lid_polygon(lm, side), sp.origin, (h, w))
        inside = cv2.distanceTransform((opening > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = np.hypot(xx + sp.origin[0] - sp.centre[0], yy + sp.origin[1] - sp.centre[1]) / sp.radius
        ring = (d > 1.1) & (d < 1.3)
        near_lid = ring & (inside > 2.0) & (inside <= 1.0 + 0.7 * LID_SHADOW * sp.radius)
        away = ring & (inside > 2.0 + LID_SHADOW * sp.radius)
        assert near_lid.sum() > 3 and away.sum() > 3
        assert sp.alpha[near_lid].mean() < 0.6
        assert sp.alpha[away].min() > 0.9  # away from the lids it still carries the white's edge
