"""Closed eyelids for the warp renderer.

When a lid closes, the warp stretches the upper lid's skin down to the lower lid, but the lash line and a
sliver of white of the eye along the lower lid stay behind. :func:`draw_lash_line` paints the closed
lash line over that seam, in the colour of the photo's own lashes, with an opacity that grows with the
closure.
"""

from __future__ import annotations

import numpy as np


def lash_colour(photo: np.ndarray, upper_line: np.ndarray) -> np.ndarray:
    """(3,) float32 colour of the photo's upper lash line: the darkest fifth of pixels along (K, 2) points."""
    H, W = photo.shape[:2]
    pts = np.concatenate([upper_line[:-1] * (1 - a) + upper_line[1:] * a for a in np.linspace(0, 1, 5)])
    xs = pts[:, 0].round().astype(int).clip(0, W - 1)
    ys = pts[:, 1].round().astype(int).clip(0, H - 1)
    px = photo[ys, xs].astype(np.float32)
    lum = px.mean(1)
    return px[lum <= np.percentile(lum, 20)].mean(0)


def lid_gap(upper: np.ndarray, lower: np.ndarray) -> float:
    """The largest gap (px) between an eye's (K, 2) upper and lower lid lines (corners shared)."""
    return float(np.max(np.linalg.norm(lower[1:-1] - upper[1:-1], axis=1))) if len(upper) > 2 else 0.0


def closure(upper: np.ndarray, lower: np.ndarray, open_gap: float) -> float:
    """0 (as open as the photo) .. 1 (shut) from the largest lid gap of (K, 2) lines vs the photo's gap (px)."""
    return float(np.clip(1.0 - lid_gap(upper, lower) / max(open_gap, 1e-6), 0.0, 1.0))


def draw_lash_line(image: np.ndarray, upper: np.ndarray, lower: np.ndarray, colour: np.ndarray, amount: float,
                   thickness: float) -> None:
    """Paint the lash line of a closing lid between the (K, 2) lid lines into ``image`` in place.

    amount: 0..1 opacity (from :func:`closure`); thickness: line width in pixels.
    """
    import cv2

    if amount <= 0.01:
        return
    line = (0.6 * upper + 0.4 * lower).astype(np.float32)
    H, W = image.shape[:2]
    x0, y0 = np.floor(line.min(0) - thickness - 2).astype(int)
    x1, y1 = np.ceil(line.max(0) + thickness + 3).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.round((line - (x0, y0)) * 16).astype(np.int32)
    cv2.polylines(mask, [pts], False, 255, thickness=max(1, int(round(thickness))), lineType=cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask, (3, 3), 0.6)
    a = (mask.astype(np.float32) / 255.0 * amount)[..., None]
    roi = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(roi + (colour[None, None] - roi) * a, 0, 255).astype(np.uint8)


def skin_colour_below(photo: np.ndarray, lower_line: np.ndarray, eye_width: float) -> np.ndarray:
    """(3,) float32 colour for a closed lid: the skin just below the lower lid (K, 2), slightly shaded."""
    H, W = photo.shape[:2]
    pts = lower_line[1:-1] + np.array([0.0, 0.18 * eye_width], np.float32)
    xs = pts[:, 0].round().astype(int).clip(0, W - 1)
    ys = pts[:, 1].round().astype(int).clip(0, H - 1)
    return 0.85 * photo[ys, xs].astype(np.float32).mean(0)  # a closed lid sits in a little shadow


def tone_lid(image: np.ndarray, closed_upper: np.ndarray, open_upper: np.ndarray, skin: np.ndarray,
             amount: float) -> None:
    """Match the colour of the stretched upper lid (between the open (K, 2) and closed (K, 2) lid lines)
    to ``skin`` (3,) by a per-channel gain, blended by ``amount`` 0..1; in place."""
    import cv2

    if amount <= 0.01:
        return
    poly = np.concatenate([open_upper, closed_upper[::-1]]).astype(np.float32)
    H, W = image.shape[:2]
    x0, y0 = np.floor(poly.min(0) - 2).astype(int)
    x1, y1 = np.ceil(poly.max(0) + 3).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask, (5, 5), 1.2)
    m = mask.astype(np.float32) / 255.0
    if m.sum() < 1:
        return
    roi = image[y0:y1, x0:x1].astype(np.float32)
    mean = (roi * m[..., None]).sum((0, 1)) / m.sum()
    gain = np.clip(skin / np.maximum(mean, 1.0), 0.6, 1.4)
    a = (m * amount)[..., None]
    image[y0:y1, x0:x1] = np.clip(roi * (1 + (gain - 1) * a), 0, 255).astype(np.uint8)
