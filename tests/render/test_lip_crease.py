"""The photo's dark lip crease: lifted out of the warp source, put back where a frame's lips meet (render/lip_crease)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emodiffhead.face import facemesh_topology as topo
from emodiffhead.face.image import LUMA as _LUMA
from emodiffhead.head.model import Joint
from emodiffhead.render.lip_crease import draw_crease, lift_crease, measure_crease
from emodiffhead.render.mouth import LIPS_OUTER_LOWER, LIPS_OUTER_UPPER, smooth_line

UPPER_RGB, LOWER_RGB, CREASE_RGB = (120, 60, 65), (190, 110, 115), (25, 15, 15)


def _creased(photo: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """``photo`` with flat lips (a darker upper, a lit lower one) and a 2-3 px near-black crease where the inner lip
    lines of (478, 2+) ``lm`` meet, as a closed mouth under a top light shows."""
    import cv2

    img = photo.copy()
    up, lo = topo.mouth_lines()
    p = lambda a: np.round(np.asarray(a, np.float64) * 16).astype(np.int32)  # noqa: E731
    meet = 0.5 * (lm[up, :2] + lm[lo, :2])
    cv2.fillPoly(img, [p(np.concatenate([lm[LIPS_OUTER_UPPER, :2], meet[::-1]]))], UPPER_RGB, cv2.LINE_AA, 4)
    cv2.fillPoly(img, [p(np.concatenate([lm[LIPS_OUTER_LOWER, :2], meet[::-1]]))], LOWER_RGB, cv2.LINE_AA, 4)
    cv2.polylines(img, [p(smooth_line(meet))], False, CREASE_RGB, 2, cv2.LINE_AA, 4)
    return img


@pytest.fixture(scope="module")
def creased(example_photo, builtin_head):
    """A renderer on the example photo at 512 px (its mouth 48 px wide) with the creased lips of :func:`_creased`."""
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    r0 = WarpRenderer()
    fit = r0.prepare(load_photo(example_photo), builtin_head, size=512)
    photo = _creased(r0.photo, fit.landmarks)
    r = WarpRenderer()
    r.prepare(photo, builtin_head, fit=fit)
    return r, photo


def _margins(img: np.ndarray, lm: np.ndarray) -> dict[str, float]:
    """Per lip: the median luminance of the 0-2 px band outside the opening of (478, 2+) frame landmarks ``lm``
    (middle 60 % of the mouth) over that of the same lip 3-6 px out."""
    import cv2

    up, lo = topo.mouth_lines()
    a, b = smooth_line(lm[up, :2]), smooth_line(lm[lo, :2])
    H, W = img.shape[:2]
    poly = lambda q: np.round(np.asarray(q) * 16).astype(np.int32)  # noqa: E731
    opening = np.zeros((H, W), np.uint8)
    cv2.fillPoly(opening, [poly(np.concatenate([a, b[::-1]]))], 1, cv2.LINE_8, 4)
    dist = cv2.distanceTransform(1 - opening, cv2.DIST_L2, 5)
    x0, x1 = lm[up[0], 0], lm[up[-1], 0]
    xs = np.arange(W)[None].repeat(H, 0)
    mid = (xs > x0 + 0.2 * (x1 - x0)) & (xs < x0 + 0.8 * (x1 - x0))
    lum = img.astype(np.float32) @ _LUMA
    out = {}
    for name, outer, inner in (("upper", LIPS_OUTER_UPPER, a), ("lower", LIPS_OUTER_LOWER, b)):
        lip = np.zeros((H, W), np.uint8)
        cv2.fillPoly(lip, [poly(np.concatenate([lm[outer, :2], inner[::-1]]))], 1, cv2.LINE_8, 4)
        lip = lip.astype(bool) & mid & (opening == 0)
        band, further = lip & (dist <= 2.0), lip & (dist >= 3.0) & (dist <= 6.0)
        out[name] = float(np.median(lum[band]) / np.median(lum[further]))
    return out


def test_parted_lips_have_lip_coloured_margins_not_the_crease(creased, neutral_track):
    r, _ = creased
    t = neutral_track(1)
    t.pose[:, Joint.JAW, 0] = 0.25
    d = r.drive(t)
    frame = r.render_frame(d, 0)
    lm = r.frame_landmarks(d.landmarks[0])
    assert lm[topo.LOWER_LIP_INNER_MID, 1] - lm[topo.UPPER_LIP_INNER_MID, 1] > 4  # the lips are apart
    m = _margins(frame, lm)
    # the crease (luminance 0.15 of the lower lip's) split by the opening read 0.5-0.7 before; now each inner
    # margin is its own lip's colour
    assert m["lower"] > 0.9 and m["upper"] > 0.9, m


def test_a_still_frame_keeps_the_photos_crease(creased):
    from emodiffhead.render.warp import TriangleWarper, drive_points

    r, photo = creased
    lm = r.fit.landmarks
    frame = r.render_landmarks(lm)  # the photo's own landmarks (the lips closed, as in the photo)
    # ... is the photo itself warped, crease included, as before the crease was lifted from the warp's source
    moved = drive_points(r.mesh, r.frame_landmarks(lm)[:, :2])
    expected = TriangleWarper(photo, r.mesh).warp(moved)
    box = np.concatenate([lm[LIPS_OUTER_UPPER, :2], lm[LIPS_OUTER_LOWER, :2]])
    (x0, y0), (x1, y1) = np.floor(box.min(0)).astype(int) - 3, np.ceil(box.max(0)).astype(int) + 3
    diff = np.abs(frame[y0:y1, x0:x1].astype(int) - expected[y0:y1, x0:x1])
    # (resampling differs by a few levels on the synthetic crease's hard edges; lifted and not put back: 90)
    assert diff.mean() < 0.5 and diff.max() <= 12
    # while the warp's source has it lifted: lighter there, nowhere darker
    up, lo = topo.mouth_lines()
    src = r.warper.image.astype(int)
    meet = np.round(0.5 * (lm[up[3:-3], :2] + lm[lo[3:-3], :2])).astype(int)
    assert (src[meet[:, 1], meet[:, 0]].mean(1) > 2 * photo[meet[:, 1], meet[:, 0]].mean(1)).all()
    assert (src >= photo.astype(int)).all()


def test_crease_fades_out_as_the_lips_part():
    import cv2

    img = np.zeros((60, 100, 3), np.uint8)
    img[:30], img[30:] = UPPER_RGB, LOWER_RGB
    cv2.line(img, (10, 30), (90, 30), CREASE_RGB, 3)
    xs = np.linspace(20, 80, 9, dtype=np.float32)
    upper = np.stack([xs, np.full_like(xs, 29.5)], 1)
    lower = np.stack([xs, np.full_like(xs, 30.5)], 1)
    crease = measure_crease(img, upper, lower)
    clean = lift_crease(img, crease, upper, lower)
    lum = lambda a: a.astype(np.float32) @ _LUMA  # noqa: E731
    # in the middle of the mouth the band is lifted to the lips' own levels, each half to its own lip
    assert abs(lum(clean[28, 50]) - lum(np.array(UPPER_RGB))) < 10
    assert abs(lum(clean[31, 50]) - lum(np.array(LOWER_RGB))) < 10
    assert np.abs(draw_crease(clean.copy(), crease, upper, lower).astype(int) - img).max() <= 1  # back, exactly
    half = draw_crease(clean.copy(), crease, upper - (0, 0.5), lower + (0, 0.5))  # 1 px further apart: half
    apart = draw_crease(clean.copy(), crease, upper - (0, 1.5), lower + (0, 1.5))  # 3 px: none
    assert np.array_equal(apart, clean)
    assert lum(img[30, 50]) < lum(half[30, 50]) < lum(clean[30, 50])
