"""A face a few percent of a large photo wide (a wide shot, a group) is found, and the video frames it."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.errors import FaceNotFoundError
from emodiffhead.face.detect import MIN_FACE_PX, detect_boxes, detect_face
from emodiffhead.face.image import load_photo
from emodiffhead.render.warp_renderer import face_for_video, head_and_shoulders


@pytest.fixture(scope="module")
def wide_shot(example_photo) -> tuple[np.ndarray, tuple[int, int]]:
    """The example portrait at half size (its face about 75 px wide) placed near a corner of a 3000 x 2200 backdrop
    (17 px at 512): (photo, (x, y))."""
    import cv2

    face = load_photo(example_photo)
    small = cv2.resize(face, (face.shape[1] // 2, face.shape[0] // 2), interpolation=cv2.INTER_AREA)
    canvas = np.full((2200, 3000, 3), (90, 110, 130), np.uint8)
    x, y = 2300, 1500
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return canvas, (x, y)


def test_small_face_found_in_tiles(wide_shot):
    photo, (x, y) = wide_shot
    assert detect_boxes(photo) == []  # the whole-photo detector sees it at 192 px: a few pixels
    d = detect_face(photo)
    cx, cy = 0.5 * (d.box[0] + d.box[2]), 0.5 * (d.box[1] + d.box[3])
    assert x < cx < x + 300 and y < cy < y + 400  # where it was placed


def test_small_face_video_frames_head_and_shoulders(wide_shot):
    photo, _ = wide_shot
    img, det, note = face_for_video(photo, 512)
    assert note is not None and "frames the head" in note
    assert min(img.shape[:2]) == 512 and img.shape[0] > img.shape[1]  # a portrait frame at the video's size
    side = float(min(det.box[2] - det.box[0], det.box[3] - det.box[1]))
    assert side >= MIN_FACE_PX and side > 0.2 * img.shape[1]  # a face to animate, not a speck


def test_portrait_is_not_reframed(example_photo):
    photo = load_photo(example_photo)
    img, det, note = face_for_video(photo, 512)
    assert note is None and min(img.shape[:2]) == 512
    assert img.shape[0] / img.shape[1] == pytest.approx(photo.shape[0] / photo.shape[1], rel=0.01)


def test_a_face_too_small_in_the_photo_itself_is_refused(example_photo):
    import cv2

    face = load_photo(example_photo)
    tiny = cv2.resize(face, (face.shape[1] // 12, face.shape[0] // 12), interpolation=cv2.INTER_AREA)
    canvas = np.full((1200, 1600, 3), 120, np.uint8)
    canvas[500:500 + tiny.shape[0], 700:700 + tiny.shape[1]] = tiny
    with pytest.raises(FaceNotFoundError):
        face_for_video(canvas, 512)


@pytest.mark.parametrize("box, hw", [((1000, 800, 1100, 900), (1800, 2400)), ((10, 10, 110, 110), (1800, 2400)),
                                     ((2300, 1700, 2390, 1790), (1800, 2400)), ((100, 100, 600, 600), (700, 700))])
def test_head_and_shoulders_stays_inside_the_photo(box, hw):
    x0, y0, x1, y1 = head_and_shoulders(np.array(box, np.float32), hw)
    assert 0 <= x0 < x1 <= hw[1] and 0 <= y0 < y1 <= hw[0]
    assert x0 <= box[0] and box[2] <= x1 and y0 <= box[1] and box[3] <= y1  # the face is in the frame
