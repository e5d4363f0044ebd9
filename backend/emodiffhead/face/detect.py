"""Face detection gate and 478 face-mesh landmarks (mediapipe 0.10.21, models inside the wheel).

mediapipe's face mesh alone "finds" faces on dogs and alpacas, so the full-range face *detector*
(``FaceDetection(model_selection=1, min_detection_confidence=0.5)``) gates first; the mesh
(``FaceMesh(static_image_mode=True, refine_landmarks=True)``) then runs on a square crop around the
detected box. Landmarks are returned in pixels of the full image.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import FaceNotFoundError
from .image import as_rgb_uint8

#: Minimum side of the detected face box in pixels.
MIN_FACE_PX = 48
#: Largest fraction of the face box that may lie outside the image.
MAX_OUTSIDE = 0.12
NUM_LANDMARKS = 478

_lock = threading.Lock()
_models: dict[str, object] = {}
_warmed: set[str] = set()


@contextlib.contextmanager
def quiet_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Silence native (C++) writes to file descriptor 2 inside the block.

    mediapipe's graphs print a handful of harmless absl/TFLite warnings when a model is built and first
    run; they would bury the CLI's progress bar and error lines. Python-level ``sys.stderr`` output is
    flushed before and unaffected after.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _run(name: str, image: np.ndarray):
    """Run model ``name`` ("det" or "mesh") on an RGB image, silencing its first-use warnings."""
    model = _detector() if name == "det" else _mesh()
    first = name not in _warmed
    with quiet_native_stderr(first):
        res = model.process(image)
    _warmed.add(name)
    return res


def _detector():
    if "det" not in _models:
        from mediapipe.python.solutions import face_detection

        with quiet_native_stderr():
            _models["det"] = face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    return _models["det"]


def _mesh():
    if "mesh" not in _models:
        from mediapipe.python.solutions import face_mesh

        with quiet_native_stderr():
            _models["mesh"] = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                                                 min_detection_confidence=0.3)
    return _models["mesh"]


@dataclass(frozen=True)
class FaceDetection:
    """One face found in an image.

    box: (4,) float32 ``(x0, y0, x1, y1)`` pixels of the detector's face box.
    score: detector confidence 0..1.
    landmarks: (478, 3) float32 mediapipe face-mesh landmarks ``(x, y, z)`` in pixels (z: relative depth,
        same scale as x, smaller is closer to the camera).
    num_faces: how many faces the detector found (the largest is used).
    image_size: (H, W) of the image.
    warnings: human-readable notes (e.g. several faces).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    num_faces: int
    image_size: tuple[int, int]
    warnings: list[str] = field(default_factory=list)

    @property
    def face_size(self) -> float:
        """Side of the face box in pixels (geometric mean of width and height)."""
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return float(np.sqrt(max(w, 1e-6) * max(h, 1e-6)))


def detect_boxes(image_rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """All face boxes of the full-range detector: list of ((4,) x0 y0 x1 y1 pixels, score), largest first."""
    img = as_rgb_uint8(image_rgb)
    H, W = img.shape[:2]
    with _lock:
        res = _run("det", img)
    out = []
    for d in res.detections or []:
        bb = d.location_data.relative_bounding_box
        box = np.array([bb.xmin * W, bb.ymin * H, (bb.xmin + bb.width) * W, (bb.ymin + bb.height) * H], np.float32)
        out.append((box, float(d.score[0])))
    out.sort(key=lambda b: -float((b[0][2] - b[0][0]) * (b[0][3] - b[0][1])))
    return out


def mesh_in_box(image_rgb: np.ndarray, box: np.ndarray, margin: float = 0.6) -> np.ndarray | None:
    """Run the face mesh on a square crop around ``box`` (4,); (478, 3) pixel landmarks or None."""
    img = as_rgb_uint8(image_rgb)
    H, W = img.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * margin)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    # pad with edge pixels so the crop stays square when the face is near the border
    pad = max(0, -x0, -y0, x0 + s - W, y0 + s - H)
    src = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else img
    crop = src[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s]
    scale = 1.0
    if s > 768:  # the mesh model works at 192-256 px; large crops only cost time
        import cv2

        scale = 768 / s
        crop = cv2.resize(crop, (768, 768), interpolation=cv2.INTER_AREA)
    crop = np.ascontiguousarray(crop)
    with _lock:
        res = _run("mesh", crop)
    if not res.multi_face_landmarks:
        return None
    lm = res.multi_face_landmarks[0].landmark
    n = crop.shape[0]
    pts = np.array([(p.x * n, p.y * n, p.z * n) for p in lm], np.float32) / scale
    pts[:, 0] += x0
    pts[:, 1] += y0
    return pts


