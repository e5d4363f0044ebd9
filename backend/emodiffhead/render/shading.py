"""Expression-driven skin shading for the warp renderer: wrinkle and bulge maps weighted by blendshapes.

A warp only moves the photo's pixels, so the shading that real expressions put on the skin never appears:
the vertical furrows between lowered brows (AU4), horizontal forehead lines (AU1/AU2), nasolabial folds
and raised cheeks with crow's feet (AU12/AU6), the nose wrinkle (AU9), the chin boss (AU17) and the
marionette fold from a depressed lip corner towards the jaw (AU15). As face rigs in games and film do with
animated wrinkle maps, each :data:`FEATURES` entry is a small height field (grooves < 0, bulges > 0) drawn once
per photo along the photo's own landmarks (so it sits on this face's anatomy), in the photo's pixel space
(the warp then carries it with the skin). It is turned into a luminance gain map lit like the photo:

    gain_k = OCCLUSION * h_k  -  RELIEF * sigma_px * (grad h_k . l)     (grooves, h < 0)
    gain_k = OCCLUSION * BULGE_BRIGHTENING * h_k  -  RELIEF * sigma_px * (grad h_k . l)     (bulges, h > 0)

with ``l`` the image-plane direction of the photo's key light, estimated from the brightness gradient
across the face (:func:`estimate_light`): the slope of a furrow that faces the light brightens, the other
darkens, as in the photo's own wrinkles. Per frame the shaded photo is
``photo_c * g ** s_c`` with ``g = 1 + sum_k w_k gain_k`` over the face box, with ``w_k`` from the frame's ARKit
blendshape weights (:data:`FEATURES` ``activation``): a weighted sum of K precomputed maps, no drawing;
``s_c`` (:func:`shadow_slopes`) gives the creases the colour of the photo's own skin shadows (deeper in the
skin's hue on warm skin, exactly grey on a greyscale photo).
Weights are relative to the photo's own expression (the renderer subtracts the fitted photo expression,
as it does for the geometry): a neutral frame of a neutral photo is the photo, untouched. A negative weight
(the photo's own expression, absent from the frame: a smiling photo in a neutral frame) does not draw the
template in reverse but flattens the photo's own relief in that feature's footprint by that fraction
(``ExpressionShading.flatten``: the photo's colour pulled toward its local mean), so the photo's real
nasolabial folds and raised cheeks fade wherever they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face import facemesh_topology as topo
from ..face.image import LUMA
from ..facs import ARKIT_INDEX, NUM_ARKIT
from .mouth import LIPS_OUTER_LOWER, LIPS_OUTER_UPPER

#: Luminance change per unit height at the centre of a feature (fraction of the pixel's brightness).
OCCLUSION = 0.24
#: Luminance change of a feature's slopes towards / away from the light.
RELIEF = 0.33
#: A bulge brightens this fraction of what a groove of the same depth darkens: a groove is shadowed from every
#: side (ambient occlusion), a convex bump only turns one slope to the light and the other away (its relief).
BULGE_BRIGHTENING = 0.35
#: Gains are kept in this range (a pixel at most this much darker / brighter).
GAIN_RANGE = (0.55, 1.35)
#: Most negative feature weight: -1 flattens the photo's own relief in a feature's footprint
#: (:meth:`ExpressionShading._flatten_maps`).
NEGATIVE_LIMIT = 1.0
#: The photo's own creases and bumps are its colour against a local mean (Gaussian, this many IOD): a fold
#: 1-3 % of the IOD wide stands out of it; the pixel's colour is first smoothed over FLATTEN_GRAIN IOD so pores and
#: skin grain stay.
FLATTEN_SCALE = 0.06
FLATTEN_GRAIN = 0.012
#: Most a pixel is lifted or dimmed per unit weight (fraction of its brightness), and the reach (IOD) of a
#: feature's footprint around its drawn lines where the photo's own crease is looked for.
FLATTEN_MAX = 0.5
FLATTEN_REACH = 0.05
#: Outer lip contour (mediapipe face mesh): the lips' own colour and the mouth corners' shadow are no crease.
OUTER_LIPS = tuple(int(i) for i in np.r_[LIPS_OUTER_UPPER, LIPS_OUTER_LOWER[-2:0:-1]])
#: Segments of a drawn line (its depth tapers to 0 at both ends).
TAPER_SEGMENTS = 16
#: Per-channel shadow slopes (:func:`shadow_slopes`) are kept in this range: a crease may deepen the skin's hue,
#: never invert it.
SLOPE_RANGE = (0.5, 2.0)
#: Skin pixels whose brightness lies outside these percentiles (specular highlights; brows, nostrils, stubble,
#: hair over the face) are left out of the shadow-colour fit; so is skin within this many IOD of the eyes and lips.
SKIN_PERCENTILES = (5.0, 95.0)
SKIN_MARGIN = 0.075
#: The face's skin colour is smoothed over this many IOD before the fit (sensor noise, skin grain).
SKIN_SMOOTH = 0.01
#: Brows (mediapipe face mesh, subject's right and left): hair, not skin.
_BROWS = ((46, 53, 52, 65, 55, 107, 66, 105, 63, 70), (276, 283, 282, 295, 285, 336, 296, 334, 293, 300))

#: A point: (landmark a, landmark b, t, du, dv) = lerp(a, b, t) + IOD * (du * x_face + dv * y_face), with
#: x_face the unit axis from the subject's right eye to the left (image right on a frontal face) and y_face
#: its perpendicular pointing to the chin; IOD the photo's inter-ocular distance (outer eye corners).
Point = tuple[int, int, float, float, float]


@dataclass(frozen=True)
class Line:
    """A polyline of :data:`Point` drawn as a ridge (height +1) or a groove (-1) of half-width ``width``
    (IOD fraction) scaled by ``depth``, tapering to 0 at both ends from its deepest point at ``peak`` (fraction
    of its length from the first point; 0.5: the middle)."""

    points: tuple[Point, ...]
    width: float
    depth: float
    peak: float = 0.5


@dataclass(frozen=True)
class Feature:
    """One wrinkle / bulge map: its lines and the ARKit blendshapes that activate it (name -> weight)."""

    name: str
    lines: tuple[Line, ...]
    activation: dict[str, float]


def _resample(points: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) points evenly spaced by arc length along the (P, 2) polyline."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    u = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(u, s, points[:, 0]), np.interp(u, s, points[:, 1])], 1)


def _p(a: int, b: int | None = None, t: float = 0.0, du: float = 0.0, dv: float = 0.0) -> Point:
    return (a, a if b is None else b, t, du, dv)


def _mirror(points: tuple[Point, ...], pairs: dict[int, int]) -> tuple[Point, ...]:
    """The same points on the other side of the face (landmark pairs, du negated)."""
    return tuple((pairs.get(a, a), pairs.get(b, b), t, -du, dv) for a, b, t, du, dv in points)


#: Subject's right -> left landmark pairs used by the features (mediapipe face mesh).
_LR = {55: 285, 107: 336, 33: 263, 129: 358, 206: 426, 216: 436, 212: 432, 61: 291, 105: 334, 70: 300,
       103: 332, 67: 297, 119: 348, 50: 280,
       # the nose's sides (:func:`_nose_wrinkler`)
       188: 412, 174: 399, 236: 456, 198: 420, 209: 429, 49: 279, 64: 294, 98: 327}


def _sided(name: str, lines_right: tuple[Line, ...], activation_right: dict[str, float]) -> list[Feature]:
    left = tuple(Line(_mirror(ln.points, _LR), ln.width, ln.depth, ln.peak) for ln in lines_right)
    act_left = {k.replace("Right", "Left"): v for k, v in activation_right.items()}
    return [Feature(f"{name}_right", lines_right, activation_right), Feature(f"{name}_left", left, act_left)]


#: Forehead rows (brow landmark, hairline-side landmark) from the subject's right to left: a line at height ``t``
#: runs through ``lerp(brow, upper, t)`` of each row.
_FOREHEAD_ROWS = ((105, 67), (107, 109), (9, 10), (336, 338), (334, 297))
#: Half-span (IOD, from the midline) of AU1's central lines beyond the brow heads' column.
FOREHEAD_CENTRE_REACH = 0.12


def _forehead_line(t: float, depth: float) -> Line:
    """A horizontal forehead line at height ``t`` across both brows' middles (AU1+2: the whole frontalis)."""
    return Line(tuple(_p(a, b, t) for a, b in _FOREHEAD_ROWS), 0.018, depth)


