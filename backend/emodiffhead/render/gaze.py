"""Gaze for the warp renderer: the iris and pupil move inside the eye opening.

A warp moves the whole eye opening with the lids, so without this the irises stay where the photo has them
(and stretch into ovals when the lids open wide). Once per photo (:func:`find_iris`) each iris is located from
the face mesh's iris landmarks (468..477, mediapipe ``refine_landmarks``) and checked against the pixels (an
open eye, a plausible radius, an iris that stands out from the white around it); its edge is refined from the
pixels and it is cut out as a soft disc (:class:`IrisSprite`: the part the lids hide in the photo completed
ring by ring from the visible part), with the white of the eye behind it filled in row by row from the white
left and right of it (:func:`with_white`). Per frame (:func:`draw_iris`) the white is pasted where the warp
drew the photo's iris and the sprite is drawn where the head model puts the iris centre (its landmarks 468 /
473 follow the eye joints and the ``eyeLook*`` blendshapes), both clipped by the frame's lid contour with soft
edges, the iris lit like the white it lies on. It is blended in by the size of the move (and of the change of
the lid opening), so a still frame is the warp's own. Where a lid opens wider than in the photo, the white is
resampled before it is pasted stretched with the opening (:func:`uncovered_white`) and the sprite carries no
white from the band along the lids, so the lid's shadow stays at the lid instead of spreading into a grey cap
over the iris. Cost: 0.6-0.8 ms a frame for both eyes at 512 px.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from ..face import facemesh_topology as topo
from ..face.image import LUMA
from .eyes import lid_gap

log = logging.getLogger(__name__)

#: Iris landmarks of mediapipe's refined face mesh: (centre, four points on the rim) per iris.
IRIS_POINTS = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))
#: An eye is judged only when its opening (largest lid gap) is at least this fraction of its width.
MIN_OPENING = 0.12
#: Plausible iris radius, as a fraction of the eye's corner-to-corner width (adults: about 0.2).
RADIUS_RANGE = (0.1, 0.38)
#: The iris must differ from the white of the eye around it by this much (median colours, CIELAB in OpenCV's
#: 8-bit units: L 0..255) and not be lighter: the shared photos give 18 (grey-green irises on a pink white in a
#: dim photo) to 144; eyes behind dark glasses or a statue's blank eyes give little.
MIN_IRIS_CONTRAST = 12.0
#: The sprite is opaque to ``FADE_IN`` radii and fades to nothing at ``FADE_OUT``; the white behind it is filled
#: to ``FADE_IN`` (so a still frame composes back to the photo: the fill lies under the opaque part).
FADE_IN, FADE_OUT = 1.3, 1.5
#: Width of the rings (radii) whose visible colour completes the part of an iris the lids hide.
RING_STEP = 0.1
#: The iris radius is refined from the pixels within this range of the landmarks' radius.
RADIUS_REFINE = (0.8, 1.35)
#: Moves of the iris shorter than this (pixels) are blended in with their length (continuity at rest).
BLEND_PX = 0.5
#: Relative changes of the lid opening left to the warp, and the further change over which the round iris
#: is blended in.
OPENING_DEADZONE, OPENING_BLEND = 0.04, 0.1
#: Width (iris radii) of the lid's shadow band in the white along the lid lines.
LID_SHADOW = 0.3
#: Limits of the lighting gain (the white under the moved iris vs under the photo's).
LIGHT_GAIN = (0.75, 1.1)


@dataclass(frozen=True)
class IrisSprite:
    """One eye's iris cut from the photo.

    side: "left" / "right" (the eye, as ``facemesh_topology.eye_lines``); centre: (2,) float32 photo pixels;
    radius: pixels; origin: (2,) int top-left of the patch in the photo; colour: (h, w, 3) float32 the iris
    with its hidden part completed; alpha: (h, w) float32 the soft disc; lum: luminance of the filled white
    under the disc (the lighting reference); landmark: index of the iris centre landmark (468 or 473), whose
    moved position is where the iris is drawn; offset: (2,) float32 from that landmark to the centre found in
    the pixels (photo pixels); white, white_alpha: the white of the eye behind the iris (:func:`with_white`);
    lid_top: (w,) float32 per patch column the first row inside the photo's eye opening (where the upper lid
    is; :func:`uncovered_white`); gap: the photo's largest lid gap (px); lids: (K, 2) float32 the photo's eye
    opening outline (:func:`lid_polygon`).
    """

    side: str
    landmark: int
    centre: np.ndarray
    radius: float
    origin: np.ndarray
    colour: np.ndarray
    alpha: np.ndarray
    lum: float
    offset: np.ndarray
    white: np.ndarray | None = None
    white_alpha: np.ndarray | None = None
    lid_top: np.ndarray | None = None
    gap: float = 0.0
    lids: np.ndarray | None = None


def _opening_mask(lid_poly: np.ndarray, origin: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 0..1 antialiased coverage of the eye opening (polygon (K, 2) pixels) in a patch."""
    import cv2

    mask = np.zeros(shape, np.uint8)
    pts = np.round((lid_poly - origin) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _inside(opening: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels fully inside an opening mask and at least a pixel away from its edge."""
    import cv2

    return cv2.erode((opening >= 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _lum(rgb: np.ndarray) -> np.ndarray:
    return rgb @ LUMA


def lid_polygon(landmarks: np.ndarray, side: str) -> np.ndarray:
    """(K, 2) float32 outline of an eye opening: the upper lid line then the lower one back."""
    up, lo = topo.eye_lines(side)
    return np.concatenate([landmarks[up, :2], landmarks[lo[::-1], :2]]).astype(np.float32)


def iris_landmarks(landmarks: np.ndarray, side: str) -> tuple[int, ...] | None:
    """The iris landmark indices (centre first) that lie in eye ``side``, or None without iris landmarks."""
    if len(landmarks) < 478:
        return None
    up, lo = topo.eye_lines(side)
    eye = landmarks[np.concatenate([up, lo]), :2].mean(0)
    return min(IRIS_POINTS, key=lambda ids: float(np.linalg.norm(landmarks[ids[0], :2] - eye)))


def find_iris(photo: np.ndarray, landmarks: np.ndarray, side: str) -> tuple[IrisSprite | None, str]:
    """Locate and cut out one eye's iris: (sprite, "") or (None, why not) for photo (H, W, 3) uint8 and its
    (478, 2+) pixel landmarks."""
    import cv2

    lm = np.asarray(landmarks, np.float32)
    ids = iris_landmarks(lm, side)
    if ids is None:
        return None, "the face mesh gave no iris landmarks"
    up, lo = topo.eye_lines(side)
    width = float(np.linalg.norm(lm[up[-1], :2] - lm[up[0], :2]))
    gap = lid_gap(lm[up, :2], lm[lo, :2])
    if width < 6 or gap < MIN_OPENING * width:
        return None, f"the {side} eye is closed or too small in the photo"
    c = lm[ids[0], :2]
    radius = float(np.mean(np.linalg.norm(lm[list(ids[1:]), :2] - c, axis=1)))
    if not RADIUS_RANGE[0] * width <= radius <= RADIUS_RANGE[1] * width:
        return None, f"the {side} iris found has an implausible size ({radius / width:.2f} of the eye width)"
    H, W = photo.shape[:2]
    reach = FADE_OUT * RADIUS_REFINE[1] * radius + 2
    x0, y0 = np.floor(c - reach).astype(int)
    x1, y1 = np.ceil(c + reach).astype(int) + 1
    if x0 < 0 or y0 < 0 or x1 > W or y1 > H:
        return None, f"the {side} iris is at the image border"
    origin = np.array([x0, y0])
    patch = photo[y0:y1, x0:x1].astype(np.float32)
    opening = _opening_mask(lid_polygon(lm, side), origin, patch.shape[:2])
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.hypot(xx - c[0], yy - c[1]) / radius
    iris_px = (d <= 0.9) & (opening > 0.9)
    eye_box = lid_polygon(lm, side)
    ex0, ey0 = np.floor(eye_box.min(0)).astype(int)
    ex1, ey1 = np.ceil(eye_box.max(0)).astype(int) + 1
    ex0, ey0, ex1, ey1 = max(ex0, 0), max(ey0, 0), min(ex1, W), min(ey1, H)
    whole = _opening_mask(eye_box, np.array([ex0, ey0]), (ey1 - ey0, ex1 - ex0))
    eyy, exx = np.mgrid[ey0:ey1, ex0:ex1].astype(np.float32)
    white_px = (whole > 0.9) & (np.hypot(exx - c[0], eyy - c[1]) > 1.3 * radius)
    if iris_px.sum() < 6 or white_px.sum() < 6:
        return None, f"too little of the {side} iris or of the white around it is visible"
    lab = cv2.cvtColor(np.ascontiguousarray(photo[ey0:ey1, ex0:ex1]), cv2.COLOR_RGB2LAB).astype(np.float32)
    white_lab = np.median(lab[white_px], axis=0)
    iris_lab = np.median(cv2.cvtColor(np.ascontiguousarray(photo[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB)
                         .astype(np.float32)[iris_px], axis=0)
    contrast = float(np.linalg.norm(iris_lab - white_lab))
    if contrast < MIN_IRIS_CONTRAST or iris_lab[0] > white_lab[0]:
        return None, (f"no iris that stands out from the white of the {side} eye (colour difference {contrast:.0f}, "
                      f"need {MIN_IRIS_CONTRAST:.0f}; lightness {iris_lab[0]:.0f} vs {white_lab[0]:.0f})")
    mid = 0.5 * (float(np.median(_lum(patch)[iris_px]))
                 + float(np.median(_lum(photo[ey0:ey1, ex0:ex1].astype(np.float32))[white_px])))
    shift, radius = _iris_edges(_lum(patch), opening, c - origin, radius, mid)
    c = c + np.array([shift, 0.0], np.float32)
    d = np.hypot(xx - c[0], yy - c[1]) / radius
    # the sprite: the photo's pixels where the opening shows them (a pixel off the lid lines: the face mesh's line
    # runs over the lid's margin); the part of the iris the lids hide takes the median colour of the visible iris
    # at the same distance from the centre (the pupil, the iris' pattern and its dark rim stay round), blended
    # over a soft edge; no lid or lash pixel moves with the iris
    visible = _inside(opening)
    seen = cv2.GaussianBlur(visible.astype(np.float32), (5, 5), 1.0) * visible
    rings = np.minimum((d / RING_STEP).astype(int), int(1.0 / RING_STEP))
    ring_rgb = np.tile(np.median(patch[iris_px], axis=0), (int(1.0 / RING_STEP) + 1, 1))
    for k in range(len(ring_rgb)):
        sel = visible & (rings == k)
        if sel.sum() >= 3:
            ring_rgb[k] = np.median(patch[sel], axis=0)
    completed = np.where((d <= 1.0)[..., None], ring_rgb[rings], patch)
    colour = (patch * seen[..., None] + completed * (1 - seen[..., None])).astype(np.float32)
    shown = np.clip((FADE_OUT - d) / (FADE_OUT - FADE_IN), 0.0, 1.0)
    completed_edge = np.clip((1.08 - d) / 0.16, 0.0, 1.0)  # the completed iris' own soft rim
    # the white seen around the iris moves with it only away from the lids: the band under a lid lies in the
    # lid's shadow, which stays with the lid when the eye opens or looks up
    inside = cv2.distanceTransform((opening > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    seen = seen * np.where(d > 1.0, np.clip((inside - 1.0) / (LID_SHADOW * radius), 0.0, 1.0), 1.0)
    alpha = (seen * shown + (1 - seen) * completed_edge).astype(np.float32)
    sprite = IrisSprite(side, int(ids[0]), c.astype(np.float32), radius, origin, colour, alpha, 0.0,
                        (c - lm[ids[0], :2]).astype(np.float32), gap=gap, lids=lid_polygon(lm, side))
    return sprite, ""


def _iris_edges(lum: np.ndarray, opening: np.ndarray, c: np.ndarray, radius: float,
                mid: float) -> tuple[float, float]:
    """(x shift of the centre, radius) in pixels from where the luminance (h, w) first rises past ``mid``
    (halfway from iris to white) along horizontal rays left and right of the landmarks' centre ``c`` (2,) patch
    pixels, at three heights; the radius within RADIUS_REFINE of the landmarks' ``radius``, the shift within
    0.3 of it. (0, radius) where no ray reaches the white."""
    h, w = lum.shape
    ts = np.arange(0.6, 1.8, 0.1) * radius
    hits: dict[int, list[float]] = {-1: [], 1: []}
    for dy in (-0.3, 0.0, 0.3):
        y = int(round(c[1] + dy * radius))
        if not 0 <= y < h:
            continue
        for sgn in (-1, 1):
            for t in ts:
                x = int(round(c[0] + sgn * t))
                if not 0 <= x < w or opening[y, x] < 0.9:
                    break
                if lum[y, x] >= mid:
                    hits[sgn].append(float(t))
                    break
    lo, hi = RADIUS_REFINE[0] * radius, RADIUS_REFINE[1] * radius
    if hits[-1] and hits[1]:
        tl, tr = float(np.median(hits[-1])), float(np.median(hits[1]))
        return float(np.clip(0.5 * (tr - tl), -0.3 * radius, 0.3 * radius)), float(np.clip(0.5 * (tl + tr), lo, hi))
    found = hits[-1] + hits[1]
    return 0.0, float(np.clip(np.median(found), lo, hi)) if found else radius


def _fill_white(patch: np.ndarray, opening: np.ndarray, fill: np.ndarray, white_rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32: the ``fill`` pixels of ``patch`` replaced, row by row, by the interpolation between the
    white of the eye just left and right of them (pixels inside the ``opening`` and outside ``fill``); rows with
    no white beside them (the top and bottom of the opening) copy the nearest row that has some."""
    out = patch.copy()
    h, w = fill.shape
    ok = (opening > 0.9) & ~fill
    done, empty = {}, []
    for y in range(h):
        xs = np.nonzero(fill[y])[0]
        if xs.size == 0:
            continue
        a, b = int(xs.min()), int(xs.max())
        left = [x for x in range(a - 1, max(a - 4, -1), -1) if ok[y, x]]
        right = [x for x in range(b + 1, min(b + 4, w)) if ok[y, x]]
        if not left and not right:
            empty.append((y, xs))
            continue
        cl = patch[y, left].mean(0) if left else patch[y, right].mean(0)
        cr = patch[y, right].mean(0) if right else cl
        t = ((xs - a + 1) / (b - a + 2))[:, None]
        out[y, xs] = (1 - t) * cl + t * cr
        done[y] = (a, b)
    for y, xs in empty:
        if not done:
            out[y, xs] = white_rgb
            continue
        g = min(done, key=lambda r: abs(r - y))
        out[y, xs] = out[g, np.clip(xs, *done[g])]
    return out


def with_white(photo: np.ndarray, landmarks: np.ndarray, sprite: IrisSprite) -> IrisSprite:
    """The sprite with the white of the eye behind its iris filled in (``white``, ``white_alpha``: the patch
    over the disc, to ``FADE_IN`` radii, where the photo's opening is) and its lighting reference (``lum``: the
    white's luminance under the disc)."""
    import cv2

    h, w = sprite.alpha.shape
    x0, y0 = sprite.origin
    patch = photo[y0:y0 + h, x0:x0 + w].astype(np.float32)
    opening = _opening_mask(lid_polygon(np.asarray(landmarks, np.float32), sprite.side), sprite.origin, (h, w))
    yy, xx = np.mgrid[y0:y0 + h, x0:x0 + w].astype(np.float32)
    d = np.hypot(xx - sprite.centre[0], yy - sprite.centre[1]) / sprite.radius
    fill = (d <= FADE_IN) & (opening > 0.02)  # to the lids' very edge: the frame's own lid mask clips it
    rest = (opening > 0.9) & ~fill
    white = np.median(patch[rest], axis=0) if rest.any() else patch.reshape(-1, 3).max(0)
    filled = cv2.GaussianBlur(_fill_white(patch, opening, fill, white), (3, 3), 0.8)  # no row streaks
    soft = np.maximum(cv2.GaussianBlur(fill.astype(np.float32), (3, 3), 0.7), fill)
    weight = sprite.alpha * opening
    lum = float((_lum(filled) * weight).sum() / max(weight.sum(), 1e-6))
    inside = opening > 0.5
    top = np.where(inside.any(0), inside.argmax(0), h).astype(np.float32)
    return replace(sprite, white=filled.astype(np.float32), white_alpha=soft, lum=lum, lid_top=top)


def uncovered_white(sprite: IrisSprite, stretch: float) -> np.ndarray:
    """(h, w, 3) float32 the white patch to paste where an upper lid opened ``stretch`` (> 1) times as wide as
    in the photo: the patch is pasted stretched with the opening, so above the iris centre each column is
    resampled to show the photo's white at its true distance from the lid (the lid's shadow keeps its width,
    no grey cap over the iris of a wide eye) and, past the centre's height, the white beside the centre."""
    white, top = sprite.white, sprite.lid_top
    h = white.shape[0]
    cy = float(sprite.centre[1] - sprite.origin[1])
    if top is None or stretch <= 1.0 or not 0 <= cy < h - 1:
        return white
    y = np.arange(h, dtype=np.float32)[:, None]
    src = top[None] + stretch * (y - top[None])
    src = np.where(y < cy, np.clip(src, 0.0, cy), y)  # rows below the centre stay as they are
    i0 = np.clip(np.floor(src).astype(int), 0, h - 1)
    i1 = np.clip(i0 + 1, 0, h - 1)
    t = (src - i0)[..., None]
    cols = np.arange(white.shape[1])[None]
    return white[i0, cols] * (1 - t) + white[i1, cols] * t


def _paste(roi: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, M: np.ndarray, clip: np.ndarray,
           gain: float | None = None, ref_lum: float = 0.0) -> None:
    """Composite a (h, w, 3) patch with its (h, w) alpha, moved by the 2x3 map ``M`` (patch -> roi pixels) and
    clipped by ``clip`` (roi-sized 0..1), into the float32 ``roi`` in place. gain None: brightness scaled by the
    roi's luminance under the patch over ``ref_lum`` (within LIGHT_GAIN)."""
    import cv2

    size = (roi.shape[1], roi.shape[0])
    moved = cv2.warpAffine(np.dstack([rgb, alpha]).astype(np.float32), M, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = moved[..., 3] * clip
    if a.max() <= 0.004:
        return
    g = 1.0
    if gain is None and ref_lum > 1.0:
        g = float(np.clip((_lum(roi) * a).sum() / max(a.sum(), 1e-6) / ref_lum, *LIGHT_GAIN))
    a3 = a[..., None]
    roi *= 1 - a3
    roi += moved[..., :3] * g * a3


def draw_iris(image: np.ndarray, sprite: IrisSprite, centre: np.ndarray, corners_photo: np.ndarray,
              corners_now: np.ndarray, lid_poly: np.ndarray, gap: float | None = None) -> float:
    """Move the iris of the warped frame ``image`` (H, W, 3) uint8 in place to where ``centre`` (2,) pixels,
    the moved iris landmark, puts it; returns the move in pixels.

    The warp carried the photo's iris with the eye (scaled and rotated as the eye's (2, 2) corners moved from
    the photo to now); there the white of the eye is pasted over it, and the sprite is drawn at its new place,
    both clipped by the frame's eye opening ``lid_poly`` (K, 2) with soft edges, the iris' brightness following
    the white it lies on. The same is done where the lids open or close the eye (``gap``: the frame's largest
    lid gap, px) by more than OPENING_DEADZONE of the photo's: the warp would stretch or squash the iris with
    the opening, while a real iris stays round and the lids uncover the white above it (surprise) or slide
    over it (blinks). Moves under BLEND_PX and opening changes are blended in with their size, so the frame
    changes continuously and a still frame is the warp's own."""
    import cv2

    e0, e1 = corners_photo[1] - corners_photo[0], corners_now[1] - corners_now[0]
    s = float(np.hypot(*e1) / max(np.hypot(*e0), 1e-6))
    ang = float(np.arctan2(e1[1], e1[0]) - np.arctan2(e0[1], e0[0]))
    A = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    target = np.asarray(centre, np.float64) + A @ sprite.offset  # the landmark -> the centre found in the pixels
    # where and how the warp drew the photo's iris: the affine map that best takes the photo's eye outline to
    # the frame's (it stretches with an opening eye and squashes with a closing one, as the warp's strip does)
    src = np.hstack([sprite.lids, np.ones((len(sprite.lids), 1), np.float32)]).astype(np.float64)
    B = np.linalg.lstsq(src, np.asarray(lid_poly, np.float64), rcond=None)[0].T  # (2, 3)
    carried = B[:, :2] @ sprite.centre + B[:, 2]
    move = float(np.hypot(*(target - carried)))
    change = abs(gap / max(s * sprite.gap, 1e-6) - 1.0) if gap is not None and sprite.gap > 0 else 0.0
    w = min(1.0, max(move / BLEND_PX, (change - OPENING_DEADZONE) / OPENING_BLEND))
    if w < 0.02:
        return move
    reach = max(s, float(np.abs(B[:, :2]).sum(1).max())) * FADE_OUT * sprite.radius + 2
    H, W = image.shape[:2]
    x0, y0 = np.floor(np.minimum(target, carried) - reach).astype(int)
    x1, y1 = np.ceil(np.maximum(target, carried) + reach).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return move
    clip = _opening_mask(lid_poly, np.array([x0, y0]), (y1 - y0, x1 - x0))
    plain = image[y0:y1, x0:x1].astype(np.float32)
    roi = plain.copy()
    white = sprite.white
    if gap is not None and sprite.gap > 0 and gap > s * sprite.gap:  # the lid uncovers white: not stretched
        white = uncovered_white(sprite, gap / (s * sprite.gap))
    for at, L, rgb, alpha, gain in ((carried, B[:, :2], white, sprite.white_alpha, 1.0),
                                    (target, A, sprite.colour, sprite.alpha, None)):
        # patch pixel q -> roi pixel: L (q + origin - centre) + at - (x0, y0)
        t = at - np.array([x0, y0]) - L @ (sprite.centre - sprite.origin)
        _paste(roi, rgb, alpha, np.hstack([L, t[:, None]]), clip, gain, sprite.lum)
    image[y0:y1, x0:x1] = np.clip(np.round(plain + w * (roi - plain)), 0, 255).astype(np.uint8)
    return move


def prepare_gaze(photo: np.ndarray, landmarks: np.ndarray) -> tuple[list[IrisSprite], str]:
    """(sprites of both irises with the white behind them, "") for photo (H, W, 3) uint8 and its (478, 2+)
    landmarks, or ([], why) when an iris cannot be found (gaze is then off for the photo; logged as a warning)."""
    sprites = []
    for side in ("right", "left"):
        sp, why = find_iris(photo, landmarks, side)
        if sp is None:
            log.warning("gaze is off for this photo: %s", why)
            return [], why
        sprites.append(with_white(photo, landmarks, sp))
    return sprites, ""
