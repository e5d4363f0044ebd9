"""Which part of the photo the video shows, at which size, and its face.

The photo is scaled to the video's short side (:func:`resize_photo`) and its face found there; a face too small
for a video of the whole photo (a wide shot, a group) is framed head and shoulders (:func:`face_for_video`). The
warp renderer and the server's early face check (:func:`find_face_at_size`) take the same path.
"""

from __future__ import annotations

import numpy as np

from ..errors import FaceNotFoundError
from ..face.detect import MIN_FACE_PX, NO_FACE, FaceDetection, check_face_size, detect_face


def output_size_for(image_hw: tuple[int, int], size: int) -> tuple[int, int]:
    """(H, W) with the short side ``size`` pixels and both sides even."""
    H, W = image_hw
    s = size / min(H, W)
    return max(2, int(round(H * s / 2)) * 2), max(2, int(round(W * s / 2)) * 2)


def resize_photo(photo: np.ndarray, size: int) -> np.ndarray:
    """The photo (H, W, 3) uint8 scaled to :func:`output_size_for`."""
    import cv2

    h, w = output_size_for(photo.shape[:2], size)
    interp = cv2.INTER_AREA if h < photo.shape[0] else cv2.INTER_CUBIC
    return cv2.resize(photo, (w, h), interpolation=interp)


def size_hint(photo: np.ndarray, scaled: np.ndarray, size: int, face: int | None = None,
              full: FaceDetection | None = None) -> FaceNotFoundError | None:
    """When the face was not usable in ``scaled`` (the photo shrunk to ``size``) but is in the full photo,
    an error that names ``--size`` and the size that would work; else None (the photo itself is the cause).
    full: the face already found in the full photo (else it is searched here)."""
    import math

    shrink = min(scaled.shape[:2]) / min(photo.shape[:2])
    if shrink >= 1.0:
        return None
    if full is None:
        try:
            full = detect_face(photo, face=face)
        except FaceNotFoundError:
            return None
    side = float(min(full.box[2] - full.box[0], full.box[3] - full.box[1]))
    need = int(math.ceil(size * (MIN_FACE_PX * 1.1) / max(side * shrink, 1e-6) / 16.0)) * 16
    return FaceNotFoundError(f"the face is too small at --size {size} (about {side * shrink:.0f} px wide; need at "
                             f"least {MIN_FACE_PX} px): use --size {need} or more (the photo's face is {side:.0f} px)")


def find_face_at_size(photo: np.ndarray, size: int, face: int | None = None) -> FaceDetection:
    """The face of ``photo`` (H, W, 3) uint8 found as :meth:`WarpRenderer.prepare` finds it for a video of
    ``size`` px (:func:`face_for_video`: in the scaled photo, or in the head-and-shoulders frame around a face
    too small for the whole photo). FaceNotFoundError if not. face: which face of several, 1.. from left to
    right."""
    return face_for_video(np.asarray(photo), size, face)[1]


#: A face too small for a video of the whole photo is framed head and shoulders: a frame this many face-box
#: sides wide and FRAME_ASPECT times as tall, the face's centre FRAME_FACE_Y of the way down (room for the hair
#: above it, the neck and shoulders below), as talking-head tools crop by default.
FRAME_WIDTH = 3.2
FRAME_ASPECT = 4.0 / 3.0
FRAME_FACE_Y = 0.42


def head_and_shoulders(box: np.ndarray, photo_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixels of a head-and-shoulders frame around the face ``box`` (4,) in a photo of
    ``photo_hw`` (H, W): ``FRAME_WIDTH`` face sides wide, kept inside the photo (shifted, then cut)."""
    H, W = photo_hw
    side = float(max(box[2] - box[0], box[3] - box[1]))
    w = min(float(W), FRAME_WIDTH * side)
    h = min(float(H), FRAME_ASPECT * FRAME_WIDTH * side)
    cx, cy = 0.5 * float(box[0] + box[2]), 0.5 * float(box[1] + box[3])
    x0 = float(np.clip(cx - 0.5 * w, 0.0, W - w))
    y0 = float(np.clip(cy - FRAME_FACE_Y * h, 0.0, H - h))
    return int(round(x0)), int(round(y0)), int(round(x0 + w)), int(round(y0 + h))


def face_for_video(photo: np.ndarray, size: int, face: int | None = None,
                   detection: FaceDetection | None = None) -> tuple[np.ndarray, FaceDetection, str | None]:
    """(image (h, w, 3) uint8 scaled for a ``size`` px video, its face, a note for the user or None).

    The image is the photo scaled to ``size`` on its short side, or, when the face is too small to animate in
    that (a wide shot, a group: under MIN_FACE_PX), the head-and-shoulders frame around it
    (:func:`head_and_shoulders`) scaled to ``size``, and the note says so; the face in the frame is the one
    chosen in the whole photo (``face``), never a larger one beside or below it. FaceNotFoundError when there
    is no usable face (the whole photo's own reason: cut off, not human, no face ``face``; or the face is too
    small in the photo itself). detection: a face already found in the scaled photo (no framing then)."""
    photo = np.asarray(photo)
    img = resize_photo(photo, size)
    upscale = min(img.shape[:2]) / min(photo.shape[:2])
    if detection is not None:
        check_face_size(detection.box, upscale)
        return img, detection, None
    try:
        detection = detect_face(img, face=face)
        check_face_size(detection.box, upscale)
        return img, detection, None
    except FaceNotFoundError as e:
        scaled_error = e
    try:
        full = detect_face(photo, face=face)  # the whole photo, searched once
    except FaceNotFoundError as e:
        raise (scaled_error if str(e) == NO_FACE else e) from None
    H, W = photo.shape[:2]
    side = float(min(full.box[2] - full.box[0], full.box[3] - full.box[1]))
    if side * size / min(H, W) >= MIN_FACE_PX:
        raise scaled_error  # not the face's size: the scaled photo's own reason stands
    check_face_size(full.box)  # a face too small in the photo itself cannot be framed
    x0, y0, x1, y1 = head_and_shoulders(full.box, (H, W))
    crop = np.ascontiguousarray(photo[y0:y1, x0:x1])
    img = resize_photo(crop, size)
    s = min(img.shape[:2]) / min(crop.shape[:2])
    near = (np.asarray(full.box, np.float32) - np.float32([x0, y0, x0, y0])) * np.float32(s)
    try:
        detection = detect_face(img, near=near)
        check_face_size(detection.box, s)
    except FaceNotFoundError:
        raise size_hint(photo, resize_photo(photo, size), size, face, full) or scaled_error from None
    detection.warnings[:0] = full.warnings  # "N faces found; using ..." counts the whole photo's faces
    note = (f"the face is small in the photo ({side:.0f} px of {W} x {H}): the video frames the head and "
            f"shoulders (photo pixels {x0},{y0} to {x1},{y1}); crop the photo yourself to frame it otherwise")
    return img, detection, note
