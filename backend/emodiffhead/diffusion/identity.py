"""Identity guard: a face signature of whom a personal model learned, and a comparison with a new photo.

A signature (JSON-able dict) of one face image holds

- ``shape``: the fitted head's identity coefficients and ``landmarks``: expression-stable landmarks (eyes,
  brows, nose) normalised by a similarity transform. Both are recorded, but measured on the shared data
  (docs/diffusion.md) they do NOT separate people: the landmark fit is too regularised and head pose moves
  them more than identity does. So the verdict uses the two appearance parts:
- ``thumb``: a 40 x 40 grey thumbnail of the inner face aligned on the eyes and mouth corners, zero-mean and
  unit-variance (compared by normalised cross-correlation), and
- ``skin``: the CIELAB colour (L, a, b) of both cheeks.

A model stores several signatures (frames across its training clip); a photo is compared with the closest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EmodiffheadError

#: MediaPipe indices: eye corners and lids, brows, nose bridge, tip and wings, temples.
STABLE_LANDMARKS = np.array([33, 133, 159, 145, 362, 263, 386, 374, 70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
                             168, 6, 197, 195, 5, 4, 1, 98, 327, 2, 234, 454, 127, 356], np.int32)
#: Thresholds (measured in docs/diffusion.md on frames of one clip vs other people's photos).
NCC_THRESHOLD = 0.65     # thumbnail correlation below this: a different face
COLOUR_THRESHOLD = 8.0   # cheek colour difference (CIELAB delta E) above this: a different face
REFUSE_AT = 1.5          # normalised distance from which rendering is refused (between 1 and this: a warning)
THUMB = 40


class IdentityMismatchError(EmodiffheadError):
    """A personal model was asked to render a face other than the one it learned (the message says why)."""


def normalised_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(478, 2+) pixels -> (K, 2) float64 stable landmarks, centred, unit RMS radius, eyes horizontal."""
    p = np.asarray(landmarks, np.float64)[STABLE_LANDMARKS, :2]
    p = p - p.mean(0)
    eye = p[4:6].mean(0) - p[0:2].mean(0)
    a = -np.arctan2(eye[1], eye[0])
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    p = p @ R.T
    return p / max(float(np.sqrt((p ** 2).sum(1).mean())), 1e-9)


def aligned_face(image: np.ndarray, landmarks: np.ndarray, size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8: the face aligned so the eye centres and the mouth-corner midpoint land on fixed
    points (affine from 3 landmarks)."""
    import cv2

    lm = np.asarray(landmarks, np.float32)[:, :2]
    src = np.float32([lm[[33, 133]].mean(0), lm[[362, 263]].mean(0), lm[[61, 291]].mean(0)])
    dst = np.float32([[20, 24], [44, 24], [32, 50]]) * (size / 64.0)
    M = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(np.ascontiguousarray(image), M, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def face_signature(image: np.ndarray, landmarks: np.ndarray, shape: np.ndarray | None = None) -> dict[str, Any]:
    """Signature of one face: image (H, W, 3) uint8 RGB, its landmarks (478, 2+) pixels, optional fitted shape."""
    import cv2

    lab = cv2.cvtColor(aligned_face(image, landmarks), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0  # OpenCV's 8-bit Lab: L in 0..255, a/b offset by 128
    lab[..., 1:] -= 128.0
    skin = (lab[30:44, 8:20].reshape(-1, 3).mean(0) + lab[30:44, 44:56].reshape(-1, 3).mean(0)) / 2
    g = cv2.resize(lab[8:60, 8:56, 0], (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    g = (g - g.mean()) / (g.std() + 1e-6)
    sig = {"skin": [round(float(v), 2) for v in skin], "thumb": np.round(g, 2).ravel().tolist(),
           "landmarks": normalised_landmarks(landmarks).round(4).tolist()}
    if shape is not None:
        sig["shape"] = [round(float(v), 4) for v in np.asarray(shape).ravel()]
    return sig


def fit_signature(image: np.ndarray, fit) -> dict[str, Any]:
    """Signature of a photo fitted by :func:`~emodiffhead.face.fit.fit_head` (``fit.landmarks`` in its pixels)."""
    return face_signature(image, fit.landmarks, fit.shape)


def identity_distance(sig_a: dict[str, Any], sig_b: dict[str, Any]) -> tuple[float, float]:
    """(thumbnail distance, colour distance), each divided by its threshold (> 1: a different face)."""
    ta, tb = np.asarray(sig_a["thumb"], np.float64), np.asarray(sig_b["thumb"], np.float64)
    ncc = float((ta * tb).mean())
    d_thumb = (1.0 - ncc) / (1.0 - NCC_THRESHOLD)
    d_col = float(np.linalg.norm(np.asarray(sig_a["skin"]) - np.asarray(sig_b["skin"]))) / COLOUR_THRESHOLD
    return d_thumb, d_col


@dataclass
class IdentityVerdict:
    """same: whether the photo's face matches; distance: the larger normalised distance (1 = threshold);
    refuse: distance >= ``REFUSE_AT`` (clearly another face); reason: one line saying what differs and by how
    much."""

    same: bool
    distance: float
    reason: str

    @property
    def refuse(self) -> bool:
        return self.distance >= REFUSE_AT


def check_identity(trained: dict[str, Any] | list[dict[str, Any]], photo: dict[str, Any]) -> IdentityVerdict:
    """Compare a photo's signature with the model's (one or several: the closest thumbnail and the closest
    colour count)."""
    sigs = trained if isinstance(trained, list) else [trained]
    dists = [identity_distance(s, photo) for s in sigs]
    d_thumb = min(d[0] for d in dists)
    d_col = min(d[1] for d in dists)
    ncc = 1.0 - d_thumb * (1.0 - NCC_THRESHOLD)
    what = []
    if d_thumb > 1:
        what.append(f"the face pattern correlates {ncc:.2f} with the learned face (same person: >= {NCC_THRESHOLD})")
    if d_col > 1:
        what.append(f"the skin colour differs by {d_col * COLOUR_THRESHOLD:.0f} delta-E (same person: "
                    f"<= {COLOUR_THRESHOLD:.0f})")
    dist = max(d_thumb, d_col)
    reason = "; ".join(what) if what else f"face pattern {ncc:.2f}, skin colour {d_col * COLOUR_THRESHOLD:.0f} delta-E"
    return IdentityVerdict(same=dist <= 1.0, distance=dist, reason=reason)
