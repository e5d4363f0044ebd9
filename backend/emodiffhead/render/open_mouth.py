"""Closing the mouth of an open-mouthed photo once, before it is animated (the warp renderer's source).

An open mouth is closed the way a jaw closes it, not by stretching lips over the opening:

* :func:`lower_lip_thickness` measures the photo's own lower red lip in its pixels. On a wide-open mouth the
  face mesh's outer lower-lip landmarks often sit inside the lip (its lower half taken for chin), so the
  thickness is read from the redness profile outward from the inner lower lip and only ever extends the
  landmarks' own lip.
* :func:`meeting_line`: where the closed lips meet - the fitted head's lip contact at rest, about as straight as
  relaxed lips are (an open jaw pulls the corners down into an arch).
* :func:`closing_displacement` moves every landmark: each lip is unrolled from its curved inner line onto the
  meeting line, keeping its thickness (the lower lip's re-mapped to a closed lip's, :func:`closed_lip_thickness`:
  no tongue or teeth are stretched into it, nothing of it is left below); the opening closes to nothing; below
  the lower lip, chin and jaw line move with the head model's own jaw rotation, scaled so that the chin rises
  with the lower lip. Above the upper lip the motion fades out; the eyes and nose do not move.

The renderer warps the photo (its opening filled) by that motion once and paints the lips meeting there
(:func:`.mouth.paint_closed_lips`, down to :func:`closed_lower_border`); every frame then starts from those
closed lips.
"""

from __future__ import annotations

import numpy as np

from .mouth import LIPS_OUTER_LOWER, LIPS_OUTER_UPPER, mouth_frame, smoothstep

#: Lower red lip thickness (mouth widths) a measurement may not leave: thinner than this is the landmarks'
#: own lip at least, thicker is clipped (full lower lips measure about 0.2 of the mouth width).
LOWER_LIP_RANGE = (0.08, 0.25)
#: Thickest a closed upper lip gets by keeping its area (mouth widths; relaxed upper lips: 0.1-0.15).
UPPER_LIP_MAX = 0.15
#: The lower lip's border: where its redness has fallen this share of the way from the lip's to the skin's
#: (the red fades over a few pixels; lower would leave its faint edge below the closed lip).
BORDER_LEVEL = 0.3
#: Below the lower lip the motion turns from the lip's own into the jaw's over this many mouth widths.
LIP_TO_JAW = 0.35
#: Most a closed lip line may curve, from the corners' line to its middle (mouth widths).
MAX_LIP_LINE_CURVE = 0.05
#: Below the face, how much of the chin's rise the warp's rings around the face oval follow (the photo's
#: closing only; frames use the warp's defaults): the chin's outline and shadow rise with it, the neck stretches.
CHIN_RING_WEIGHTS = (0.97, 0.6, 0.25, 0.05)
#: Most the model's jaw rotation is scaled by to explain the photo's opening.
MAX_JAW_SCALE = 2.0