def _forehead_centre_line(t: float, depth: float) -> Line:
    """A horizontal line at height ``t`` over the middle of the forehead only, a little past the brow heads (AU1
    alone: the frontalis' medial part lifts the inner brows, and its wrinkles do not reach the brow tails)."""
    (ra, rb), (ca, cb), (la, lb) = _FOREHEAD_ROWS[1], _FOREHEAD_ROWS[2], _FOREHEAD_ROWS[3]
    r = FOREHEAD_CENTRE_REACH
    return Line((_p(ra, rb, t, du=-r), _p(ra, rb, t), _p(ca, cb, t), _p(la, lb, t), _p(la, lb, t, du=r)),
                0.018, depth)


#: Nose wrinkler (AU9) depths and line width (IOD) below the root of the nose (``nose_wrinkle`` draws the
#: creases across the root): the oblique "bunny lines" down its sides and the furrow round each raised wing.
NOSE_SIDE_DEPTH = -0.7
ALAR_DEPTH = -1.0
NOSE_LINE_WIDTH = 0.014
ALAR_LINE_WIDTH = 0.012


def _nose_wrinkler() -> list[Feature]:
    """AU9 maps below the root of the nose (FACS Investigator's Guide): oblique wrinkles that run from the bridge
    down and out over each side of the nose, and the furrow around each raised nose wing, so disgust's nose
    reads at a glance next to anger's snarl (AU10, which deepens the nasolabial fold below the wing:
    ``nasolabial``). Only the nose wrinkler drives them, which a photo's fit never reads (``face.fit``: an
    ambiguous component), so the photo's own creases around the nose are never flattened and every frame
    without AU9 is as before."""
    w = NOSE_LINE_WIDTH
    sides = _sided("nose_side", (
        Line((_p(6, 197, 0.8, du=-0.035), _p(188, 174, 0.6, dv=0.02)), w, NOSE_SIDE_DEPTH),
        Line((_p(197, 195, 0.4, du=-0.035), _p(174, 236, 0.6, dv=0.02)), w, NOSE_SIDE_DEPTH * 0.8),
    ), {"noseSneerRight": 1.0})
    alar = _sided("alar_furrow", (
        Line((_p(198, 209, 0.5), _p(49, du=-0.012), _p(64, du=-0.012, dv=0.005), _p(98, dv=0.012)),
             ALAR_LINE_WIDTH, ALAR_DEPTH),
    ), {"noseSneerRight": 1.0})
    return [*sides, *alar]


