"""The mouth interior: teeth from the head's geometry, photo colours, soft occlusion, open-mouthed photos."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.face import facemesh_topology as topo
from emodiffhead.render.mouth import (LIPS_OUTER_LOWER, LIPS_OUTER_UPPER, LIPS_RELAX_MM, LOWER_DISPLAY_MM,
                                      OVERBITE_MM, SKULL, FrameTeeth, _tooth_rows, close_rest_gap, closed_mouth_source,
                                      corner_overlap, draw_mouth, mouth_is_open, mouth_style, place_teeth)


def test_teeth_geometry_in_the_photo(warp_renderer):
    g = warp_renderer.teeth
    lm = warp_renderer.fit.landmarks[:, :2]
    up, lo = topo.mouth_lines()
    width = float(np.linalg.norm(lm[up[-1]] - lm[up[0]]))
    line_y = float((lm[up[len(up) // 2], 1] + lm[lo[len(lo) // 2], 1]) / 2)
    # the upper incisal edge hangs a few mm below the closed lips, the lower edge behind it (overbite)
    mid_up = float(np.interp(lm[up, 0].mean(), g.upper_edge[:, 0], g.upper_edge[:, 1]))
    assert 0 < mid_up - line_y < 0.25 * width
    assert g.crown_px[0] > g.crown_px[1] > 0
    assert 0.2 < g.tongue_per_jaw < 1.2
    # closed lips cover the lower incisal edge by the upper display less the overbite (1.5 mm)
    assert g.lower_cover_px == pytest.approx(1.5 * g.crown_px[1] / 9.0, rel=0.35)
    # tooth boundaries symmetric about the midline, more of them than 4, inside the mouth's width
    gx = np.sort(g.upper_gaps[:, 0])
    assert len(gx) >= 5 and np.ptp(gx) < 1.5 * width
    assert abs((gx[0] + gx[-1]) / 2 - lm[up, 0].mean()) < 0.1 * width


def test_lower_teeth_follow_the_jaw_upper_teeth_the_skull(warp_renderer):
    g = warp_renderer.teeth
    px_mm = g.crown_px[1] / 9.0
    rest = place_teeth(g, g.skull_rest, np.zeros(2))
    moved = place_teeth(g, g.skull_rest + (3.0, -2.0), np.array([0.0, 10.0]))
    assert np.allclose(moved.upper_edge - rest.upper_edge, (3.0, -2.0), atol=1e-4)
    # a jaw that parts the lips by more than LIPS_RELAX_MM: the lower incisors drop with the jaw, less the lip
    # settling from covering their edge to LOWER_DISPLAY_MM below it
    assert 10.0 > LIPS_RELAX_MM * px_mm
    settle = g.lower_cover_px + LOWER_DISPLAY_MM * px_mm
    assert np.allclose(moved.lower_edge - rest.lower_edge, (3.0, -2.0 + 10.0 - settle), atol=1e-4)
    assert np.allclose(moved.tongue_top - rest.tongue_top, (3.0, -2.0 + 10.0 * g.tongue_per_jaw), atol=1e-4)


def test_lower_incisors_sit_under_the_frames_lower_lip(warp_renderer):
    g = warp_renderer.teeth
    mid = len(g.lower_edge) // 2
    e = g.lower_edge[-1] - g.lower_edge[0]
    n = np.array([-e[1], e[0]]) / np.hypot(*e)  # down across the mouth
    for off in (-4.0, 3.0):  # a photo whose lower lip lies above / below where the head puts it
        lip = g.lower_edge[mid] + off * n
        t = place_teeth(g, g.skull_rest, np.zeros(2), lip_rest=lip)
        # jaw closed: the edge lower_cover_px below the lip, whatever the head's own placement
        assert float((t.lower_edge[mid] - lip) @ n) == pytest.approx(g.lower_cover_px, abs=1e-3)
        # jaw dropped 12 px: the lip (lip + jaw) lies LOWER_DISPLAY_MM below the edge
        j = 12.0 * n
        t = place_teeth(g, g.skull_rest, j, lip_rest=lip)
        assert float((lip + j - t.lower_edge[mid]) @ n) == pytest.approx(LOWER_DISPLAY_MM * g.crown_px[1] / 9.0,
                                                                          abs=1e-3)


def _lower_display_mm(r, track) -> float:
    """mm of lower incisor crown above the drawn lower lip at the mouth's middle in the one frame of ``track``."""
    d = r.drive(track)
    lm = r.frame_landmarks(d.landmarks[0])[:, :2]
    rig = d.rigid[0, :, :2]
    t = place_teeth(r.teeth, rig[SKULL], d.jaw[0], rig[topo.LOWER_LIP_INNER_MID])
    x = float(lm[topo.LOWER_LIP_INNER_MID, 0])
    edge = float(np.interp(x, t.lower_edge[:, 0], t.lower_edge[:, 1]))
    return (float(lm[topo.LOWER_LIP_INNER_MID, 1]) - edge) / (r.teeth.crown_px[1] / 9.0)


