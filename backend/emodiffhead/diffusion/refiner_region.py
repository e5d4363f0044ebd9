"""Where the refiner works: a square region per frame (mouth or face) that follows the moved landmarks, the
crop of that region (sub-pixel, any box, also past the image edge) and the soft blending mask (numpy + cv2).

A box is ``(cx, cy, side)`` float32 in frame pixels. Crops are ``(S, S, 3)``; a crop pixel ``(u, v)`` maps to
frame ``(cx - side/2 + (u + 0.5) * side / S - 0.5, ...)`` (pixel centres). The mask is computed in frame
pixels from the lip (or face-oval) polygon, feathered, multiplied by a taper that is 0 on the box border and
set to exactly 0 below 1/512: outside it the refined frame equals the warp frame bit for bit.
"""

from __future__ import annotations

import numpy as np

#: MediaPipe face-mesh outer-lip loop (61 = right corner, 291 = left corner).
OUTER_LIPS = np.array([61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185],
                      np.int32)
MOUTH_CORNERS = (61, 291)
EYE_CORNERS = (33, 263)  # outer eye corners: a face scale that expressions do not change
#: Box side / outer-eye-corner distance (mouth region); box side / face-oval extent (face region).
MOUTH_BOX = 1.1
FACE_BOX = 1.15
#: Mask: lip polygon grown by this fraction of the mouth width, feathered with this Gaussian sigma (mouth).
MOUTH_GROW = 0.28
MOUTH_FEATHER = 0.12
FACE_SHRINK = 0.04
FACE_FEATHER = 0.05
MASK_FLOOR = 1.0 / 512
REGIONS = ("mouth", "face")


def _face_oval() -> np.ndarray:
    from ..face import facemesh_topology as topo

    return topo.loops()["face_oval"]


def region_boxes(landmarks: np.ndarray, region: str = "mouth") -> np.ndarray:
    """Boxes (T, 3) float32 ``(cx, cy, side)`` from landmarks (T, 478, 2+) in frame pixels (the warp's moved
    landmarks, or landmarks detected on real frames: the same rule gives aligned crops of both).

    mouth: centred on the outer lips, side ``MOUTH_BOX`` x the outer-eye-corner distance (so the box does not
    breathe with the mouth). face: centred on the face oval, side ``FACE_BOX`` x its larger extent.
    """
    lm = np.asarray(landmarks, np.float32)[..., :2]
    if region == "mouth":
        c = lm[:, OUTER_LIPS].mean(1)
        side = MOUTH_BOX * np.linalg.norm(lm[:, EYE_CORNERS[1]] - lm[:, EYE_CORNERS[0]], axis=1)
    elif region == "face":
        oval = lm[:, _face_oval()]
        lo, hi = oval.min(1), oval.max(1)
        c = (lo + hi) / 2
        side = FACE_BOX * (hi - lo).max(1)
    else:
        raise ValueError(f"unknown region {region!r}: use one of {', '.join(REGIONS)}")
    return np.concatenate([c, np.maximum(side, 8.0)[:, None]], 1).astype(np.float32)


def _crop_matrix(box, size: int) -> np.ndarray:
    """2x3 affine taking frame pixels to crop pixels of a ``size`` crop of ``box``."""
    cx, cy, side = (float(v) for v in box)
    s = size / side
    return np.array([[s, 0, (side / 2 - cx) * s + 0.5 * s - 0.5],
                     [0, s, (side / 2 - cy) * s + 0.5 * s - 0.5]], np.float64)


