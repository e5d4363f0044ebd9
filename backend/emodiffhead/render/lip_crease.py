"""The photo's own dark crease where its closed lips meet: lifted out of the warp source once, put back per frame
only where that frame's lips still meet.

A closed mouth photographed shows a dark line (2-4 px at 512 px, near black under a strong top light) where the
lips meet. The warp splits it when the mouth opens: half rides on the upper lip's inner edge, half on the lower
lip's, a dark ragged rim round the drawn interior. Real parted lips have lip-coloured inner margins.

:func:`measure_crease` (once per photo) reads the crease across the line where the inner lips meet, at every
pixel along the mouth: the luminance profile across the line, its darkest point near the line and, on each side,
where it has risen to its lip's level (the band's ends). The band is lifted to the level of its own lip at the
band's end (upper half to the upper lip's, lower half to the lower lip's; never darkened): a table of what was
added, per position along the mouth (u, mouth widths) and across the line (v, px from the middle of the inner
lip lines), fading out within ``CORNER_KEEP`` mouth widths of the corners (the commissure stays a dark recess).
:func:`lift_crease` adds it to the source; :func:`draw_crease` subtracts it from a frame along that
frame's inner lip lines, fully where they are no further apart than in the photo and fading out as they part
(gone ``part_px`` further apart): a still frame gets the photo's crease back, pixel for pixel, and an opening
shows lip-coloured margins round the interior that :func:`.mouth.draw_mouth` draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face.image import LUMA
from .mouth import mouth_frame, smooth_line, smoothstep

#: Half height (mouth widths) of the band across the lip line that the crease table covers.
TABLE_HALF = 0.12
#: Table step across the line (px).
TABLE_STEP = 0.5
#: The crease's darkest point is looked for this far (mouth widths, at least 1.5 px) beyond the inner lines.
CENTRE_REACH = 0.03
#: A crease's side ends where the profile has risen this share of its rise within ``SIDE_REACH`` mouth widths.
SIDE_LEVEL = 0.95
SIDE_REACH = 0.07
#: Within this many mouth widths of a corner the crease is lifted less (none at the corner).
CORNER_KEEP = 0.2
#: Lips further apart than in the photo by this many px show no crease (it fades in linearly below).
PART_PX = 2.0


@dataclass(frozen=True)
class LipCrease:
    """What :func:`measure_crease` lifted out of a photo's lip line.

    lift: (U, V, 3) float32 RGB levels added at U positions evenly along the mouth (u 0..1, corner to corner) and
    V offsets across the lip line (px from the middle of the inner lip lines, ``v0`` + j ``dv``, positive down);
    gap: (U,) float32 px between the photo's inner lip lines there."""

    lift: np.ndarray
    v0: float
    dv: float
    gap: np.ndarray


def _lines(upper: np.ndarray, lower: np.ndarray):
    """Mouth frame (o, e, n, w) of (K, 2+) inner lip lines and their smoothed curves as (u, v) samples."""
    up, lo = smooth_line(np.asarray(upper, np.float32)[:, :2]), smooth_line(np.asarray(lower, np.float32)[:, :2])
    o, e, n, w = mouth_frame(up[0].astype(np.float64), up[-1].astype(np.float64))

    def uv(p):
        d = p.astype(np.float64) - o
        u, v = d @ e / w, d @ n
        k = np.argsort(u)
        return u[k], v[k]

    return o, e, n, w, uv(up), uv(lo)