def test_a_jaw_drop_alone_keeps_the_lower_teeth_behind_the_lip(warp_renderer, builtin_head, neutral_track):
    """The lower lip rests on the lower incisors: a dropped jaw (surprise) shows at most their edges, the lip's
    own depressor (AU16) or stretch bares them, a raised lip (smile) covers them."""
    from emodiffhead.render.drive import drive_from_track

    r = warp_renderer
    for w in (0.3, 0.6, 0.9):
        tr = neutral_track(1, jawOpen=w)
        shown = _lower_display_mm(r, tr)
        assert 0.0 < shown < 1.5  # the incisal edges, ~LOWER_DISPLAY_MM
        # the jaw's own displacement of the lower lip is the lip's whole displacement
        d = drive_from_track(r.head, r.fit, tr)
        lip = topo.LOWER_LIP_INNER_MID
        assert np.allclose(d.jaw[0], d.landmarks[0, lip, :2] - d.rigid[0, lip, :2], atol=1e-3)
    bared = _lower_display_mm(r, neutral_track(1, jawOpen=0.45, mouthLowerDownLeft=1.0, mouthLowerDownRight=1.0))
    assert bared > 2.5
    covered = _lower_display_mm(r, neutral_track(1, jawOpen=0.3, mouthSmileLeft=0.7, mouthSmileRight=0.7))
    assert covered < 0.0


def test_drawn_mouth_has_teeth_cavity_and_no_outline(warp_renderer):
    img = np.full((120, 160, 3), 200, np.uint8)
    x = np.linspace(40, 120, 11)
    upper = np.stack([x, 50 - 12 * np.sin(np.linspace(0, np.pi, 11))], 1)
    lower = np.stack([x, 50 + 22 * np.sin(np.linspace(0, np.pi, 11))], 1)
    flat = lambda y: np.stack([np.linspace(35, 125, 25), np.full(25, y)], 1)  # noqa: E731
    from emodiffhead.render.mouth import FrameTeeth

    teeth = FrameTeeth(upper_edge=flat(44.0), lower_edge=flat(66.0), tongue_top=flat(68.0),
                       upper_gaps=np.stack([np.linspace(50, 110, 7), np.full(7, 44.0)], 1),
                       lower_gaps=np.stack([np.linspace(55, 105, 6), np.full(6, 66.0)], 1), crown_px=(10.0, 8.0))
    style = warp_renderer.style
    draw_mouth(img, upper, lower, teeth, style)
    col = img[:, 75].astype(float).mean(1)  # the middle of a central incisor (x = 80: the embrasure between two)
    assert col[40:44].mean() > 150  # upper teeth just under the upper lip
    assert col[52:62].mean() < 90  # dark cavity between the teeth
    # outside the lips nothing changes (no outline), at the corners nothing is painted (no specks)
    assert np.all(img[10:30] == 200) and np.all(img[40:60, 25:39] == 200) and np.all(img[40:60, 122:140] == 200)


