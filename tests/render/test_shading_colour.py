"""Expression shading that looks like skin: creases in the colour of the photo's own shadows, greyscale photos
kept grey, AU15's marionette fold drawn as a fold running from the lip corner, not a dot beside it."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.facs import ARKIT_INDEX
from emodiffhead.render.shading import (FEATURES, LUMA, SLOPE_RANGE, ExpressionShading, face_axes, shadow_slopes,
                                        skin_mask)

#: A warm skin whose shading goes redder as it darkens (red falls slower than luma, blue faster).
SKIN_TINT = np.array([1.0, 0.72, 0.6], np.float32)
SKIN_SLOPES = np.array([0.7, 1.1, 1.5], np.float32)


def _luma(img: np.ndarray) -> np.ndarray:
    return np.asarray(img, np.float32) @ LUMA


def _recoloured(photo: np.ndarray, tint: np.ndarray, slopes: np.ndarray) -> tuple[np.ndarray, float]:
    """(photo (H, W, 3) uint8 whose colour is ``m * tint_c * (Y / m) ** slope_c`` with Y the example photo's
    luma and m its mean: its shading has the given per-channel slopes, m)."""
    y = np.maximum(_luma(photo), 8.0)
    m = float(y.mean())
    out = m * tint * (y[..., None] / m) ** slopes
    return np.clip(np.round(out), 0, 255).astype(np.uint8), m


def _all_features(sh: ExpressionShading, weight: float = 1.5) -> np.ndarray:
    return sh.apply(np.full(len(FEATURES), weight, np.float32)).astype(np.float32)


def test_shadow_slopes_read_the_photos_own_shading_colour(warp_renderer):
    r = warp_renderer
    warm, _ = _recoloured(r.photo, SKIN_TINT, SKIN_SLOPES)
    s = shadow_slopes(warm, r.fit.landmarks)
    assert s[0] < 0.85 and s[2] > 1.3  # red falls slower, blue faster than luma
    assert np.abs(s - SKIN_SLOPES).max() < 0.12
    grey = np.repeat(np.round(_luma(r.photo)).astype(np.uint8)[..., None], 3, axis=2)
    np.testing.assert_allclose(shadow_slopes(grey, r.fit.landmarks), 1.0, atol=1e-4)
    # nothing odd comes out of an odd photo: colour noise over the face
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, r.photo.shape, dtype=np.uint8)
    s = shadow_slopes(noise, r.fit.landmarks)
    assert np.all((s >= SLOPE_RANGE[0]) & (s <= SLOPE_RANGE[1]))


def test_a_crease_on_warm_skin_takes_the_colour_of_the_photos_own_shadows(warp_renderer):
    # the same gain on every channel turned a crease on warm skin grey-green; drawn as g ** slope it lands on the
    # photo's own colour curve: the colour its skin has where it is that dark
    r = warp_renderer
    warm, m = _recoloured(r.photo, SKIN_TINT, SKIN_SLOPES)
    sh = ExpressionShading(warm, r.fit.landmarks)
    out = _all_features(sh)
    src = warm.astype(np.float32)
    crease = (_luma(out) < 0.85 * _luma(src)) & (src.min(2) > 25)
    assert crease.sum() > 30
    rb = lambda img: np.log(np.maximum(img[..., 0], 1) / np.maximum(img[..., 2], 1))  # noqa: E731
    # the photo's own red-blue log ratio at each luma (median over its face, in 2 % luma bins)
    face = skin_mask(src.shape[:2], r.fit.landmarks) & (src.min(2) > 25)
    bins = np.log(_luma(src)[face]) // 0.02
    own = {b: np.median(rb(src)[face][bins == b]) for b in np.unique(bins) if (bins == b).sum() >= 5}
    at = np.log(_luma(out)[crease]) // 0.02
    known = np.array([b in own for b in at])
    assert known.mean() > 0.8
    expected = np.array([own[b] for b in at[known]])
    err = np.abs(rb(out)[crease][known] - expected)
    assert np.median(err) < 0.05
    assert np.median((rb(out) - rb(src))[crease]) > 0.08  # visibly redder than the skin it was drawn on


def test_greyscale_and_toned_photos_keep_their_hue(warp_renderer):
    r = warp_renderer
    grey = np.repeat(np.round(_luma(r.photo)).astype(np.uint8)[..., None], 3, axis=2)
    out = _all_features(ExpressionShading(grey, r.fit.landmarks))
    assert np.abs(out - grey).max() > 20  # something is drawn ...
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])  # ... in grey
    sepia, _ = _recoloured(r.photo, np.array([1.0, 0.82, 0.62], np.float32), np.ones(3, np.float32))
    sh = ExpressionShading(sepia, r.fit.landmarks)
    np.testing.assert_allclose(sh.slopes, 1.0, atol=0.03)
    out = _all_features(sh)
    src = sepia.astype(np.float32)
    drawn = (np.abs(out - src).max(2) > 6) & (src.min(2) > 30)
    assert drawn.sum() > 30
    ratio = lambda img: img[..., 0] / img[..., 2]  # noqa: E731
    assert np.median(np.abs(ratio(out) / ratio(src) - 1)[drawn]) < 0.03


def _fold_footprint(sh: ExpressionShading, name: str, lm: np.ndarray) -> tuple[float, float, float, float]:
    """(length, width, top, drop) of a feature's shadow (gain < 25 % of its darkest) in IOD: principal axis
    extents, the shadow's top and bottom below the mouth corner 61."""
    ex, ey, iod = face_axes(lm)
    g = sh.maps[[f.name for f in FEATURES].index(name)]
    ys, xs = np.nonzero(g < 0.25 * g.min())
    p = np.stack([xs + sh.box[0], ys + sh.box[1]], 1).astype(np.float64)
    c = p - p.mean(0)
    w, v = np.linalg.eigh(c.T @ c / len(c))
    along = c @ v[:, 1]
    across = c @ v[:, 0]
    below = (p - lm[61, :2]) @ ey / iod
    return (float(np.ptp(along) / iod), float(np.ptp(across) / iod), float(below.min()), float(below.max()))


