"""A face a few percent of a large photo wide (a wide shot, a group) is found, and the video frames it."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.errors import FaceNotFoundError
from emodiffhead.face.detect import MIN_FACE_PX, detect_boxes, detect_boxes_tiled, detect_face
from emodiffhead.face.image import load_photo
from emodiffhead.render.framing import face_for_video, head_and_shoulders


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


@pytest.fixture(scope="module")
def group_shot(example_photo) -> np.ndarray:
    """Three copies of the example head in a 3000 x 2200 group: one at the back, two larger in front, one of those
    right below it (inside the back face's head-and-shoulders frame)."""
    import cv2

    photo = load_photo(example_photo)
    (box, _), = detect_boxes(photo)[:1]
    side = float(box[2] - box[0])
    cx, cy = 0.5 * float(box[0] + box[2]), 0.5 * float(box[1] + box[3])
    m = 0.85 * side
    head = photo[int(cy - 1.1 * m):int(cy + 1.0 * m), int(cx - m):int(cx + m)]
    canvas = np.full((2200, 3000, 3), (90, 110, 130), np.uint8)
    for scale, fx, fy in ((0.55, 1500, 1000), (0.62, 1500, 1000 + 0.87 * side), (0.62, 1500 - 0.84 * side,
                                                                                    1000 + 0.87 * side)):
        h = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        y0, x0 = int(fy - 1.1 * m * scale), int(fx - m * scale)
        canvas[y0:y0 + h.shape[0], x0:x0 + h.shape[1]] = h
    return canvas


def test_each_face_of_a_group_is_framed_as_chosen(group_shot):
    """--face N picks face N of the whole photo, counted from left to right, and the frame animates that face,
    not the larger one below it; the note about several faces counts the whole photo's faces."""
    import re

    boxes = sorted(detect_boxes_tiled(group_shot), key=lambda b: float(b[0][0] + b[0][2]))
    assert len(boxes) == 3
    for n, (want, _) in enumerate(boxes, start=1):
        img, det, note = face_for_video(group_shot, 512, face=n)
        x0, y0, x1, _ = map(int, re.search(r"pixels (\d+),(\d+) to (\d+),(\d+)", note).groups())
        s = img.shape[1] / (x1 - x0)
        got = np.array([0.5 * (det.box[0] + det.box[2]) / s + x0, 0.5 * (det.box[1] + det.box[3]) / s + y0])
        centre = np.array([0.5 * (want[0] + want[2]), 0.5 * (want[1] + want[3])])
        assert np.linalg.norm(got - centre) < 0.2 * float(want[2] - want[0]), (n, got, centre)
        assert any("3 faces found" in w for w in det.warnings)


def test_prepare_frames_a_small_face_and_says_so(wide_shot, builtin_head):
    from emodiffhead.render.warp_renderer import WarpRenderer

    photo, _ = wide_shot
    r = WarpRenderer()
    fit = r.prepare(photo, builtin_head, size=256)
    assert any("frames the head and shoulders" in w for w in fit.warnings)
    h, w = r.output_size
    assert min(h, w) == 256 and h > w