def test_teeth_colour_comes_from_a_photo_that_shows_teeth(warp_renderer):
    photo = warp_renderer.photo.copy()
    lm = warp_renderer.fit.landmarks.copy()
    up, lo = topo.mouth_lines()
    lm[lo, 1] += 12 * np.sin(np.linspace(0, np.pi, len(lo)))  # a photo with parted lips ...
    poly = np.concatenate([lm[up, :2], lm[lo, :2][::-1]]).round().astype(np.int32)
    import cv2

    cv2.fillPoly(photo, [poly], (225, 205, 160))  # ... showing yellowish teeth
    style = mouth_style(photo, lm)
    assert style.teeth_from_photo and style.teeth[0] > style.teeth[2] + 30
    assert not mouth_style(warp_renderer.photo, warp_renderer.fit.landmarks).teeth_from_photo


def test_open_mouthed_photo_source_is_filled_with_lip(warp_renderer):
    photo = warp_renderer.photo.copy()
    lm = warp_renderer.fit.landmarks.copy()
    up, lo = topo.mouth_lines()
    lm[lo, 1] += 14 * np.sin(np.linspace(0, np.pi, len(lo)))
    poly = np.concatenate([lm[up, :2], lm[lo, :2][::-1]]).round().astype(np.int32)
    import cv2

    cv2.fillPoly(photo, [poly], (15, 10, 10))  # a dark open mouth
    src = closed_mouth_source(photo, lm)
    inside = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(inside, [poly], 1)
    assert src[inside.astype(bool)].mean() > 60  # no dark cavity left to squeeze into a line
    assert closed_mouth_source(warp_renderer.photo, warp_renderer.fit.landmarks) is warp_renderer.photo


def test_rest_gap_closes_but_never_crosses():
    up, lo = topo.mouth_lines()
    lm = np.zeros((478, 2), np.float32)
    x = np.linspace(0, 50, len(up))
    lm[up] = np.stack([x, np.zeros_like(x)], 1)
    lm[lo] = np.stack([x, 3.0 * np.sin(np.linspace(0, np.pi, len(lo)))], 1)
    before = lm[lo, 1] - lm[up, 1]
    close_rest_gap(lm, up, lo, np.full(len(up), 2.0, np.float32))
    gap = lm[lo, 1] - lm[up, 1]
    assert np.all(gap >= -1e-5)
    assert np.all(gap[before <= 2.0] < 1e-5)  # up to the rest gap: closed
    assert gap.max() > 1.0  # the 3 px opening still shows (it used to lose the whole 2 px rest gap)
    order = np.argsort(before)
    assert np.all(np.diff(gap[order]) >= -1e-5)  # a wider gap stays wider


def test_rest_gap_closing_leaves_open_lips_as_they_are():
    up, lo = topo.mouth_lines()
    lm = np.zeros((478, 2), np.float32)
    x = np.linspace(0, 50, len(up))
    lm[up] = np.stack([x, np.zeros_like(x)], 1)
    lm[lo] = np.stack([x, 4.0 + 6.0 * np.sin(np.linspace(0, np.pi, len(lo)))], 1)  # every gap >= 2 x rest
    before = lm.copy()
    close_rest_gap(lm, up, lo, np.full(len(up), 2.0, np.float32))
    np.testing.assert_allclose(lm, before, atol=1e-5)


def test_skull_landmarks_are_not_on_the_mouth():
    up, lo = topo.mouth_lines()
    assert not set(SKULL.tolist()) & set(up.tolist() + lo.tolist())