def test_marionette_fold_runs_from_the_lip_corner_towards_the_jaw(warp_renderer):
    # AU15's shadow was a short blob beside the corner (0.2 IOD drawn, tapered at both ends): pulled down by the
    # warp it read as a dark dot. It is a fold: it starts at the corner, runs a third of the IOD down and
    # slightly out, and is many times longer than wide
    r = warp_renderer
    lm = r.fit.landmarks[:, :2].astype(np.float64)
    sh = ExpressionShading(r.photo, r.fit.landmarks)
    length, width, top, drop = _fold_footprint(sh, "marionette_right", lm)
    assert length > 3.0 * width
    assert top < 0.06 and drop > 0.28
    g = sh.maps[[f.name for f in FEATURES].index("marionette_right")]
    ys, xs = np.nonzero(g < 0.25 * g.min())
    ex, ey, iod = face_axes(lm)
    p = np.stack([xs + sh.box[0], ys + sh.box[1]], 1) - lm[61, :2]
    down, out = p @ ey, -(p @ ex)  # the subject's right side is towards -x_face
    low, high = down > np.percentile(down, 80), down < np.percentile(down, 20)
    assert out[low].mean() > out[high].mean() + 0.02 * iod  # slants out towards the jaw


def test_each_frame_is_shaded_from_the_photo_not_from_the_previous_frame(warp_renderer):
    # only the rectangle the active maps reach is recomputed: what an earlier frame drew elsewhere is put back
    r = warp_renderer
    names = [f.name for f in FEATURES]
    brows, mouth = np.zeros(len(FEATURES), np.float32), np.zeros(len(FEATURES), np.float32)
    brows[[names.index("glabella_left"), names.index("forehead")]] = 1.5
    mouth[[names.index("marionette_right"), names.index("chin_boss")]] = 1.0
    mouth[names.index("nasolabial_left")] = -1.0  # a photo's own fold flattened
    sh = ExpressionShading(r.photo, r.fit.landmarks)
    first = sh.apply(brows).copy()
    assert np.abs(first.astype(int) - r.photo).max() > 10
    again = sh.apply(mouth).copy()
    fresh = ExpressionShading(r.photo, r.fit.landmarks).apply(mouth)
    assert np.array_equal(again, fresh)
    assert sh.apply(np.zeros(len(FEATURES), np.float32)) is r.photo
    assert np.array_equal(sh.apply(brows), first)


def test_an_active_map_that_reaches_nothing_does_not_stretch_the_shaded_rectangle(warp_renderer):
    # a feature whose map is empty (reach 0, 0, 0, 0) but whose weight is on: the rectangle computed (and put back
    # to the photo on the next call) stays that of the other active maps instead of reaching row and column 0
    r = warp_renderer
    sh = ExpressionShading(r.photo, r.fit.landmarks)
    k_empty, k_other = 0, 1
    sh.maps[k_empty] = 0.0
    sh._map_reach[k_empty] = 0
    w = np.zeros(len(FEATURES), np.float32)
    w[k_other] = 1.0
    alone = sh.apply(w).copy()
    rect = sh._dirty
    w[k_empty] = 1.0
    both = sh.apply(w)
    assert sh._dirty == rect and rect[0].start > 0 and rect[1].start > 0
    assert np.array_equal(both, alone)


def test_inner_brow_raiser_wrinkles_the_middle_of_the_forehead_only(warp_renderer):
    # FACS: AU1 alone (sadness) wrinkles the centre of the forehead; with AU2 (surprise, fear) the lines run across
    # the whole forehead. Lines over the brows' outer halves on a sad face read as fear.
    r = warp_renderer
    sh = ExpressionShading(r.photo, r.fit.landmarks)
    lm = r.fit.landmarks
    x0, y0 = sh.box[:2]

    def depth(weights: np.ndarray, x: float, brow: int) -> float:
        """Darkest gain change (< 0) of ``weights`` (K,) in a 5-pixel column at ``x`` from landmark 10's row (the
        top of the forehead) down to the brow landmark ``brow``."""
        g = np.tensordot(weights, sh.maps, 1)
        c = int(round(x)) - x0
        top, bottom = int(lm[10, 1]) - y0, int(lm[brow, 1]) - y0
        return float(g[max(top, 0):bottom, max(c - 2, 0):c + 3].min())

    inner_up = sh.matrix[ARKIT_INDEX["browInnerUp"]]  # (K,) feature weights of AU1 at weight 1
    outer_up = sh.matrix[ARKIT_INDEX["browOuterUpLeft"]] + sh.matrix[ARKIT_INDEX["browOuterUpRight"]]
    for mid, head in ((105, 107), (334, 336)):  # brow middle, brow head
        x = 0.75 * lm[mid, 0] + 0.25 * lm[head, 0]  # over the brow, a quarter of the way from its middle
        assert depth(outer_up, x, mid) < -0.02
        assert depth(inner_up, x, mid) > 0.2 * depth(outer_up, x, mid)
    assert depth(inner_up, lm[9, 0], 9) < -0.08  # the midline