def measure_crease(photo: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> LipCrease:
    """The crease of ``photo`` (H, W, 3) uint8 along its closed lips' (K, 2+) inner lines (right to left
    corner): per position along the mouth, the lift that brings the dark band round the meeting line to its
    lip's level on each side (see the module doc)."""
    import cv2

    o, e, n, w, (uu, vu), (ul, vl) = _lines(upper, lower)
    U = max(8, int(np.ceil(w)) + 1)
    us = np.linspace(0.0, 1.0, U)
    v_up, v_lo = np.interp(us, uu, vu), np.interp(us, ul, vl)
    mid, gap = 0.5 * (v_up + v_lo), np.maximum(v_lo - v_up, 0.0)
    half = max(4.0, TABLE_HALF * w)
    vs = np.arange(-half, half + 1e-6, TABLE_STEP)
    V = len(vs)
    # sample positions: along the mouth at u, across it at v from the lines' middle
    px = o[0] + us[:, None] * w * e[0] + (mid[:, None] + vs[None]) * n[0]
    py = o[1] + us[:, None] * w * e[1] + (mid[:, None] + vs[None]) * n[1]
    prof = cv2.remap(np.asarray(photo, np.float32), px.astype(np.float32), py.astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # (U, V, 3)
    prof = cv2.GaussianBlur(prof, (1, 0), sigmaX=0, sigmaY=1.0)  # along the mouth (1 px) only
    lum = prof @ LUMA
    reach_c = max(1.5, CENTRE_REACH * w)
    reach_s = max(2.0, SIDE_REACH * w)
    lift = np.zeros((U, V, 3), np.float32)
    for i in range(U):
        near = np.nonzero(np.abs(vs) <= 0.5 * gap[i] + reach_c)[0]
        c = int(near[np.argmin(lum[i, near])])
        # a flat-bottomed crease: its bottom is the run of samples within a tenth of its depth of the darkest
        floor = lum[i, c] + 0.1 * (float(lum[i, near].max()) - lum[i, c])
        lo_c, hi_c = c, c
        while lo_c > 0 and lum[i, lo_c - 1] <= floor:
            lo_c -= 1
        while hi_c < V - 1 and lum[i, hi_c + 1] <= floor:
            hi_c += 1
        ends = []
        for start, step in ((lo_c, -1), (hi_c, 1)):  # up (toward the upper lip), down
            k = np.arange(start, start + step * int(round(reach_s / TABLE_STEP)) + step, step)
            k = k[(k >= 0) & (k < V)]
            rise = lum[i, k] - lum[i, start]
            top = float(rise.max())
            j = int(np.argmax(rise >= SIDE_LEVEL * top)) if top > 0 else 0
            ends.append(int(k[j]))
        c = (lo_c + hi_c) // 2
        a, b = ends
        level = np.where((np.arange(V) < c)[:, None], prof[i, a], prof[i, b])  # each half to its own lip's level
        # a pixel straddling a band's end is sampled part crease: the band reaches one px past its ends (where
        # the profile is already at its lip's level nothing is added)
        pad = int(round(1.0 / TABLE_STEP))
        band = (np.arange(V) >= a - pad) & (np.arange(V) <= b + pad)
        lift[i] = np.where(band[:, None], np.maximum(level - prof[i], 0.0), 0.0)
    lift = cv2.GaussianBlur(lift, (1, 0), sigmaX=0, sigmaY=0.7)  # no stair steps from one px to the next along
    # the corners keep their crease: it runs on past the corner landmarks (the commissure, a recess that stays
    # dark as the lips part), so a lifted line ending there would leave a dark dot beside the opening
    lift *= smoothstep(np.minimum(us, 1.0 - us) / CORNER_KEEP)[:, None, None].astype(np.float32)
    return LipCrease(lift=lift.astype(np.float32), v0=float(vs[0]), dv=TABLE_STEP, gap=gap.astype(np.float32))


def _apply(image: np.ndarray, crease: LipCrease, upper: np.ndarray, lower: np.ndarray, sign: float,
           part_px: float | None) -> np.ndarray:
    """Add ``sign`` x the crease's lift to ``image`` (H, W, 3) uint8 in place along the (K, 2+) inner lip
    lines; part_px: fade out where the lines are further apart than in the photo (None: everywhere)."""
    import cv2

    o, e, n, w, (uu, vu), (ul, vl) = _lines(upper, lower)
    U, V = crease.lift.shape[:2]
    half = max(abs(crease.v0), abs(crease.v0 + (V - 1) * crease.dv)) + 1.0
    us = np.linspace(0.0, 1.0, 9)
    mids = 0.5 * (np.interp(us, uu, vu) + np.interp(us, ul, vl))
    gmax = float(np.max(np.interp(us, ul, vl) - np.interp(us, uu, vu)))
    pts = np.concatenate([o + np.outer(us * w, e) + np.outer(mids + s * (half + max(gmax, 0.0)), n) for s in (-1, 1)])
    H, W = image.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 2, [W, H])
    if x1 <= x0 or y1 <= y0:
        return image
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = xs - o[0], ys - o[1]
    u = (dx * e[0] + dy * e[1]) / w
    vv = dx * n[0] + dy * n[1]
    v_up, v_lo = np.interp(u, uu, vu), np.interp(u, ul, vl)
    g = np.maximum(v_lo - v_up, 0.0)
    v = vv - 0.5 * (v_up + v_lo)
    hs = 0.5 * np.interp(u, np.linspace(0.0, 1.0, U), crease.gap)
    hf = 0.5 * g
    # the strip between the lines scales to the photo's; the lips outside it shift with their lines
    v_src = np.where(np.abs(v) <= hf, v * hs / np.maximum(hf, 1e-3), v - np.sign(v) * (hf - hs))
    row = (u * (U - 1)).astype(np.float32)  # the table's rows run along the mouth, its columns across
    col = ((v_src - crease.v0) / crease.dv).astype(np.float32)
    lift = cv2.remap(crease.lift, col, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    weight = sign * ((u >= 0) & (u <= 1))
    if part_px is not None:
        weight = weight * np.clip(1.0 - (g - 2 * hs) / part_px, 0.0, 1.0)
    roi = image[y0:y1, x0:x1]
    out = roi.astype(np.float32) + lift * weight[..., None].astype(np.float32)
    roi[...] = np.clip(np.round(out), 0, 255).astype(image.dtype)
    return image


def lift_crease(photo: np.ndarray, crease: LipCrease, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """A copy of ``photo`` (H, W, 3) uint8 with the crease lifted (``upper`` / ``lower``: its (K, 2+) inner lip
    lines, as measured)."""
    return _apply(np.array(photo, copy=True), crease, upper, lower, 1.0, None)


def draw_crease(image: np.ndarray, crease: LipCrease, upper: np.ndarray, lower: np.ndarray,
                part_px: float = PART_PX) -> np.ndarray:
    """The photo's crease put back into a frame ``image`` (H, W, 3) uint8 (in place; returned) along the frame's
    (K, 2+) inner lip lines: fully where they are no further apart than the photo's, fading out as they part
    further (gone at ``part_px`` more)."""
    return _apply(image, crease, upper, lower, -1.0, part_px)