def crop(image: np.ndarray, box, size: int) -> np.ndarray:
    """(H, W, C) image -> (size, size, C) crop of ``box`` (bilinear, or area-like when shrinking a lot;
    border pixels replicated past the image edge)."""
    import cv2

    img = np.asarray(image)
    side = float(box[2])
    if side > 2.0 * size:  # shrinking a lot: pre-blur so bilinear sampling does not alias
        k = side / size
        img = cv2.GaussianBlur(img, (0, 0), 0.4 * k)
    out = cv2.warpAffine(img, _crop_matrix(box, size), (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(size, size, -1) if img.ndim == 3 else out


def box_bounds(box, image_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer frame rectangle ``(x0, y0, x1, y1)`` covered by ``box``, clipped to the image."""
    cx, cy, side = (float(v) for v in box)
    H, W = image_hw
    x0, y0 = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
    x1, y1 = int(np.ceil(cx + side / 2)) + 1, int(np.ceil(cy + side / 2)) + 1
    return max(0, x0), max(0, y0), min(W, x1), min(H, y1)


def uncrop(crop_img: np.ndarray, box, rect: tuple[int, int, int, int]) -> np.ndarray:
    """A crop (S, S, C) float32 resampled into the frame rectangle ``rect`` (h, w, C) float32 (bilinear)."""
    import cv2

    S = crop_img.shape[0]
    x0, y0, x1, y1 = rect
    m = _crop_matrix(box, S)
    m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)  # rect pixel -> crop pixel
    out = cv2.warpAffine(np.ascontiguousarray(crop_img, np.float32), m, (x1 - x0, y1 - y0),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(y1 - y0, x1 - x0, -1)


def region_mask(landmarks: np.ndarray, rigid: np.ndarray | None, box, rect: tuple[int, int, int, int],
                region: str = "mouth") -> np.ndarray:
    """Soft mask (h, w) float32 in 0..1 over the frame rectangle ``rect`` for one frame.

    landmarks / rigid: (478, 2+) frame pixels. It follows the lips (mouth) or the face oval (face), is 0 on
    and outside the box border and exactly 0 wherever it would be below ``MASK_FLOOR``.
    """
    import cv2

    lm = np.asarray(landmarks, np.float32)[:, :2]
    x0, y0, x1, y1 = rect
    h, w = y1 - y0, x1 - x0
    if h <= 0 or w <= 0:
        return np.zeros((max(h, 0), max(w, 0)), np.float32)
    cx, cy, side = (float(v) for v in box)
    ss = 4  # supersampled polygon for smooth edges
    if region == "mouth":
        rig = lm if rigid is None else np.asarray(rigid, np.float32)[:, :2]
        mw = float(np.linalg.norm(rig[MOUTH_CORNERS[1]] - rig[MOUTH_CORNERS[0]]))
        poly, grow, sigma = lm[OUTER_LIPS], MOUTH_GROW * mw, MOUTH_FEATHER * mw
    elif region == "face":
        poly = lm[_face_oval()]
        ext = float((poly.max(0) - poly.min(0)).max())
        grow, sigma = -FACE_SHRINK * ext, FACE_FEATHER * ext
    else:
        raise ValueError(f"unknown region {region!r}: use one of {', '.join(REGIONS)}")
    img = np.zeros((h, w), np.uint8)
    pts = np.round((poly - np.array([x0, y0], np.float32)) * ss).astype(np.int32)
    big = np.zeros((h * ss, w * ss), np.uint8)
    cv2.fillPoly(big, [cv2.convexHull(pts)], 255)
    img = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    if abs(grow) >= 0.5:
        k = int(round(abs(grow))) * 2 + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        img = cv2.dilate(img, kernel) if grow > 0 else cv2.erode(img, kernel)
    img = cv2.GaussianBlur(img, (0, 0), max(sigma, 0.5))
    # taper to 0 at the box border (over 12 % of the side)
    xs = np.arange(x0, x1, dtype=np.float32)
    ys = np.arange(y0, y1, dtype=np.float32)
    band = 0.12 * side
    tx = np.clip((side / 2 - np.abs(xs - cx)) / band, 0, 1)
    ty = np.clip((side / 2 - np.abs(ys - cy)) / band, 0, 1)
    img = img * ty[:, None] * tx[None, :]
    img[img < MASK_FLOOR] = 0.0
    return img.astype(np.float32)


def blend_residual(frame: np.ndarray, residual: np.ndarray, box, mask: np.ndarray,
                   rect: tuple[int, int, int, int]) -> np.ndarray:
    """The warp ``frame`` (H, W, 3) uint8 plus ``mask`` x the crop ``residual`` (S, S, 3) float32 (in 0..255
    units) resampled into ``rect``; a new uint8 frame, equal to ``frame`` wherever the mask is 0."""
    out = np.array(frame, copy=True)
    x0, y0, x1, y1 = rect
    if x1 <= x0 or y1 <= y0 or not mask.any():
        return out
    res = uncrop(residual, box, rect)
    sub = out[y0:y1, x0:x1].astype(np.float32)
    new = np.clip(np.round(sub + mask[..., None] * res), 0, 255).astype(np.uint8)
    keep = mask <= 0
    new[keep] = out[y0:y1, x0:x1][keep]
    out[y0:y1, x0:x1] = new
    return out