def test_open_mouthed_photo_closes_to_lips_with_a_lip_line(open_mouthed, warp_renderer, neutral_track):
    r, photo, lm = open_mouthed()
    assert mouth_is_open(lm) and not mouth_is_open(warp_renderer.fit.landmarks)
    frame = next(iter(r.frames(neutral_track(1))))
    up, lo = topo.mouth_lines()
    src = r.mesh.points  # the warp source: the photo re-mapped to closed lips; a still frame lands on it
    meet = 0.5 * (src[up] + src[lo])
    lum = frame.astype(np.float32).mean(2)
    xs = np.linspace(meet[2, 0], meet[-3, 0], 12)
    ys = np.interp(xs, meet[:, 0], meet[:, 1])
    at = lambda dy: lum[np.round(ys + dy).astype(int), np.round(xs).astype(int)]  # noqa: E731
    line = np.minimum(at(0), np.minimum(at(-0.5), at(0.5)))
    lips = np.maximum(at(-3), at(3))  # the brighter lip (the upper one is under Einstein's moustache)
    assert np.median(line) < 0.9 * np.median(lips)  # a darker line where the lips meet ...
    band = np.concatenate([at(dy) for dy in np.arange(-2, 2.5, 0.5)])
    assert band.min() > 0.3 * np.median(lips)  # ... but no cavity-dark pixel (the photo's is 0.1) ...
    assert band.max() < 1.3 * np.median(lips)  # ... and no teeth (1.45) between the lips