def check_face_size(box: np.ndarray, upscale: float = 1.0) -> None:
    """Raise FaceNotFoundError when the face box (4,) pixels is under MIN_FACE_PX in the original photo.

    upscale: how much the image the box was found in was enlarged from the user's photo (>= 1; a face
    blown up from a thumbnail has no detail to animate)."""
    side = float(min(box[2] - box[0], box[3] - box[1])) / max(float(upscale), 1.0)
    if side < MIN_FACE_PX:
        raise FaceNotFoundError(f"the face is too small ({side:.0f} px wide; need at least {MIN_FACE_PX} px)"
                                "; use a closer or larger photo")


def pick_face(boxes: list[tuple[np.ndarray, float]], face: int | None) -> tuple[np.ndarray, float]:
    """The (box, score) to use from ``detect_boxes``' list: the largest for face None, else face number
    ``face`` counted from 1 from left to right (by box centre); FaceNotFoundError when there is no such face."""
    if face is None:
        return boxes[0]
    ltr = sorted(boxes, key=lambda b: float(b[0][0] + b[0][2]))
    if not 1 <= int(face) <= len(ltr):
        raise FaceNotFoundError(f"--face {face}: the photo has {len(ltr)} face{'s' if len(ltr) != 1 else ''} "
                                f"(numbered 1-{len(ltr)} from left to right)")
    return ltr[int(face) - 1]


def detect_face(image_rgb: np.ndarray, face: int | None = None) -> FaceDetection:
    """Find the largest human face (or face number ``face``, 1.. from left to right) and its 478 landmarks.

    image_rgb: (H, W, 3) uint8. Raises :class:`FaceNotFoundError` naming the reason: no face, face too
    small (< MIN_FACE_PX), face cut off by the image border, landmarks not found, or no face ``face``.
    """
    img = as_rgb_uint8(image_rgb)
    H, W = img.shape[:2]
    boxes = detect_boxes(img)
    if not boxes:
        raise FaceNotFoundError("no face found in the photo (the face detector found no human face)")
    box, score = pick_face(boxes, face)
    warnings = []
    if len(boxes) > 1 and face is None:
        warnings.append(f"{len(boxes)} faces found; using the largest (--face N picks another, counted from "
                        "left to right)")
    elif len(boxes) > 1:
        warnings.append(f"{len(boxes)} faces found; using face {face} from the left")
    check_face_size(box)
    bw, bh = box[2] - box[0], box[3] - box[1]
    inside_w = max(0.0, min(box[2], W) - max(box[0], 0))
    inside_h = max(0.0, min(box[3], H) - max(box[1], 0))
    outside = 1.0 - inside_w * inside_h / max(bw * bh, 1e-6)
    if outside > MAX_OUTSIDE:
        raise FaceNotFoundError(f"the face is cut off by the image border ({outside:.0%} of it is outside)"
                                "; use a photo that shows the whole face")
    lmk = mesh_in_box(img, box)
    if lmk is None:
        raise FaceNotFoundError("no face found in the photo (a face box was detected but no face landmarks)")
    return FaceDetection(box=box, score=score, landmarks=lmk, num_faces=len(boxes), image_size=(H, W),
                         warnings=warnings)
