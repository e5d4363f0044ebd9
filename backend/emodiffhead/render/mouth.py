"""The inside of the mouth for the warp renderer: dark cavity, upper and lower teeth, a tongue hint.

A warp can only stretch the thin line between closed lips; when they part, :func:`draw_mouth` paints the
opening (the polygon of the inner lip lines) in a mouth-aligned frame ``(u, v)``: u runs 0..1 from the
subject's right mouth corner to the left one, v is pixels along the face's downward direction. The teeth
edges come from the caller (upper teeth move with the skull, lower teeth with the jaw), so the teeth stay
put from frame to frame instead of following the lips. Colours are fixed per photo (:func:`mouth_style`),
so they are consistent across frames and match greyscale or colour photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Boundaries between teeth in u (0..1 across the mouth opening), symmetric about the centre.
_GAPS = np.array([0.5, 0.41, 0.59, 0.33, 0.67, 0.26, 0.74, 0.19, 0.81])


@dataclass(frozen=True)
class MouthStyle:
    """Colours (RGB floats 0..255) of the mouth interior for one photo."""

    cavity: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    lip_shadow: float = 0.55


def mouth_style(photo: np.ndarray, landmarks: np.ndarray) -> MouthStyle:
    """Colours matched to the photo: its exposure (skin brightness) and whether it is greyscale.

    photo: (H, W, 3) uint8; landmarks: (478, 2+) pixels.
    """
    import cv2

    lmk = np.asarray(landmarks, np.float32)[:, :2]
    # skin sample: the cheeks and forehead
    pts = lmk[[50, 280, 151, 9, 205, 425]].round().astype(int)
    H, W = photo.shape[:2]
    pts[:, 0] = pts[:, 0].clip(0, W - 1)
    pts[:, 1] = pts[:, 1].clip(0, H - 1)
    blur = cv2.blur(photo, (5, 5)).astype(np.float32)
    skin = blur[pts[:, 1], pts[:, 0]].mean(0)
    lum = float(skin.mean())
    gain = np.clip(lum / 170.0, 0.45, 1.25)
    chroma = float(np.abs(photo.astype(np.float32) - photo.mean(2, keepdims=True)).mean())
    grey = chroma < 3.0

    def col(rgb):
        c = np.asarray(rgb, np.float32) * gain
        if grey:
            c = np.full(3, c @ np.array([0.299, 0.587, 0.114], np.float32))
        return np.clip(c, 0, 255)

    return MouthStyle(cavity=col((46, 18, 20)), teeth=col((205, 190, 165)), tongue=col((118, 52, 56)))


def _frame(corner_r: np.ndarray, corner_l: np.ndarray):
    """Mouth frame: origin, unit axis across the mouth, unit down normal, mouth width (px)."""
    e = corner_l - corner_r
    w = float(np.hypot(*e))
    e = e / max(w, 1e-6)
    n = np.array([-e[1], e[0]], np.float32)  # rotate +90 deg in y-down image coords: points down
    return corner_r, e, n, max(w, 1e-6)


def _curve(points: np.ndarray, o, e, n, w):
    """(K, 2) image points -> sorted (u, v) samples for np.interp."""
    d = points - o
    u, v = d @ e / w, d @ n
    k = np.argsort(u)
    return u[k], v[k]


def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def draw_mouth(
    image: np.ndarray,
    lips_upper: np.ndarray,
    lips_lower: np.ndarray,
    teeth_upper_edge: np.ndarray,
    teeth_lower_edge: np.ndarray,
    style: MouthStyle,
    strength: float = 1.0,
) -> np.ndarray:
    """Paint the mouth opening into ``image`` (H, W, 3) uint8, in place, and return it.

    lips_upper / lips_lower: (K, 2) inner lip lines from the right to the left mouth corner (pixels).
    teeth_upper_edge: (K, 2) biting edge of the upper teeth; teeth_lower_edge: (K, 2) of the lower teeth.
    strength: 0..1 opacity of the painted interior (1 for a closed-mouth photo).
    """
    import cv2

    up = np.asarray(lips_upper, np.float32)
    lo = np.asarray(lips_lower, np.float32)
    o, e, n, w = _frame(up[0], up[-1])
    uu, vu = _curve(up, o, e, n, w)
    ul, vl = _curve(lo, o, e, n, w)
    gap = float(np.max(np.interp(np.linspace(0.2, 0.8, 7), ul, vl) - np.interp(np.linspace(0.2, 0.8, 7), uu, vu)))
    if gap < 1.2 or strength <= 0:
        return image
    H, W = image.shape[:2]
    poly = np.concatenate([up, lo[::-1]])
    x0, y0 = np.floor(poly.min(0)).astype(int) - 2
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.round((poly - (x0, y0)) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    a = mask.astype(np.float32) / 255.0
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.stack([xs + 0.5 - o[0], ys + 0.5 - o[1]], -1)
    u = d @ e / w
    v = d @ n
    v_up = np.interp(u, uu, vu)
    v_lo = np.interp(u, ul, vl)
    tu_u, tu_v = _curve(np.asarray(teeth_upper_edge, np.float32), o, e, n, w)
    tl_u, tl_v = _curve(np.asarray(teeth_lower_edge, np.float32), o, e, n, w)
    t_up = np.interp(u, tu_u, tu_v)
    t_lo = np.interp(u, tl_u, tl_v)
    side = np.abs(u - 0.5) * 2  # 0 centre .. 1 corners
    corner_shade = np.clip(1.0 - 1.1 * side ** 2, 0.05, 1.0)
    local_open = _smooth((v_lo - v_up - 2.0) / 3.0)  # teeth only where the lips are really apart
    # cavity: darker in the depth of the mouth
    depth = _smooth((v - v_up) / max(gap, 1.0)) * _smooth((v_lo - v) / max(gap, 1.0))
    col = style.cavity[None, None] * (0.9 - 0.5 * depth)[..., None] * corner_shade[..., None]
    # tongue: an ellipse resting on the lower teeth, visible when the jaw is open
    tc_v = t_lo + 0.02 * w
    tongue = _smooth(1.0 - ((u - 0.5) / 0.28) ** 2 - ((v - tc_v) / max(0.16 * w, 1.0)) ** 2)
    tongue_col = style.tongue[None, None] * (0.55 + 0.45 * _smooth((v - (tc_v - 0.16 * w)) / (0.1 * w + 1)))[..., None]
    col = col + (tongue_col * corner_shade[..., None] - col) * (0.85 * tongue)[..., None]
    # teeth: gaps between teeth, shadow toward the corners and under the lips
    gaps = np.exp(-(((u[..., None] - _GAPS) / 0.005) ** 2)).sum(-1)
    teeth_tex = (1.0 - 0.12 * np.clip(gaps, 0, 1)) * corner_shade
    lower_t = _smooth((v - t_lo) * 1.5 + 0.5) * (v > t_lo - 1) * local_open
    upper_t = _smooth((t_up - v) * 1.5 + 0.5) * (v < t_up + 1) * local_open
    col = col + (style.teeth[None, None] * (0.62 * teeth_tex)[..., None] - col) * (0.9 * lower_t)[..., None]
    edge_shade = 0.8 + 0.2 * _smooth((t_up - v) / 3.0)
    col = col + (style.teeth[None, None] * (teeth_tex * edge_shade)[..., None] - col) * upper_t[..., None]
    # shadow of the lips on the interior
    lip_sh = 1.0 - (1.0 - style.lip_shadow) * (1.0 - _smooth((v - v_up) / 3.0)) \
                 - 0.25 * (1.0 - _smooth((v_lo - v) / 2.0))
    col = col * lip_sh[..., None]
    alpha = (a * float(np.clip(strength, 0, 1)) * float(_smooth((gap - 1.2) / 3.0)))[..., None]
    roi = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(roi + (col - roi) * alpha, 0, 255).astype(np.uint8)
    return image
