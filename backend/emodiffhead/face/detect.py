"""Face detection gate and 478 face-mesh landmarks (mediapipe 0.10.21, models inside the wheel).

mediapipe's face mesh alone "finds" faces on dogs and alpacas, so the full-range face *detector*
(``FaceDetection(model_selection=1, min_detection_confidence=0.5)``) gates first (retried on the photo
framed by a border when it finds nothing: it misses faces that fill the frame; then in overlapping tiles: it
misses faces a few percent of a large photo wide); the mesh
(``FaceMesh(static_image_mode=True, refine_landmarks=True)``) then runs on a square crop around the
detected box. The detector accepts monkeys, so a last check asks for the white of a human eye
(:func:`shows_eye_white`). Landmarks are returned in pixels of the full image.
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
from . import facemesh_topology as topo
from .image import as_rgb_uint8

#: Minimum side of the detected face box in pixels.
MIN_FACE_PX = 48
#: Largest fraction of the face that may lie outside the image: of the face-oval landmarks (a close-up's
#: detector box, which has margins around the face, may reach further out: up to MAX_BOX_OUTSIDE of it).
MAX_OUTSIDE = 0.12
MAX_BOX_OUTSIDE = 0.3
NUM_LANDMARKS = 478
#: When the detector finds no face, the photo is framed by a border of these fractions of its longer side
#: (filled with the colour of the photo's edge) and searched again: the full-range model misses faces
#: that fill the frame (close-ups), and finds them once they are framed.
RETRY_BORDERS = (0.25, 0.5)
#: When that finds nothing either, the photo is searched in overlapping square tiles (for each n, tiles 2 / (n + 1)
#: of the short side, neighbours overlapping by half; finer grids only while a tile keeps ``TILE_MIN_PX``): the
#: detector sees the photo at 192 x 192 px, so a face under about 5 % of a large photo's width (a wide shot, a
#: group) is a few pixels there and missed whole. A 66 px face in a 3000 px photo is found from n = 4.
TILE_GRIDS = (2, 3, 4, 6, 8)
TILE_MIN_PX = 400
#: Two boxes from neighbouring tiles are the same face when they overlap this much (intersection over their union
#: or over the smaller box).
SAME_FACE_IOU = 0.3
#: A face whose eye openings are all darker than this fraction of the skin below them shows no white of the
#: eye (sclera): human eyes show a white sclera, other primates' and most animals' eyes are dark throughout.
MIN_SCLERA_RATIO = 0.45
#: ... or whose eye opening, outside the iris, is no brighter than this multiple of the iris itself: the white of a
#: human eye is the brightest part of the eye (Kobayashi and Kohshima 1997: of the primates only humans show a
#: white sclera beside a darker iris), even where the eyes lie in shadow. An elderly woman's narrow eyes behind
#: glasses (matplotlib's Grace Hopper photo) read 0.38 against the skin below them but 2.4-3.1 against the iris
#: (the photo scaled 0.6-2 x); the other human photos 1.67 (blue eyes: a light iris is closest to its white) to
#: 12; an eye brown throughout, its dark pupil up to 0.8 of the iris wide, 1.0.
MIN_SCLERA_IRIS_CONTRAST = 1.4
#: The white is the opening's brightest tenth outside IRIS_MARGIN x the iris radius (the limbus and the lids'
#: shadow over it left out: a white in shadow is a thin sliver at the corners); the iris is the median of its
#: outer ring, from IRIS_RING_INNER of its radius out (the pupil left out: a wide pupil in a brown eye would
#: otherwise pass for an iris beside a white).
SCLERA_PERCENTILE = 90
IRIS_RING_INNER = 0.6
IRIS_MARGIN = 1.25
#: Eyes opened less than this fraction of their width are not judged (closed, blinking, squinting or
#: smiling eyes, where lids and lashes darken the opening: a real speaker's half-blinks at 0.07-0.27 read
#: 0.08-0.43 and were refused at 0.12; open eyes of the shared photos measure 0.30-0.45).
MIN_EYE_OPENING = 0.28

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


def detect_boxes_framed(image_rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """:func:`detect_boxes`, retried on the photo framed by a border (``RETRY_BORDERS``) when it finds no
    face; boxes in the photo's pixels (a close-up's box may reach past its edges)."""
    import cv2

    img = as_rgb_uint8(image_rgb)
    boxes = detect_boxes(img)
    if boxes:
        return boxes
    H, W = img.shape[:2]
    edge = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]).reshape(-1, 3)
    colour = tuple(float(v) for v in np.median(edge, axis=0))
    for f in RETRY_BORDERS:
        b = int(round(f * max(H, W)))
        framed = cv2.copyMakeBorder(img, b, b, b, b, cv2.BORDER_CONSTANT, value=colour)
        boxes = detect_boxes(framed)
        if boxes:
            return [(box - np.float32(b), score) for box, score in boxes]
    return detect_boxes_tiled(img)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """The larger of the intersection over union and over the smaller box of (4,) boxes ``a`` and ``b``: a face
    cut by a tile's edge is a small box inside the whole face's box."""
    w = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    h = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = w * h
    area_a, area_b = float((a[2] - a[0]) * (a[3] - a[1])), float((b[2] - b[0]) * (b[3] - b[1]))
    return max(inter / max(area_a + area_b - inter, 1e-6), inter / max(min(area_a, area_b), 1e-6))


def _tiles(H: int, W: int, n: int) -> list[tuple[int, int, int]]:
    """(y0, x0, side) of square tiles 2 / (n + 1) of the photo's short side, neighbours overlapping by half,
    covering the photo (a panorama gets more tiles along its long side, none squashed)."""
    side = int(round(2 * min(H, W) / (n + 1)))
    ys = np.linspace(0, H - side, max(1, int(np.ceil((H - side) / (side / 2))) + 1)).round().astype(int)
    xs = np.linspace(0, W - side, max(1, int(np.ceil((W - side) / (side / 2))) + 1)).round().astype(int)
    return [(int(y), int(x), side) for y in ys for x in xs]


def detect_boxes_tiled(image_rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """:func:`detect_boxes` on overlapping square tiles of the photo (grids ``TILE_GRIDS``, while a tile keeps
    ``TILE_MIN_PX``), for faces too small for the detector to see in the whole photo; boxes in the photo's
    pixels, one per face over all grids (of boxes overlapping by ``SAME_FACE_IOU``, by union or by the smaller
    box, the best scored), largest first. Every grid is searched: a group's faces of different sizes are found
    by different grids."""
    img = as_rgb_uint8(image_rgb)
    H, W = img.shape[:2]
    found: list[tuple[np.ndarray, float]] = []
    for n in TILE_GRIDS:
        if 2 * min(H, W) / (n + 1) < TILE_MIN_PX and n > TILE_GRIDS[0]:
            break
        for y0, x0, side in _tiles(H, W, n):
            tile = np.ascontiguousarray(img[y0:y0 + side, x0:x0 + side])
            found += [(box + np.float32([x0, y0, x0, y0]), score) for box, score in detect_boxes(tile)]
    kept: list[tuple[np.ndarray, float]] = []
    for box, score in sorted(found, key=lambda b: -b[1]):
        if all(_overlap(box, k) < SAME_FACE_IOU for k, _ in kept):
            kept.append((box, score))
    return sorted(kept, key=lambda b: -float((b[0][2] - b[0][0]) * (b[0][3] - b[0][1])))


def _open_eyes(grey: np.ndarray, lm: np.ndarray
               ) -> Iterator[tuple[str, tuple[int, int], np.ndarray, np.ndarray, float]]:
    """Each eye open enough to judge (``MIN_EYE_OPENING``): (side, (y0, x0) corner of its box in ``grey`` (H, W),
    (h, w) bool mask of the opening in that box, (K,) lower-lid landmark indices, eye width in pixels)."""
    import cv2

    H, W = grey.shape
    for side in ("left", "right"):
        up, lo = topo.eye_lines(side)
        width = float(np.linalg.norm(lm[up[-1]] - lm[up[0]]))
        gap = float(np.max(np.linalg.norm(lm[lo[1:-1]] - lm[up[1:-1]], axis=1)))
        if width < 4 or gap < MIN_EYE_OPENING * width:
            continue
        poly = np.concatenate([lm[up], lm[lo[::-1]]])
        x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 2, (W, H))
        if x1 - x0 < 3 or y1 - y0 < 3:  # the eye (nearly) outside the image
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        inner = cv2.erode(mask, np.ones((3, 3), np.uint8))
        opening = (inner if inner.sum() >= 8 else mask) > 0
        if opening.any():
            yield side, (int(y0), int(x0)), opening, lo, width


def sclera_ratio(image_rgb: np.ndarray, landmarks: np.ndarray) -> float | None:
    """Brightness of the white of the eye relative to the skin: the larger over the two eyes of (upper
    quartile of the luminance inside the eye opening) / (median luminance of the skin just below the lower
    lid), from (478, 2+) pixel landmarks. None when no eye is open enough to judge."""
    import cv2

    grey = cv2.cvtColor(as_rgb_uint8(image_rgb), cv2.COLOR_RGB2GRAY)
    H, W = grey.shape
    lm = np.asarray(landmarks, np.float32)[:, :2]
    best = None
    for _side, (y0, x0), opening, lo, width in _open_eyes(grey, lm):
        eye = grey[y0:y0 + opening.shape[0], x0:x0 + opening.shape[1]][opening]
        skin_pts = lm[lo[1:-1]] + np.array([0.0, 0.25 * width], np.float32)
        sx = np.clip(np.round(skin_pts[:, 0]).astype(int), 0, W - 1)
        sy = np.clip(np.round(skin_pts[:, 1]).astype(int), 0, H - 1)
        r = float(np.percentile(eye, 75)) / max(float(np.median(grey[sy, sx])), 1.0)
        best = r if best is None else max(best, r)
    return best


def sclera_iris_contrast(image_rgb: np.ndarray, landmarks: np.ndarray) -> float | None:
    """Brightness of the white of the eye relative to the iris: the larger over the two eyes of (the
    ``SCLERA_PERCENTILE`` of the luminance in the eye opening outside the iris disk widened by ``IRIS_MARGIN``)
    / (median luminance of the iris's outer ring, from ``IRIS_RING_INNER`` of its radius out), from (478, 2+)
    pixel landmarks (468..477: the irises). None when no eye is open enough to judge, the landmarks have no
    irises, or no eye shows 4 pixels of white and 4 of iris ring."""
    import cv2

    lm = np.asarray(landmarks, np.float32)[:, :2]
    if len(lm) < NUM_LANDMARKS:
        return None
    grey = cv2.cvtColor(as_rgb_uint8(image_rgb), cv2.COLOR_RGB2GRAY)
    best = None
    for side, (y0, x0), opening, _lo, _width in _open_eyes(grey, lm):
        c = topo.IRIS_LEFT if side == "left" else topo.IRIS_RIGHT
        cx, cy = lm[c] - (x0, y0)
        radius = float(np.mean(np.linalg.norm(lm[c + 1:c + 5] - lm[c], axis=1)))
        yy, xx = np.mgrid[:opening.shape[0], :opening.shape[1]]
        d = np.hypot(xx - cx, yy - cy)  # pixel centres' distance to the iris centre
        sclera = opening & (d > IRIS_MARGIN * radius)
        ring = opening & (d <= radius) & (d >= IRIS_RING_INNER * radius)
        if sclera.sum() < 4 or ring.sum() < 4:
            continue
        box = grey[y0:y0 + opening.shape[0], x0:x0 + opening.shape[1]]
        r = float(np.percentile(box[sclera], SCLERA_PERCENTILE)) / max(float(np.median(box[ring])), 1.0)
        best = r if best is None else max(best, r)
    return best


def shows_eye_white(image_rgb: np.ndarray, landmarks: np.ndarray) -> bool:
    """False when the face's open eyes show no white: darker than ``MIN_SCLERA_RATIO`` of the skin below them
    (:func:`sclera_ratio`) and, outside the iris, no brighter than ``MIN_SCLERA_IRIS_CONTRAST`` times the iris
    (:func:`sclera_iris_contrast`: eyes in shadow, behind glasses), or too dark against the skin where the iris
    measure has nothing to judge (None). True when no eye is open enough to judge."""
    ratio = sclera_ratio(image_rgb, landmarks)
    if ratio is None or ratio >= MIN_SCLERA_RATIO:
        return True
    contrast = sclera_iris_contrast(image_rgb, landmarks)
    return contrast is not None and contrast >= MIN_SCLERA_IRIS_CONTRAST


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


def _raise_cut_off(fraction: float) -> None:
    raise FaceNotFoundError(f"the face is cut off by the image border ({fraction:.0%} of it is outside)"
                            "; use a photo that shows the whole face")


def pick_face(boxes: list[tuple[np.ndarray, float]], face: int | None,
              near: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The (box, score) to use from ``detect_boxes``' list: the largest for face None, else face number
    ``face`` counted from 1 from left to right (by box centre); FaceNotFoundError when there is no such face.
    near: (4,) a box where the face is known to be (a face chosen in a larger photo): the box overlapping it
    most (FaceNotFoundError when none does)."""
    if near is not None:
        best = max(boxes, key=lambda b: _overlap(b[0], near))
        if _overlap(best[0], near) < SAME_FACE_IOU:
            raise FaceNotFoundError("no face found in the photo (the face chosen in the whole photo was not found "
                                    "in its frame)")
        return best
    if face is None:
        return boxes[0]
    ltr = sorted(boxes, key=lambda b: float(b[0][0] + b[0][2]))
    if not 1 <= int(face) <= len(ltr):
        raise FaceNotFoundError(f"--face {face}: the photo has {len(ltr)} face{'s' if len(ltr) != 1 else ''} "
                                f"(numbered 1-{len(ltr)} from left to right)")
    return ltr[int(face) - 1]


#: The message of a photo in which the detector found no face at all.
NO_FACE = "no face found in the photo (the face detector found no human face)"


def detect_face(image_rgb: np.ndarray, face: int | None = None, near: np.ndarray | None = None) -> FaceDetection:
    """Find the largest human face (or face number ``face``, 1.. from left to right) and its 478 landmarks.

    image_rgb: (H, W, 3) uint8. near: (4,) box where the face is known to be (:func:`pick_face`; no note about
    other faces then). Raises :class:`FaceNotFoundError` naming the reason: no face, face too small
    (< MIN_FACE_PX), face cut off by the image border, landmarks not found, or no face ``face``.
    """
    img = as_rgb_uint8(image_rgb)
    H, W = img.shape[:2]
    boxes = detect_boxes_framed(img)
    if not boxes:
        raise FaceNotFoundError(NO_FACE)
    box, score = pick_face(boxes, face, near)
    warnings = []
    if near is not None:
        pass  # the face was chosen in a larger photo; its notes come from there
    elif len(boxes) > 1 and face is None:
        warnings.append(f"{len(boxes)} faces found; using the largest (--face N picks another, counted from "
                        "left to right)")
    elif len(boxes) > 1:
        warnings.append(f"{len(boxes)} faces found; using face {face} from the left")
    check_face_size(box)
    bw, bh = box[2] - box[0], box[3] - box[1]
    inside_w = max(0.0, min(box[2], W) - max(box[0], 0))
    inside_h = max(0.0, min(box[3], H) - max(box[1], 0))
    outside = 1.0 - inside_w * inside_h / max(bw * bh, 1e-6)
    if outside > MAX_BOX_OUTSIDE:
        _raise_cut_off(outside)
    lmk = mesh_in_box(img, box)
    if lmk is None:
        raise FaceNotFoundError("no face found in the photo (a face box was detected but no face landmarks)")

    oval = lmk[topo.loops()["face_oval"], :2]
    tol = 0.02 * float(np.sqrt(max(bw * bh, 1.0)))
    out_oval = float(np.mean((oval[:, 0] < -tol) | (oval[:, 1] < -tol) | (oval[:, 0] > W - 1 + tol)
                             | (oval[:, 1] > H - 1 + tol)))
    if out_oval > MAX_OUTSIDE:
        _raise_cut_off(out_oval)
    if not shows_eye_white(img, lmk):
        raise FaceNotFoundError("no face found in the photo (the face found has no white of the eye: "
                                "not a human face)")
    return FaceDetection(box=box, score=score, landmarks=lmk, num_faces=len(boxes), image_size=(H, W),
                         warnings=warnings)