#: AU15's fold (FACS Investigator's Guide: the depressed corner pouches and wrinkles the skin below it), on the
#: subject's right: the groove from the lip corner down and slightly out to above the jaw line (IOD), deepest a
#: third of the way down and fading out below, as a labiomandibular fold does; the skin lateral to it pushed out
#: a little. One long soft line: a short one is squeezed into a dark dot when the warp pulls the corner down.
MARIONETTE = (
    Line((_p(61, du=-0.01, dv=0.0), _p(61, du=-0.04, dv=0.14), _p(61, du=-0.08, dv=0.34)), 0.03, -0.8, 0.3),
    Line((_p(61, du=-0.10, dv=0.06), _p(61, du=-0.13, dv=0.16), _p(61, du=-0.16, dv=0.30)), 0.06, 0.4),
)

#: The wrinkle and bulge maps (FACS Investigator's Guide appearance changes per AU).
FEATURES: tuple[Feature, ...] = tuple(
    # AU4 brow lowerer: vertical furrows between the brows, the skin between them bulging
    _sided("glabella", (
        Line((_p(55, 285, 0.36, 0, 0.02), _p(107, 336, 0.34, 0, -0.10)), 0.022, -1.3),
        Line((_p(55, 285, 0.5, 0, 0.0), _p(107, 336, 0.5, 0, -0.08)), 0.05, 0.35),
    ), {"browDownRight": 1.0})
    # AU1 inner brow raiser: horizontal lines in the middle of the forehead only (FACS Investigator's Guide: they
    # do not run across the whole forehead; with AU4, sadness's oblique brows, they stay central and short). Drawn
    # across the whole forehead, sadness wore surprise's and fear's lines
    + [Feature("forehead_centre", (_forehead_centre_line(0.28, -0.8), _forehead_centre_line(0.5, -0.7),
                                   _forehead_centre_line(0.7, -0.45)), {"browInnerUp": 0.7})]
    # AU1+2 (surprise, fear): the lines run across the whole forehead (surprise's sides as deep as before the split,
    # fear's, with less AU2, about 30 % shallower; no category raises the outer brows without the inner ones, so AU2
    # drives the full width)
    + [Feature("forehead", (_forehead_line(0.28, -0.8), _forehead_line(0.5, -0.7), _forehead_line(0.7, -0.45)),
               {"browOuterUpLeft": 0.5, "browOuterUpRight": 0.5})]
    # AU12/AU10/AU6: the nasolabial fold deepens, the cheek above it bulges
    + _sided("nasolabial", (
        Line((_p(129, du=-0.03, dv=0.0), _p(206, du=-0.03), _p(216, du=-0.02), _p(212, du=-0.0, dv=0.04)),
             0.022, -1.0),
        Line((_p(129, du=-0.10, dv=0.02), _p(206, du=-0.12), _p(216, du=-0.10)), 0.07, 0.5),
    ), {"mouthSmileRight": 1.0, "mouthUpperUpRight": 0.6, "noseSneerRight": 0.5, "cheekSquintRight": 0.3})
    # AU6 cheek raiser: crow's feet at the outer eye corner, the cheek bulging under the eye
    + _sided("crows_feet", (
        Line((_p(33, du=-0.07, dv=-0.01), _p(33, du=-0.20, dv=-0.07)), 0.012, -0.8),
        Line((_p(33, du=-0.08, dv=0.01), _p(33, du=-0.22, dv=0.02)), 0.012, -0.8),
        Line((_p(33, du=-0.07, dv=0.03), _p(33, du=-0.19, dv=0.10)), 0.012, -0.7),
        Line((_p(33, 61, 0.3, du=0.02), _p(33, 61, 0.3, du=0.02)), 0.10, 0.6),
    ), {"cheekSquintRight": 1.0})
    # AU9 nose wrinkler (and AU4's procerus, weaker): horizontal lines across the root of the nose
    + [Feature("nose_wrinkle", (
        Line((_p(168, du=-0.07, dv=0.03), _p(168, dv=0.0), _p(168, du=0.07, dv=0.03)), 0.012, -0.6),
        # oblique lines on the sides of the nasal root, running down and out towards the inner eye corners; the
        # bony ridge of the nose between them stays smooth (a second crease across it made a ladder of dashes)
        Line((_p(6, du=-0.035, dv=0.0), _p(6, 197, 0.5, du=-0.11, dv=0.05)), 0.012, -0.5),
        Line((_p(6, du=0.035, dv=0.0), _p(6, 197, 0.5, du=0.11, dv=0.05)), 0.012, -0.5),
    ), {"noseSneerLeft": 0.5, "noseSneerRight": 0.5, "browDownLeft": 0.15, "browDownRight": 0.15})]
    # AU9 further down the nose (sides, wings): _nose_wrinkler
    + _nose_wrinkler()
    # AU17 chin raiser: the chin boss bulges, the groove under the lower lip deepens
    + [Feature("chin_boss", (
        Line((_p(18, 152, 0.5), _p(18, 152, 0.5)), 0.12, 0.9),
        Line((_p(17, 18, 0.7, du=-0.14), _p(17, 18, 0.9), _p(17, 18, 0.7, du=0.14)), 0.025, -0.8),
    ), {"mouthShrugLower": 1.0})]
    # AU15 lip corner depressor: a fold from the lip corner down and a little out towards the jaw line, deepest
    # near the corner, the skin beside it bagging (marionette_fold)
    + _sided("marionette", MARIONETTE, {"mouthFrownRight": 1.0})
)