def test_open_mouthed_photo_still_opens_with_the_rendered_interior(open_mouthed, neutral_track):
    from emodiffhead.head.model import Joint

    r, photo, lm = open_mouthed()
    t = neutral_track(1)
    t.pose[:, Joint.JAW, 0] = 0.25
    frame = next(iter(r.frames(t)))
    d = r.drive(t)
    up, lo = topo.mouth_lines()
    c = 0.5 * (d.landmarks[0][up[len(up) // 2], :2] + d.landmarks[0][lo[len(lo) // 2], :2])
    gap = float(d.landmarks[0][lo[len(lo) // 2], 1] - d.landmarks[0][up[len(up) // 2], 1])
    assert gap > 4
    patch = frame[int(c[1] - gap / 4):int(c[1] + gap / 4) + 1, int(c[0] - 3):int(c[0] + 4)].astype(np.float32)
    lip = np.median(frame[int(c[1] - gap / 2 - 4), int(c[0] - 3):int(c[0] + 4)].astype(np.float32), 0)
    assert patch.mean() < 0.75 * lip.mean() or patch.mean() > 1.2 * lip.mean()  # cavity or teeth, not lip


def test_open_mouth_kept_in_part_is_not_remapped(open_mouthed):
    r, photo, lm = open_mouthed(keep=0.5)
    assert np.array_equal(r.mesh.points[:478], np.asarray(lm, np.float32)[:, :2])
    r0, _, _ = open_mouthed()
    up, lo = topo.mouth_lines()
    assert np.abs(r0.mesh.points[lo] - r0.mesh.points[up]).max() <= 1.01  # the default re-maps: lips meet


def test_closed_mouthed_photo_keeps_its_own_warp_source(warp_renderer):
    lm = warp_renderer.fit.landmarks
    assert not mouth_is_open(lm)
    assert np.array_equal(warp_renderer.mesh.points[:478], np.asarray(lm, np.float32)[:, :2])
    # the photo itself, but for its lip crease (render/lip_crease: lifted there, put back in each frame where the
    # lips meet): only lighter, only on the lips
    src, photo = warp_renderer.warper.image.astype(int), warp_renderer.photo.astype(int)
    changed = np.argwhere((src != photo).any(2))
    assert len(changed) and (src >= photo).all()
    lips = np.concatenate([lm[LIPS_OUTER_UPPER, :2], lm[LIPS_OUTER_LOWER, :2]])
    assert (changed[:, ::-1] >= np.floor(lips.min(0)) - 1).all() and (changed[:, ::-1] <= np.ceil(lips.max(0)) + 1).all()


def test_corner_overlap_narrows_openings_only_toward_the_corners():
    up, _ = topo.mouth_lines()
    lm = np.zeros((478, 2), np.float32)
    lm[up] = np.stack([np.linspace(0, 60, len(up)), np.zeros(len(up))], 1)
    over = corner_overlap(lm, up)
    k = len(up) // 2
    assert over[0] == over[-1] == 0.0 and over[k] < 0.05
    assert over[1] > over[2] > over[3] > over[k]


def test_teeth_stay_on_the_midline_of_a_turned_head(warp_renderer, builtin_head):
    # the dental arch is traced in the head's own frame: on a head turned 20 degrees (and rolled 10) the upper
    # incisors' midpoint still sits under the middle of the lips, and the biting edge runs along the mouth
    import dataclasses

    from emodiffhead.head.model import Joint
    from emodiffhead.render.mouth import mouth_geometry

    fit = warp_renderer.fit
    pose = np.array(fit.pose, np.float32)
    pose[Joint.ROOT] = [0.0, np.radians(20.0), np.radians(10.0)]
    turned = dataclasses.replace(fit, pose=pose, expression=np.zeros_like(fit.expression))
    g = mouth_geometry(builtin_head, turned)
    P = turned.camera.project(builtin_head.forward(fit.shape, None, pose[None], fit.translation[None]).landmarks[0])
    lips = np.r_[topo.mouth_lines()]
    P = P[:, :2] + (np.asarray(fit.landmarks)[lips, :2] - P[lips, :2]).mean(0)  # as the photo's residual offset
    e = P[topo.MOUTH_CORNER_LEFT] - P[topo.MOUTH_CORNER_RIGHT]
    width = float(np.hypot(*e))
    e = e / width
    mid = g.upper_edge[len(g.upper_edge) // 2]
    lip_mid = (P[topo.UPPER_LIP_INNER_MID] + P[topo.LOWER_LIP_INNER_MID]) / 2
    assert abs(float((mid - lip_mid) @ e)) < 0.12 * width  # the incisors sit behind the lips: some parallax
    d = g.upper_edge[-1] - g.upper_edge[0]
    assert abs(np.degrees(np.arctan2(d[0] * e[1] - d[1] * e[0], d @ e))) < 5.0


def _flat_teeth(upper_y: float, lower_y: float, crowns=(10.0, 8.0)):
    from emodiffhead.render.mouth import FrameTeeth

    flat = lambda y: np.stack([np.linspace(35, 125, 25), np.full(25, y)], 1)  # noqa: E731
    return FrameTeeth(upper_edge=flat(upper_y), lower_edge=flat(lower_y), tongue_top=flat(lower_y + 2),
                      upper_gaps=np.stack([np.linspace(50, 110, 7), np.full(7, upper_y)], 1),
                      lower_gaps=np.stack([np.linspace(55, 105, 6), np.full(6, lower_y)], 1), crown_px=crowns)


def test_a_small_opening_shows_as_an_opening(warp_renderer, monkeypatch):
    """Lips parted by 2 px (a slightly open mouth at 512 px) show the teeth behind them, not a faint tint of the
    lips; the lower lip's inner margin is in shadow."""
    from emodiffhead.render import mouth

    lip = (200, 60, 60)
    x = np.linspace(40, 120, 11)
    upper = np.stack([x, np.full(11, 50.0)], 1)
    lower = np.stack([x, 50 + 2.0 * np.sin(np.linspace(0, np.pi, 11))], 1)

    def drawn():
        img = np.full((120, 160, 3), lip, np.uint8)
        draw_mouth(img, upper, lower, _flat_teeth(56.0, 60.0), warp_renderer.style)  # upper teeth fill the gap
        return img

    img = drawn()
    gap = img[50:52, 70:91].astype(float)  # the two rows between the lips, across the middle of the mouth
    assert gap[..., 1].mean() > 120  # teeth, not the red lips (their green channel is 60)
    assert np.all(img[:48] == lip) and np.all(img[54:] == lip)  # nothing drawn outside the lips
    monkeypatch.setattr(mouth, "RIM_DARK", 0.0)
    assert img[51, 70:91].astype(float).mean() < drawn()[51, 70:91].astype(float).mean() - 10  # the lower margin


def test_lip_lines_are_drawn_as_smooth_curves(warp_renderer):
    """A wide opening given by a few landmarks is round, not a polygon of their chords: the drawn interior
    reaches a point between two landmarks that lies on the arc but outside their chord."""
    from emodiffhead.render.mouth import smooth_line

    t = np.linspace(0, np.pi, 6)
    lower = np.stack([80 - 40 * np.cos(t), 50 + 30 * np.sin(t)], 1)
    curve = smooth_line(lower)
    assert np.allclose(curve[::4], lower, atol=1e-4)  # through every landmark, in order
    r = np.hypot(curve[:, 0] - 80, (curve[:, 1] - 50) * 40 / 30)
    chords = np.hypot(*(0.5 * (lower[1:] + lower[:-1]) - (80, 50)).T * np.array([[1], [40 / 30]]))
    assert np.abs(r - 40).max() < 0.6 * np.abs(chords - 40).max()  # nearer the arc than the chords
    img = np.full((120, 160, 3), 200, np.uint8)
    upper = np.stack([80 - 40 * np.cos(t), np.full(6, 50.0)], 1)
    draw_mouth(img, upper, lower, _flat_teeth(52.0, 90.0), warp_renderer.style)
    a = np.deg2rad(54.0)  # between the landmarks at 36 and 72 degrees: the chord passes 2.3 px inside the arc
    px, py = 80 - 40 * np.cos(a), 50 + 30 * np.sin(a) - 1.2
    assert img[int(round(py)), int(round(px))].astype(float).mean() < 150


def test_lower_incisors_bite_just_behind_and_above_the_upper_edge(warp_renderer):
    g = warp_renderer.teeth
    x = float(np.median(g.upper_edge[:, 0]))
    up = float(np.interp(x, g.upper_edge[:, 0], g.upper_edge[:, 1]))
    lo = float(np.interp(x, g.lower_edge[:, 0], g.lower_edge[:, 1]))
    px_per_mm = g.crown_px[1] / 9.0
    # image y points down: the lower edge is OVERBITE_MM above the upper one (hidden behind it, jaw closed)
    assert up - lo == pytest.approx(OVERBITE_MM * px_per_mm, rel=0.35)


def _open_mouth(lower_edge_y: float, tongue_y: float = 90.0):
    """A synthetic opening (lips 38..72 px at the middle) and teeth with the lower edge at ``lower_edge_y``."""
    x = np.linspace(40, 120, 11)
    upper = np.stack([x, 50 - 12 * np.sin(np.linspace(0, np.pi, 11))], 1)
    lower = np.stack([x, 50 + 22 * np.sin(np.linspace(0, np.pi, 11))], 1)
    flat = lambda y: np.stack([np.linspace(35, 125, 25), np.full(25, y)], 1)  # noqa: E731
    teeth = FrameTeeth(upper_edge=flat(44.0), lower_edge=flat(lower_edge_y), tongue_top=flat(tongue_y),
                       upper_gaps=np.stack([np.linspace(50, 110, 7), np.full(7, 44.0)], 1),
                       lower_gaps=np.stack([np.linspace(55, 105, 6), np.full(6, 66.0)], 1), crown_px=(10.0, 8.0))
    return upper, lower, teeth


def test_lower_teeth_and_tongue_show_where_the_jaw_drops_below_them(warp_renderer):
    style = warp_renderer.style
    shown = draw_mouth(np.full((120, 160, 3), 200, np.uint8), *_open_mouth(64.0, tongue_y=40.0), style)
    hidden = draw_mouth(np.full((120, 160, 3), 200, np.uint8), *_open_mouth(80.0), style)
    col = lambda img, a, b: img[a:b, 70:90].astype(float).mean((0, 1))  # noqa: E731
    # lower incisal edge at 64, lip at 72: teeth between, brighter than the cavity above them
    assert col(shown, 65, 69).mean() > col(shown, 52, 56).mean() + 40
    # the lower teeth below the lip: nothing bright there
    assert col(hidden, 65, 69).mean() < col(shown, 65, 69).mean() - 40
    # the tongue's back rises just behind the lower incisors: redder and brighter than the cavity above it
    tg = col(shown, 61, 63)
    cav = col(shown, 52, 55)
    assert tg.mean() > cav.mean() + 15 and tg[0] - tg[1] > cav[0] - cav[1]


def test_each_tooth_is_rounded_with_receding_corners_and_a_gap():
    gaps = np.array([0.2, 0.4, 0.6])
    u = np.linspace(0.2, 0.6, 401)
    shade, notch, papilla = _tooth_rows(u, gaps, w=100.0, crown=10.0)
    mid = np.argmin(np.abs(u - 0.3))
    at_gap = np.argmin(np.abs(u - 0.4))
    assert shade[at_gap] < 0.75 * shade[mid]  # dark between neighbours
    assert shade[mid - 50] < shade[mid]  # darker toward the tooth's side (rounded enamel)
    assert notch[mid] == 0 and notch[at_gap] > 1.0  # the biting edge recedes at the corners only
    assert papilla[at_gap] > papilla[mid] == pytest.approx(0.0)


def _lab(rgb):
    import cv2

    return cv2.cvtColor(np.asarray(rgb, np.float32).reshape(1, 1, 3) / 255.0, cv2.COLOR_RGB2LAB)[0, 0]


def test_default_teeth_are_a_warm_white_in_the_photos_light(warp_renderer):
    """Teeth where the photo shows none: an off-white (never clipped to pure white, never blue), warmer on a
    photo with a yellow cast (a varnished painting), grey on a greyscale photo."""
    photo, lm = warp_renderer.photo, warp_renderer.fit.landmarks
    st = mouth_style(photo, lm)
    L, a, b = _lab(st.teeth)
    assert not st.teeth_from_photo and L <= 95 and 2.0 <= b <= 12 and abs(a) < 5
    bright = mouth_style(np.clip(photo.astype(np.float32) * 1.4, 0, 255).astype(np.uint8), lm)
    assert _lab(bright.teeth)[2] >= 2.0 and bright.teeth.min() < 250  # no clipped, blue-white teeth
    # a yellow cast (the painting's varnish: skin and eye whites both yellow): the teeth follow it
    cast = np.clip(photo.astype(np.float32) * (1.0, 0.9, 0.55), 0, 255).astype(np.uint8)
    warm = mouth_style(cast, lm)
    cheeks = lm[[50, 280, 205, 425], :2].round().astype(int)
    skin_b = _lab(cast[cheeks[:, 1], cheeks[:, 0]].astype(np.float32).mean(0))[2]
    assert _lab(warm.teeth)[2] > b + 10  # the old default teeth stayed at b 7 whatever the photo
    assert _lab(warm.teeth)[2] < skin_b  # still whiter than the skin
    grey = np.repeat(photo.astype(np.float32).mean(2, keepdims=True), 3, 2).astype(np.uint8)
    g = mouth_style(grey, lm)
    assert np.ptp(g.teeth) < 1 and np.ptp(g.teeth_shadow) < 1


def test_teeth_in_shade_are_warmer_not_grey(warp_renderer):
    from emodiffhead.render.mouth import teeth_colour

    st = warp_renderer.style
    lit, shade = teeth_colour(st, np.float32(1.0)), teeth_colour(st, np.float32(0.45))
    assert np.allclose(lit, st.teeth, atol=1e-3)
    # greyer teeth scaled down would lose b (about 0.45 x); teeth in shade gain it
    (L0, a0, b0), (L1, a1, b1) = _lab(lit), _lab(shade)
    assert b1 > b0 + 2 and a1 > a0 + 2 and L1 < L0 - 15


def test_narrow_teeth_are_no_barcode():
    """A row of teeth a few px wide (a small face, lower incisors) draws no stripes; wide teeth keep their
    rounding and gap lines."""
    w = 100.0
    u = np.linspace(0.3, 0.7, 400)
    narrow = np.arange(0.2, 0.81, 0.035)  # 3.5 px teeth
    wide = np.arange(0.2, 0.81, 0.2)  # 20 px teeth
    b_n, _, _ = _tooth_rows(u, narrow, w, 8.0, 0.3)
    b_w, _, _ = _tooth_rows(u, wide, w, 8.0, 0.3)
    assert np.ptp(b_n) < 0.02
    assert b_w.min() < 0.8 and b_w.max() > 0.95


def _square_far_corner(gap: float = 16.0):
    """(478, 2) landmarks with an open mouth whose left corner ends square: the lower lip's point next to the
    corner straight below it (a turned face's far corner with the jaw open), and the index arrays."""
    from emodiffhead.render.mouth import LIPS_OUTER_LOWER, LIPS_OUTER_UPPER

    lm = np.zeros((478, 2), np.float32)
    up, lo = topo.mouth_lines()
    x = np.linspace(100, 160, len(up))
    x[-2] = 159.0
    prof = np.sin(np.linspace(0, np.pi, len(up)))
    prof[-2] = 0.6
    lm[up] = np.stack([x, 100 - 2 * np.sin(np.linspace(0, np.pi, len(up)))], 1)
    lm[lo] = lm[up] + np.stack([np.zeros_like(x), gap * prof], 1)
    lm[LIPS_OUTER_UPPER] = lm[up] - (0, 5)
    lm[LIPS_OUTER_LOWER] = lm[lo] + (0, 6)
    lm[LIPS_OUTER_UPPER[[0, -1]]] = lm[up[[0, -1]]] + ((-2, 0), (2, 0))
    lm[LIPS_OUTER_LOWER[[0, -1]]] = lm[LIPS_OUTER_UPPER[[0, -1]]]
    return lm, up, lo, LIPS_OUTER_UPPER, LIPS_OUTER_LOWER


def test_far_corner_of_an_open_mouth_tapers():
    from emodiffhead.render.mouth import taper_corners

    lm, up, lo, ou, ol = _square_far_corner()
    before = lm.copy()
    taper_corners(lm, up, lo, outer=(ou, ol))

    def corner_angle(p):  # degrees between the axis and the lower lip's last segment into the left corner
        d = p[lo[-2]] - p[lo[-1]]
        return float(np.degrees(np.arctan2(abs(d[1]), abs(d[0]))))

    assert corner_angle(before) > 80  # the square end: straight below the corner
    assert corner_angle(lm) < 60
    mid = len(up) // 2
    assert np.allclose(lm[[up[mid], lo[mid]]], before[[up[mid], lo[mid]]])  # the opening's middle is kept
    assert np.allclose(lm[up[[0, -1]]], before[up[[0, -1]]])  # corners stay
    lip = (lm[ol] - lm[lo])[1:-1, 1]
    assert np.allclose(lip, (before[ol] - before[lo])[1:-1, 1], atol=1e-4)  # the lower lip keeps its thickness
    closed, *_ = _square_far_corner(gap=0.5)
    ref = closed.copy()
    taper_corners(closed, up, lo)
    assert np.array_equal(closed, ref)  # lips (nearly) closed: untouched, bit for bit


def test_greyscale_is_judged_on_the_face_not_the_backdrop(warp_renderer):
    # a colour portrait framed by a wide grey backdrop (or under-exposed) averaged under the greyscale threshold
    # over the whole photo and got grey teeth, gums and tongue; the face decides
    from emodiffhead.render.mouth import is_greyscale, mouth_style

    r = warp_renderer
    photo, lm = r.photo, r.fit.landmarks
    H, W = photo.shape[:2]
    framed = np.full((3 * H, 3 * W, 3), 128, np.uint8)
    framed[H:2 * H, W:2 * W] = photo
    lm3 = np.array(lm, np.float32)
    lm3[:, 0] += W
    lm3[:, 1] += H
    pix = framed.reshape(-1, 3).astype(np.float32)
    assert float(np.abs(pix - pix.mean(1, keepdims=True)).mean()) < 3.0  # the whole frame looks grey
    assert not is_greyscale(framed, lm3)
    style = mouth_style(framed, lm3)
    assert style.tongue[0] > style.tongue[2] + 10  # a pink tongue, not a grey one
    grey = np.repeat(photo.mean(2, keepdims=True), 3, axis=2).astype(np.uint8)
    assert is_greyscale(grey, lm)