def _lab_a(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 CIELAB a* (green-red) of an RGB uint8 image."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB)[..., 1].astype(np.float32) - 128.0


def _arc(poly: np.ndarray) -> np.ndarray:
    """(K,) cumulative arc length of a (K, 2) polyline, 0..1."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(poly, axis=0), axis=1))])
    return s / max(float(s[-1]), 1e-9)


def _normals(poly: np.ndarray) -> np.ndarray:
    """(K, 2) unit normals of a (K, 2) polyline (tangent rotated +90 degrees in y-down image coordinates: for a
    line running across a mouth from its right corner to its left, they point down)."""
    t = np.gradient(np.asarray(poly, np.float64), axis=0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    return np.stack([-t[:, 1], t[:, 0]], 1)


def smooth_resample(poly: np.ndarray, samples: int = 41, sigma: float = 0.06) -> np.ndarray:
    """(samples, 2) a (K, 2) polyline resampled evenly by arc length and smoothed (Gaussian, ``sigma`` of its
    length), its ends kept: lip lines whose kinks would fan the texture unrolled around them."""
    poly = np.asarray(poly, np.float64)
    arc = _arc(poly)
    s = np.linspace(0.0, 1.0, samples)
    pts = np.stack([np.interp(s, arc, poly[:, c]) for c in range(2)], 1)
    k = np.arange(-samples, samples + 1) / (samples - 1)
    g = np.exp(-0.5 * (k / sigma) ** 2)
    # reflect through the ends (odd extension), so each end stays where it is
    ext = np.concatenate([2 * pts[0] - pts[1:][::-1], pts, 2 * pts[-1] - pts[:-1][::-1]])
    out = np.stack([np.convolve(ext[:, c], g / g.sum(), mode="same") for c in range(2)], 1)
    out = out[samples - 1:2 * samples - 1]
    out[0], out[-1] = pts[0], pts[-1]
    return out


def _on_line(points: np.ndarray, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s (N,), t (N,)): for (N, 2) points, the arc-length position 0..1 of the nearest point on the (K, 2)
    polyline and the signed distance to it along the line's :func:`_normals` (positive on their side)."""
    a, b = poly[:-1], poly[1:]
    ab = b - a
    L2 = np.maximum((ab ** 2).sum(1), 1e-12)
    h = np.clip(((points[:, None, :] - a[None]) * ab[None]).sum(2) / L2[None], 0.0, 1.0)  # (N, K-1)
    near = a[None] + h[..., None] * ab[None]
    d2 = ((points[:, None, :] - near) ** 2).sum(2)
    k = d2.argmin(1)
    idx = np.arange(len(points))
    arc = _arc(poly)
    s = arc[k] + h[idx, k] * (arc[k + 1] - arc[k])
    nrm = _normals(poly)
    nk = (1 - h[idx, k])[:, None] * nrm[k] + h[idx, k][:, None] * nrm[k + 1]
    t = ((points - near[idx, k]) * nk).sum(1)
    return s, t


def _offset(line: np.ndarray, smooth: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(N,) signed distance of a (K, 2) ``line`` from its ``smooth`` version at arc positions s (N,) there."""
    s_l, t_l = _on_line(line, smooth)
    k = np.argsort(s_l)
    return np.interp(s, s_l[k], t_l[k])


def _at(s: np.ndarray, poly: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """Values (K, ...) of a (K, 2) polyline's vertices (default: the points) interpolated at arc positions s."""
    arc = _arc(poly)
    vals = np.asarray(poly if values is None else values, np.float64)
    if vals.ndim == 1:
        return np.interp(s, arc, vals)
    return np.stack([np.interp(s, arc, vals[:, c]) for c in range(vals.shape[1])], -1)


def lower_lip_thickness(photo: np.ndarray, landmarks: np.ndarray, upper: np.ndarray,
                        lower: np.ndarray) -> np.ndarray:
    """(K,) float32 px: the thickness of the photo's lower red lip at each point of the (K,) inner lower lip
    line ``lower`` (``upper``: the inner upper line, for the mouth's frame), along the line's outward normal to
    where the redness (CIELAB a*) has fallen from the lip's level to ``BORDER_LEVEL`` of the way above the chin
    skin's. Never thinner than the landmarks' own lip (``LIPS_OUTER_LOWER``): where the colour does not tell lip
    from skin (greyscale, pale lips) that is the answer; 0 at the corners."""
    import cv2

    lm = np.asarray(landmarks, np.float64)[:, :2]
    o, e, n, w = mouth_frame(lm[upper[0]], lm[upper[-1]])
    base = lm[lower]
    nrm = _normals(base)
    arc = _arc(base)
    s_own, t_own = _on_line(lm[LIPS_OUTER_LOWER[1:-1]], base)
    k = np.argsort(s_own)
    own = np.interp(arc, np.r_[0.0, s_own[k], 1.0], np.r_[0.0, np.maximum(t_own[k], 0.0), 0.0])
    a = cv2.GaussianBlur(_lab_a(photo), (0, 0), max(1.0, 0.02 * w))
    H, W = a.shape
    steps = np.arange(0.0, 0.6 * w, 0.5)
    pts = base[:, None, :] + steps[None, :, None] * nrm[:, None, :]
    xs = np.clip(np.round(pts[..., 0]).astype(int), 0, W - 1)
    ys = np.clip(np.round(pts[..., 1]).astype(int), 0, H - 1)
    prof = a[ys, xs]  # (K, S) redness outward from the inner lower lip
    centre = np.abs(arc - 0.5) < 0.25
    # the chin skin: the redness far below the lip at the centre
    skin = float(np.median(prof[centre][:, -int(0.15 * w / 0.5) - 1:]))
    out = own.copy()
    for i in range(1, len(lower) - 1):
        start = int(own[i] / 0.5)
        if start >= len(steps) - 1:
            continue
        lip_level = float(prof[i, :max(start, 1) + 1].max())
        if lip_level - skin < 4.0:  # no colour contrast: keep the landmarks
            continue
        below = np.nonzero(prof[i, start:] < skin + BORDER_LEVEL * (lip_level - skin))[0]
        out[i] = steps[start + below[0]] if len(below) else own[i]
    return np.maximum(out, own).astype(np.float32)


def _length(poly: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(np.asarray(poly, np.float64), axis=0), axis=1).sum())


def closed_lip_thickness(thickness: np.ndarray, arc: np.ndarray, width: float, stretch: float = 1.0) -> np.ndarray:
    """(K,) px the lower lip's thickness once closed, at arc positions (K,) 0..1 of the inner lower lip: the
    measured (K,) ``thickness`` at the centre (median of the middle half) times ``stretch`` (how much longer the
    open lip's line is than the closed one's: a lip keeps its area, so what an open mouth stretches thin
    thickens again), within ``LOWER_LIP_RANGE`` of the closed mouth's ``width`` px, tapering into the corners as
    a relaxed lip does."""
    mid = np.abs(np.asarray(arc) - 0.5) < 0.25
    centre = float(np.median(thickness[mid])) if mid.any() else float(np.max(thickness))
    centre = float(np.clip(centre * max(stretch, 1.0), LOWER_LIP_RANGE[0] * width, LOWER_LIP_RANGE[1] * width))
    return (centre * np.clip(1.0 - (2 * np.asarray(arc) - 1) ** 2, 0.0, 1.0) ** 0.5).astype(np.float32)


def meeting_line(rest_upper: np.ndarray, rest_lower: np.ndarray,
                 max_curve: float = MAX_LIP_LINE_CURVE) -> np.ndarray:
    """(K, 2) where closed lips meet: the middle of the (K, 2) inner lip lines of the fitted head at rest (a
    neutral face posed into the photo, :func:`.drive.drive_from_track` of a still neutral track): a smooth
    curve through its middle, curved no more than ``max_curve`` mouth widths (an open jaw pulls the mouth's
    corners down into an arch; relaxed lips meet on a nearly straight line, so the corners rise to it)."""
    mid = 0.5 * (np.asarray(rest_upper, np.float64) + np.asarray(rest_lower, np.float64))
    o, e, n, w = mouth_frame(mid[0], mid[-1])
    u, v = (mid - o) @ e / w, (mid - o) @ n
    sag = float(np.interp(0.5, u, v))  # the middle over the corners' line (negative: arched, as an O is)
    kept = float(np.clip(sag, -max_curve * w, max_curve * w))
    v = sag - kept + kept * (1.0 - np.abs(2 * u - 1) ** 2.5)  # the middle stays, the corners follow it
    return o + np.outer(u * w, e) + np.outer(v, n)


#: Near the mouth's corners (this share of the lip line's length) the lips move with their corner instead of
#: being unrolled: the skin around a corner would otherwise swing round it and fold.
CORNER_ZONE = 0.15


def _near_corners(unrolled: np.ndarray, s: np.ndarray, line_move: np.ndarray) -> np.ndarray:
    """(N, 2) motion: ``unrolled`` (N, 2) blended, toward the ends of a lip line (arc positions s (N,)), into
    the motion of the nearer corner (first / last row of the line's (K, 2) ``line_move``)."""
    b = smoothstep((CORNER_ZONE - np.minimum(s, 1.0 - s)) / CORNER_ZONE)
    corner = np.where((s < 0.5)[:, None], line_move[0], line_move[-1])
    return (1.0 - b)[:, None] * unrolled + b[:, None] * corner


def closed_lower_border(meet: np.ndarray, lower_photo: np.ndarray, thickness: np.ndarray) -> np.ndarray:
    """(K, 2) the outer contour of the closed lower lip: the (K, 2) meeting line ``meet`` moved down by the
    closed thickness (:func:`closed_lip_thickness` of the (K,) px ``thickness`` measured along the photo's
    (K, 2) inner lower lip ``lower_photo``)."""
    meet = np.asarray(meet, np.float64)
    arc = _arc(np.asarray(lower_photo, np.float64))
    t = closed_lip_thickness(np.asarray(thickness, np.float64), arc, float(np.linalg.norm(meet[-1] - meet[0])),
                             _length(lower_photo) / _length(meet))
    return (meet + np.interp(_arc(meet), arc, t)[:, None] * _normals(meet)).astype(np.float32)


def closing_displacement(landmarks: np.ndarray, upper: np.ndarray, lower: np.ndarray, thickness: np.ndarray,
                         jaw_closing: np.ndarray, meet: np.ndarray) -> np.ndarray:
    """(N, 2) float32 px motion of the (N, 2+) ``landmarks`` that closes their mouth.

    upper, lower: (K,) inner lip lines, corner to corner; thickness: (K,) px the lower red lip's thickness at
    ``lower`` (:func:`lower_lip_thickness`); jaw_closing: (N, 2) px the head model's motion of the landmarks
    when its jaw closes from the photo's opening (scaled here so the chin rises as much as the lower lip).
    Each lip is unrolled onto the line where the lips meet (``meet`` (K, 2), :func:`meeting_line`): a point at
    arc position s and distance t from its (smoothed) inner lip line goes to the same s and t from the meeting
    line, so both lips keep their thickness and the stretch of an open mouth's curved lips is undone; the lower
    lip's measured thickness is re-mapped to a closed lip's (:func:`closed_lip_thickness`), and what lies inside
    the opening lands on the meeting line. Below the lower lip the motion turns into the jaw's over
    ``LIP_TO_JAW`` mouth widths, above the upper lip it fades out over as much; beside the corners only the jaw
    moves things."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    o, e, n, w = mouth_frame(lm[upper[0]], lm[upper[-1]])
    up, lo = lm[upper], lm[lower]
    meet = np.asarray(meet, np.float64)[:, :2]
    jc = np.asarray(jaw_closing, np.float64)[:, :2]
    m_nrm = _normals(meet)
    u = (lm - o) @ e / w
    side = smoothstep((np.abs(u - 0.5) - 0.5) / 0.4)  # 0 over the mouth, 1 beside the corners
    # the lower lip and what hangs below it
    lo_s = smooth_resample(lo)  # lines without kinks: nothing fans out below a kink when it is unrolled
    s_lo, t_lo = _on_line(lm, lo_s)
    t_lo = t_lo - _offset(lo, lo_s, s_lo)  # distances from the lip's own line
    t_photo = np.maximum(_at(s_lo, lo, thickness), 1.0)
    width = float(np.linalg.norm(meet[-1] - meet[0]))
    t_closed = _at(s_lo, lo, closed_lip_thickness(thickness, _arc(lo), width, _length(lo) / _length(meet)))
    # inside the opening (t < 0) everything lands on the meeting line: the opening closes to nothing
    t_new = np.where(t_lo <= 0, 0.0, np.where(t_lo < t_photo, t_lo * t_closed / t_photo, t_lo + t_closed - t_photo))
    new_lo = _at(s_lo, meet) + t_new[:, None] * _at(s_lo, meet, m_nrm)
    lip_move = _near_corners(new_lo - lm, s_lo, meet - lo)
    mid = len(lower) // 2
    rise = -float(jc[lower[mid]] @ n)
    centre_lift = -float((_at(_on_line(lo[mid:mid + 1], lo_s)[0], meet)[0] - lo[mid]) @ n)
    scale = float(np.clip(centre_lift / rise, 0.0, MAX_JAW_SCALE)) if rise > 0.5 else 0.0
    jaw = scale * jc
    to_jaw = np.maximum(smoothstep((t_lo - t_photo) / (LIP_TO_JAW * w)), side)
    lower_motion = (1.0 - to_jaw)[:, None] * lip_move + to_jaw[:, None] * jaw
    # the upper lip (its landmarks' thickness) and the skin above it
    up_s = smooth_resample(up)
    s_up, t_up = _on_line(lm, up_s)
    t_up = _offset(up, up_s, s_up) - t_up  # positive upward, into the upper lip
    s_o, t_o = _on_line(lm[LIPS_OUTER_UPPER[1:-1]], up_s)
    k = np.argsort(s_o)
    t_o = np.maximum(_offset(up, up_s, s_o[k]) - t_o[k], 1.0)  # the upper lip's thickness (its landmarks)
    up_thick = np.interp(s_up, s_o[k], t_o)
    # the upper lip keeps its area too (thicker by the stretch it loses), up to UPPER_LIP_MAX mouth widths
    grow = float(np.clip(_length(up) / _length(meet), 1.0, UPPER_LIP_MAX * width / float(np.interp(0.5, s_o[k], t_o))))
    t_up_new = np.where(t_up <= 0, 0.0, np.where(t_up < up_thick, t_up * grow, t_up + (grow - 1.0) * up_thick))
    new_up = _at(s_up, meet) - t_up_new[:, None] * _at(s_up, meet, m_nrm)
    up_move = _near_corners(new_up - lm, s_up, meet - up)
    fade = (1.0 - smoothstep((t_up - up_thick) / (LIP_TO_JAW * w))) * (1.0 - side)
    upper_motion = fade[:, None] * up_move + (1.0 - fade)[:, None] * jaw
    # which lip a point belongs to: the nearer inner line (beside the corners both turn into the jaw's motion)
    d_lo = np.linalg.norm(lm - _at(s_lo, lo_s), axis=1)
    d_up = np.linalg.norm(lm - _at(s_up, up_s), axis=1)
    is_lower = smoothstep((d_up - d_lo) / max(0.05 * w, 1.0) + 0.5)
    # above the upper inner line a point is never the lower lip's, however far (where both nearest points are the
    # same corner the distances tie, and half the lower lip's corner motion dragged the eyes with the mouth)
    is_lower *= 1.0 - smoothstep(t_up / max(0.05 * w, 1.0) + 0.5)
    out = is_lower[:, None] * lower_motion + (1.0 - is_lower)[:, None] * upper_motion
    out[lower] = _at(s_lo[lower], meet) - lo  # the inner lines land on the meeting line, as their lips do
    out[upper] = _at(s_up[upper], meet) - up
    # the outer corners go with the inner ones (unrolled, they would swing around the corner)
    out[[LIPS_OUTER_UPPER[0], LIPS_OUTER_UPPER[-1]]] = out[[upper[0], upper[-1]]]
    return out.astype(np.float32)