def activation_matrix(features: tuple[Feature, ...] = FEATURES) -> np.ndarray:
    """(52, K) float32: ARKit weights (T, 52) @ this = feature weights (T, K)."""
    M = np.zeros((NUM_ARKIT, len(features)), np.float32)
    for k, f in enumerate(features):
        for name, w in f.activation.items():
            M[ARKIT_INDEX[name], k] += w
    return M


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(x_face (2,), y_face (2,), IOD px) from (478, 2+) pixel landmarks (outer eye corners 33 and 263)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    e = lm[263] - lm[33]
    iod = float(np.hypot(*e))
    ex = e / max(iod, 1e-6)
    return ex, np.array([-ex[1], ex[0]]), iod


def estimate_light(photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(2,) image-plane direction towards the key light, length 0.3..1 (how one-sided the light is).

    A plane is fitted to the luminance of skin patches (forehead, cheeks, chin) against their position
    in face coordinates; its gradient points to the light on a convex face."""
    import cv2

    lm = np.asarray(landmarks, np.float64)[:, :2]
    ex, ey, iod = face_axes(lm)
    grey = cv2.GaussianBlur(cv2.cvtColor(np.ascontiguousarray(photo), cv2.COLOR_RGB2GRAY).astype(np.float32),
                            (0, 0), max(1.0, 0.04 * iod))
    H, W = grey.shape
    patches = (151, 9, 108, 337, 50, 280, 205, 425, 119, 348, 199, 187, 411)
    c = lm[list(patches)].mean(0)
    X, y = [], []
    for i in patches:
        px, py = np.clip(np.round(lm[i]).astype(int), 0, (W - 1, H - 1))
        d = (lm[i] - c) / iod
        X.append([1.0, d @ ex, d @ ey])
        y.append(float(grey[py, px]))
    coef, *_ = np.linalg.lstsq(np.array(X), np.array(y), rcond=None)
    g = coef[1] * ex + coef[2] * ey  # luminance per IOD, image coordinates
    mag = float(np.hypot(*g)) / max(float(coef[0]), 1.0)
    if mag < 1e-6:
        return np.array([0.0, -0.3])  # flat light: assume it comes from above
    return g / np.hypot(*g) * float(np.clip(mag * 2.0, 0.3, 1.0))


def skin_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """(H, W) bool: the face's skin inside the face oval of (478, 2+) pixel landmarks, less the eyes, brows and
    lips with a margin of ``SKIN_MARGIN`` IOD."""
    import cv2

    lm = np.asarray(landmarks, np.float64)[:, :2]
    iod = face_axes(lm)[2]
    loops = topo.loops()

    def poly(idx) -> np.ndarray:  # a landmark loop as cv2 polygon points (4 bits of subpixel)
        return np.round(lm[list(idx)] * 16).astype(np.int32)

    face = np.zeros(shape, np.uint8)
    cv2.fillPoly(face, [poly(loops["face_oval"])], 1, cv2.LINE_8, 4)
    holes = np.zeros_like(face)
    for idx in (loops["eye_left"], loops["eye_right"], OUTER_LIPS, *_BROWS):
        cv2.fillPoly(holes, [poly(idx)], 1, cv2.LINE_8, 4)
    r = max(1, int(round(SKIN_MARGIN * iod)))
    holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return (face > 0) & (holes == 0)


def shadow_slopes(photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(3,) float32 per-channel exponents ``s_c`` with which the photo's own face skin darkens: over the skin
    pixels (:func:`skin_mask`, brightness within ``SKIN_PERCENTILES``) the least-squares slope of log(channel)
    against log(luma). A shadow on skin is deeper in the skin's own hue (light that reaches a crease has
    scattered under the skin and lost more green and blue than red), so on warm skin red falls slower than luma
    (s_R < 1) and blue faster (s_B > 1); a greyscale photo gives exactly (1, 1, 1). A luminance gain ``g``
    applied as ``g ** s_c`` per channel then gives a drawn crease the colour the photo's own shadows have.
    The slopes are scaled so that the skin's mean luma still changes by ``g`` (the crease's depth is the
    template's), and kept within ``SLOPE_RANGE``. The whole face is fitted, not only its fine detail: JPEG
    stores colour at half resolution, so fine creases alone read too grey."""
    import cv2

    lm = np.asarray(landmarks, np.float64)[:, :2]
    iod = face_axes(lm)[2]
    rgb = cv2.GaussianBlur(np.asarray(photo, np.float32), (0, 0), max(0.6, SKIN_SMOOTH * iod))
    mask = skin_mask(rgb.shape[:2], lm)
    px = rgb[mask]
    if len(px) < 50:
        return np.ones(3, np.float32)
    y = px @ LUMA
    lo, hi = np.percentile(y, SKIN_PERCENTILES)
    px = px[(y > lo) & (y < hi) & (px.min(1) > 2.0)]
    if len(px) < 50:
        return np.ones(3, np.float32)
    logc = np.log(px.astype(np.float64))
    logy = np.log(px.astype(np.float64) @ LUMA)
    dy = logy - logy.mean()
    var = float(dy @ dy)
    if var < 1e-9 * len(dy):  # a flat face: nothing to learn from
        return np.ones(3, np.float32)
    s = (logc - logc.mean(0)).T @ dy / var
    share = LUMA * np.exp(logc.mean(0))  # each channel's share of the skin's luma
    s = s / float(share @ s / share.sum())
    return np.clip(s, *SLOPE_RANGE).astype(np.float32)


def _reach(maps: np.ndarray, eps: float = 2e-4) -> np.ndarray:
    """(K, 4) int: for each of the (K, h, w) maps the rows r0:r1 and columns c0:c1 holding every value above
    ``eps`` in magnitude (0, 0, 0, 0 for an empty map)."""
    out = np.zeros((len(maps), 4), np.int64)
    for k, m in enumerate(maps):
        rows, cols = np.flatnonzero((np.abs(m) > eps).any(1)), np.flatnonzero((np.abs(m) > eps).any(0))
        if rows.size:
            out[k] = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return out


class ExpressionShading:
    """Per-photo wrinkle gain maps; ``apply(weights)`` gives the shaded photo for one frame.

    photo: (H, W, 3) uint8; landmarks: (478, 2+) its pixel landmarks. ``maps``: (K, h, w) float32 gain
    change per unit weight over ``box`` (x0, y0, x1, y1); ``light``: (2,) from :func:`estimate_light`.
    """

    def __init__(self, photo: np.ndarray, landmarks: np.ndarray, features: tuple[Feature, ...] = FEATURES) -> None:
        self.photo = np.ascontiguousarray(photo)
        self.features = features
        self.matrix = activation_matrix(features)
        lm = np.asarray(landmarks, np.float64)[:, :2]
        self.light = estimate_light(photo, lm)
        ex, ey, iod = face_axes(lm)
        H, W = photo.shape[:2]
        lines = [[self._points(ln.points, lm, ex, ey, iod) for ln in f.lines] for f in features]
        allp = np.concatenate([p for f in lines for p in f])
        pad = 0.3 * iod
        x0, y0 = np.maximum(np.floor(allp.min(0) - pad).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(allp.max(0) + pad).astype(int), (W, H))
        self.box = (int(x0), int(y0), int(x1), int(y1))
        self.maps = np.stack([self._feature_map(f, pts, iod) for f, pts in zip(features, lines)]).astype(np.float32)
        self.flatten = self._flatten_maps(lm, iod)
        self._roi = self.photo[y0:y1, x0:x1].astype(np.float32)
        self._flat_colour = self._flatten_colour(iod)
        #: (3,) exponents of the gain per channel: the colour of this photo's own skin shadows
        self.slopes = shadow_slopes(photo, lm)
        # the largest log gain each pixel takes without clipping a channel: a brightened highlight keeps its hue
        # (clipping red first turned bright skin blue-white: specks on the chin boss of a fair face)
        self._log_headroom = (np.log(255.0 / np.maximum(self._roi, 1.0)) / self.slopes).min(axis=2).astype(np.float32)
        self._buf = self.photo.copy()
        self._dirty = np.s_[0:0, 0:0]
        #: (K, 4) rows r0, r1 and columns c0, c1 (in the box) outside which a map / flatten map is ~0
        self._map_reach = _reach(self.maps)
        self._flatten_reach = _reach(self.flatten)

    @staticmethod
    def _points(points, lm, ex, ey, iod) -> np.ndarray:
        a = np.array([p[0] for p in points])
        b = np.array([p[1] for p in points])
        t = np.array([p[2] for p in points])[:, None]
        off = np.array([[p[3], p[4]] for p in points])
        return lm[a] * (1 - t) + lm[b] * t + iod * (off[:, :1] * ex + off[:, 1:] * ey)

    def _feature_map(self, feature: Feature, lines: list[np.ndarray], iod: float) -> np.ndarray:
        import cv2

        x0, y0, x1, y1 = self.box
        h = np.zeros((y1 - y0, x1 - x0), np.float32)
        gain = np.zeros_like(h)
        for ln, pts in zip(feature.lines, lines):
            sigma = max(0.6, ln.width * iod)
            canvas = np.zeros_like(h)
            if len(pts) == 1 or np.allclose(pts, pts[0]):
                p = np.round((pts[0] - (x0, y0)) * 16).astype(np.int32)
                cv2.circle(canvas, (int(p[0]), int(p[1])), 16, 1.0, -1, cv2.LINE_AA, 4)
            else:  # tapered towards both ends, as real creases fade out
                q = _resample(pts, TAPER_SEGMENTS + 1)
                p = np.round((q - (x0, y0)) * 16).astype(np.int32)
                skew = np.log(0.5) / np.log(np.clip(ln.peak, 0.05, 0.95))  # s = peak -> 0.5: the deepest point
                for j in range(TAPER_SEGMENTS):
                    s = ((j + 0.5) / TAPER_SEGMENTS) ** skew
                    cv2.line(canvas, tuple(map(int, p[j])), tuple(map(int, p[j + 1])),
                             float(np.sin(np.pi * s) ** 0.6), 1, cv2.LINE_AA, 4)
            canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
            peak = float(canvas.max())
            if peak <= 0:
                continue
            hl = canvas / peak * ln.depth
            gy, gx = np.gradient(hl)
            slope = (gx * self.light[0] + gy * self.light[1]) * sigma
            occ = OCCLUSION if ln.depth < 0 else OCCLUSION * BULGE_BRIGHTENING
            gain += occ * hl - RELIEF * slope
            h += hl
        return gain

    def _flatten_maps(self, lm: np.ndarray, iod: float) -> np.ndarray:
        """(K, h, w) float32 0..1: the share of each feature's footprint ``M_k`` in which a unit of negative weight
        flattens the photo's own relief (an expression ratio image, Liu, Shan and Zhang 2001, taken from the photo
        itself): there the pixel's colour, smoothed over its fine texture, is moved to the local mean colour
        (:meth:`_flatten_colour`), which fills a crease darker than the mean and dims a bump brighter than it (a
        smile's raised cheek), so a fold the photo's expression made is taken out where it is, not where the
        template draws it. Weight -1 flattens the footprint to its local mean. Lips and eye openings are kept."""
        import cv2

        x0, y0, x1, y1 = self.box
        lum = np.zeros((y1 - y0, x1 - x0), np.float32)
        keep = np.ones_like(lum, np.uint8)  # no crease inside the lips or the eye openings
        loops = topo.loops()
        for poly in (OUTER_LIPS, loops["eye_left"], loops["eye_right"]):
            cv2.fillPoly(keep, [np.round((lm[list(poly)] - (x0, y0)) * 16).astype(np.int32)], 0, cv2.LINE_AA, 4)
        keep = cv2.erode(keep, np.ones((5, 5), np.uint8)).astype(np.float32)
        keep = cv2.GaussianBlur(keep, (0, 0), 1.5)
        out = np.zeros_like(self.maps)
        for k in range(len(self.features)):
            foot = np.abs(self.maps[k])
            if foot.max() <= 0:
                continue
            foot = cv2.GaussianBlur(foot / foot.max(), (0, 0), FLATTEN_REACH * iod)
            foot = np.clip(foot / max(float(foot.max()), 1e-6) * 3.0, 0.0, 1.0)
            out[k] = foot * keep
        return out

    def _flatten_colour(self, iod: float) -> np.ndarray:
        """(h, w, 3) float32: what flattening adds per unit of :attr:`flatten` fraction: the local mean colour
        (Gaussian, ``FLATTEN_SCALE`` IOD) less the pixel's colour smoothed over ``FLATTEN_GRAIN`` IOD (its fine
        texture stays), its lightness change at most ``FLATTEN_MAX`` of the pixel's. A crease is thus filled
        with the colour of the skin around it, not lifted in grey with its own tint kept (a smiling photo's
        olive-brown fold became a thin yellow line in the neutral frame)."""
        import cv2

        roi = self._roi
        mean = cv2.GaussianBlur(roi, (0, 0), FLATTEN_SCALE * iod)
        smooth = cv2.GaussianBlur(roi, (0, 0), max(0.6, FLATTEN_GRAIN * iod))
        d = mean - smooth
        dl, sl = d @ LUMA, np.maximum(smooth @ LUMA, 1.0)
        cap = np.minimum(1.0, FLATTEN_MAX * sl / np.maximum(np.abs(dl), 1e-3))
        return (d * cap[..., None]).astype(np.float32)

    def weights(self, arkit: np.ndarray) -> np.ndarray:
        """(T, K) float32 feature weights from (T, 52) ARKit blendshape weights. Negative weights (an
        expression the photo has and the frame has not, e.g. the photo's smile in a neutral frame) flatten
        that fraction of the photo's own relief in the feature's footprint (:meth:`_flatten_maps`), down to
        -NEGATIVE_LIMIT."""
        return np.maximum(np.asarray(arkit, np.float32) @ self.matrix, -NEGATIVE_LIMIT)

    def apply(self, weights: np.ndarray) -> np.ndarray:
        """The photo (H, W, 3) uint8 shaded with (K,) feature weights (a view of an internal buffer, valid
        until the next call); the photo itself when every weight is ~0. Only the rectangle the active maps
        reach is computed."""
        w = np.asarray(weights, np.float32)
        pos, neg = np.flatnonzero(w > 1e-3), np.flatnonzero(w < -1e-3)
        reach = np.concatenate([self._map_reach[pos], self._flatten_reach[neg]])
        reach = reach[(reach[:, 0] < reach[:, 1]) & (reach[:, 2] < reach[:, 3])]  # an empty map reaches nothing
        if len(reach) == 0:
            return self.photo
        r0, r1, c0, c1 = int(reach[:, 0].min()), int(reach[:, 1].max()), int(reach[:, 2].min()), int(reach[:, 3].max())
        roi = self._roi[r0:r1, c0:c1]
        g = np.zeros(roi.shape[:2], np.float32)
        if pos.size:  # the frame's expression beyond the photo's: drawn wrinkles and bulges
            g += np.tensordot(w[pos], self.maps[pos, r0:r1, c0:c1], axes=1)
        np.clip(1.0 + g, *GAIN_RANGE, out=g)
        np.log(g, out=g)
        np.minimum(g, self._log_headroom[r0:r1, c0:c1], out=g)
        out = np.exp(g[..., None] * self.slopes)  # g ** s_c: the crease in the photo's own shadow colour
        out *= roi
        if neg.size:  # the photo's expression the frame has not: its own creases filled with the skin around them
            frac = np.clip(np.tensordot(-w[neg], self.flatten[neg, r0:r1, c0:c1], axes=1), 0.0, 1.0)
            out += frac[..., None] * self._flat_colour[r0:r1, c0:c1]
        x0, y0 = self.box[:2]
        self._buf[self._dirty] = self.photo[self._dirty]  # the previous call's rectangle back to the photo
        self._dirty = np.s_[y0 + r0:y0 + r1, x0 + c0:x0 + c1]
        self._buf[self._dirty] = np.clip(out, 0, 255).astype(np.uint8)
        return self._buf
