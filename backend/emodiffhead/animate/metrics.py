"""Measurements of animated heads used by tests and benchmarks (lip gap, mouth and brow geometry).

Lip gap from vertices: the lips region's midline vertices (|x| < 4 mm) are split into upper and lower
lip by their jaw skinning weight (lower lip follows the jaw); the gap is the lowest upper-lip point minus
the highest lower-lip point (metres; about 0 when the lips meet, negative when pressed).
"""

from __future__ import annotations

import numpy as np

from ..head.model import HeadModel, Joint


def lip_midline(head: HeadModel, half_width: float = 0.004) -> tuple[np.ndarray, np.ndarray]:
    """Vertex indices of the (upper, lower) lip midline of ``head`` (needs a ``lips`` region)."""
    if "lips" not in head.regions:
        raise ValueError(f"head model {head.name!r} has no 'lips' region")
    lips = np.asarray(head.regions["lips"])
    x0 = float(np.median(head.template[:, 0]))
    mid = lips[np.abs(head.template[lips, 0] - x0) < half_width]
    jaw = head.weights[mid, Joint.JAW]
    up, lo = mid[jaw < 0.5], mid[jaw >= 0.5]
    if len(up) == 0 or len(lo) == 0:
        raise ValueError(f"head model {head.name!r}: cannot split the lips into upper and lower")
    return up, lo


def lip_gap(head: HeadModel, vertices: np.ndarray) -> np.ndarray:
    """(T,) lip gap in metres for (T, V, 3) posed ``vertices``."""
    up, lo = lip_midline(head)
    v = np.asarray(vertices)
    return (v[:, up, 1].min(axis=1) - v[:, lo, 1].max(axis=1)).astype(np.float32)


def track_vertices(head: HeadModel, track, frames: np.ndarray | None = None) -> np.ndarray:
    """(T', V, 3) vertices of ``track`` (optionally only ``frames``) posed on ``head``."""
    idx = np.arange(track.num_frames) if frames is None else np.asarray(frames)
    return head.forward(expression=track.expression[idx], pose=track.pose[idx]).vertices


# mediapipe 478 landmark indices used for geometry (valid on the built-in head's embedding)
MOUTH_CORNERS = (61, 291)
UPPER_LIP_TOP = 0
BROW_INNER = (55, 285)
BROW_OUTER = (70, 300)
EYE_UPPER = (159, 386)
EYE_LOWER = (145, 374)
EYE_CORNERS = (33, 263)
NOSE_TIP = 1


def face_measures(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Geometry of (T, 478, 3) mediapipe-scheme landmarks, in inter-ocular units (IOD, outer eye corners).

    mouth_width; corner_lift (corner height relative to the upper-lip top, up +); brow_inner / brow_outer
    (brow above the eye corners' line); eye_open (upper minus lower lid); corner_asym (one corner above the
    other); lip_to_nose (nose tip above the upper lip: shrinks when the upper lip rises).
    """
    L = np.asarray(landmarks, np.float64)
    iod = np.linalg.norm(L[:, EYE_CORNERS[0]] - L[:, EYE_CORNERS[1]], axis=-1)
    eye_y = 0.5 * (L[:, EYE_CORNERS[0], 1] + L[:, EYE_CORNERS[1], 1])
    c = L[:, list(MOUTH_CORNERS)]
    return {
        "corner_asym": (c[:, 0, 1] - c[:, 1, 1]) / iod,  # subject-right corner (61, x < 0) above the left
        "lip_to_nose": (L[:, NOSE_TIP, 1] - L[:, UPPER_LIP_TOP, 1]) / iod,
        "mouth_width": np.linalg.norm(c[:, 0] - c[:, 1], axis=-1) / iod,
        "corner_lift": (c[:, :, 1].mean(1) - L[:, UPPER_LIP_TOP, 1]) / iod,
        "brow_inner": (L[:, list(BROW_INNER), 1].mean(1) - eye_y) / iod,
        "brow_outer": (L[:, list(BROW_OUTER), 1].mean(1) - eye_y) / iod,
        "eye_open": (L[:, list(EYE_UPPER), 1].mean(1) - L[:, list(EYE_LOWER), 1].mean(1)) / iod,
    }


#: Expected direction of each measure as intensity goes 0 -> 1, per emotion (FACS prototypes).
EXPECTED_EFFECTS: dict[str, dict[str, int]] = {
    "happy": {"mouth_width": +1, "corner_lift": +1},
    "sad": {"corner_lift": -1, "brow_inner": +1},
    "angry": {"brow_inner": -1, "brow_outer": -1},
    "surprised": {"brow_inner": +1, "brow_outer": +1, "eye_open": +1},
    "fearful": {"eye_open": +1, "mouth_width": +1, "brow_inner": +1},
    "disgusted": {"lip_to_nose": -1, "corner_lift": -1},
    "contemptuous": {"corner_asym": +1},
}
