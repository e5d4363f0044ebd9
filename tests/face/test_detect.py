"""Face detection gate and landmarks (mediapipe, real models)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.errors import FaceNotFoundError
from emodiffhead.face.detect import MIN_FACE_PX, detect_face
from emodiffhead.face.image import load_photo


def test_example_photo_has_one_face_with_478_landmarks(example_photo):
    img = load_photo(example_photo)
    d = detect_face(img)
    assert d.num_faces == 1 and d.warnings == []
    assert d.score > 0.5
    assert d.landmarks.shape == (478, 3)
    x0, y0, x1, y1 = d.box
    # the mesh lies on the detected face: nose tip inside the box, eyes above the mouth
    assert x0 < d.landmarks[1, 0] < x1 and y0 < d.landmarks[1, 1] < y1
    assert d.landmarks[159, 1] < d.landmarks[13, 1] < d.landmarks[152, 1]


@pytest.mark.parametrize("kind", ["noise", "gradient"])
def test_gate_rejects_images_without_a_face(kind):
    rng = np.random.default_rng(0)
    if kind == "noise":
        img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    else:
        img = np.broadcast_to(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], (256, 256, 3)).copy()
    with pytest.raises(FaceNotFoundError, match="no face found"):
        detect_face(img)


def test_gate_rejects_the_dog_photo(shared_data):
    img = load_photo(shared_data / "photos" / "no_human_dog.jpg")
    with pytest.raises(FaceNotFoundError, match="no face found"):
        detect_face(img)


def test_too_small_face_is_refused_with_the_reason(example_photo):
    import cv2

    img = load_photo(example_photo)
    small = cv2.resize(img, (img.shape[1] // 5, img.shape[0] // 5), interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 400, 3), 128, np.uint8)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    with pytest.raises(FaceNotFoundError, match="too small|no face"):
        detect_face(canvas)
    assert MIN_FACE_PX >= 32


def test_cut_off_face_is_refused_with_the_reason(example_photo):
    img = load_photo(example_photo)
    d = detect_face(img)
    cut = img[:, int((d.box[0] + d.box[2]) / 2):]  # keep only the right half of the face
    with pytest.raises(FaceNotFoundError, match="cut off|no face"):
        detect_face(cut)


def test_two_faces_use_the_largest_and_say_so(example_photo):
    import cv2

    img = load_photo(example_photo)
    small = cv2.resize(img, (img.shape[1] * 3 // 5, img.shape[0] * 3 // 5), interpolation=cv2.INTER_AREA)
    canvas = np.concatenate([img, np.pad(small, ((0, img.shape[0] - small.shape[0]), (0, 0), (0, 0)),
                                         constant_values=128)], axis=1)
    d = detect_face(canvas)
    assert d.num_faces >= 2
    assert any("largest" in w for w in d.warnings)
    assert d.landmarks[1, 0] < img.shape[1]  # the big face (left) was used


def test_close_up_filling_the_frame_is_found(example_photo):
    # the full-range detector misses a face that fills the frame; framing it with a border finds it
    import cv2

    from emodiffhead.face.detect import detect_boxes

    img = load_photo(example_photo)
    x0, y0, x1, y1 = detect_face(img).box.astype(int)
    close = cv2.resize(img[max(y0, 0):y1, max(x0, 0):x1], (512, 512), interpolation=cv2.INTER_CUBIC)
    assert detect_boxes(close) == []  # the plain detector alone fails on it
    d = detect_face(close)
    assert d.landmarks.shape == (478, 3)
    assert 150 < d.landmarks[1, 0] < 362 and 150 < d.landmarks[1, 1] < 400  # nose tip near the middle


def _paint_eyes(img, landmarks, colour, grow=1.1):
    import cv2

    from emodiffhead.face import facemesh_topology as topo

    out = img.copy()
    for side in ("left", "right"):
        up, lo = topo.eye_lines(side)
        poly = np.concatenate([landmarks[up, :2], landmarks[lo[::-1], :2]])
        centre = poly.mean(0)
        poly = centre + grow * (poly - centre)  # cover the whole opening (grow 1.1: not the lids)
        cv2.fillPoly(out, [np.round(poly).astype(np.int32)], tuple(int(c) for c in colour))
    return out


def test_eyes_without_white_are_refused_and_stone_eyes_accepted(example_photo):
    from emodiffhead.face.detect import sclera_ratio

    img = load_photo(example_photo)
    d = detect_face(img)
    assert sclera_ratio(img, d.landmarks) > 0.8
    # dark eyes throughout (as a monkey's): no human face
    dark = _paint_eyes(img, d.landmarks, (40, 28, 20))
    with pytest.raises(FaceNotFoundError, match="no face found.*white of the eye"):
        detect_face(dark)
    # eyes the colour of the skin (a statue's): still a human face
    lm = d.landmarks
    skin = img[int(lm[205, 1]), int(lm[205, 0])]
    stone = _paint_eyes(img, lm, skin)
    assert detect_face(stone).landmarks.shape == (478, 3)


def _paint_irises(img, landmarks, colour, scale=1.0):
    import cv2

    from emodiffhead.face import facemesh_topology as topo

    out = img.copy()
    for c in (topo.IRIS_RIGHT, topo.IRIS_LEFT):
        r = scale * float(np.mean(np.linalg.norm(landmarks[c + 1:c + 5, :2] - landmarks[c, :2], axis=1)))
        cv2.circle(out, tuple(int(v) for v in np.round(landmarks[c, :2])), max(1, int(round(r))),
                   tuple(int(v) for v in colour), -1)
    return out


def test_eyes_in_shadow_with_a_white_beside_the_iris_are_a_human_face(example_photo):
    # eyes deep in shadow (behind glasses, under heavy brows): the white is dim against the cheek but still far
    # brighter than the iris; a monkey's eye (brown throughout, a dark pupil) is not
    from emodiffhead.face.detect import MIN_SCLERA_RATIO, sclera_iris_contrast, sclera_ratio

    img = load_photo(example_photo)
    lm = detect_face(img).landmarks
    skin = img[int(lm[205, 1]), int(lm[205, 0])].astype(float)
    shadowed = _paint_irises(_paint_eyes(img, lm, 0.25 * skin), lm, 0.05 * skin)
    assert sclera_ratio(shadowed, lm) < MIN_SCLERA_RATIO
    assert sclera_iris_contrast(shadowed, lm) > 2.5
    assert detect_face(shadowed).landmarks.shape == (478, 3)
    # a light (blue, grey) iris is closest to its white: 0.25 against 0.15 of the skin still reads human
    light = _paint_irises(_paint_eyes(img, lm, 0.25 * skin), lm, 0.15 * skin)
    assert sclera_ratio(light, lm) < MIN_SCLERA_RATIO
    assert detect_face(light).landmarks.shape == (478, 3)
    for pupil in (0.5, 0.8):  # a wide pupil is not an iris against a white
        # the eye dark out to the lids, as a monkey's (the mesh finds its lids a little apart on the painted eye)
        monkey = _paint_irises(_paint_eyes(img, lm, (50, 32, 20), grow=1.4), lm, (12, 8, 6), scale=pupil)
        assert sclera_iris_contrast(monkey, lm) < 1.2
        with pytest.raises(FaceNotFoundError, match="no face found.*white of the eye"):
            detect_face(monkey)


def test_an_elderly_face_with_narrow_eyes_behind_glasses_is_accepted():
    # a real photo the eye-white check once refused (eyes 0.38 of the cheek's brightness): Grace Hopper, 1984 (US
    # Navy, public domain), as matplotlib ships it
    cbook = pytest.importorskip("matplotlib.cbook")
    from emodiffhead.face.detect import MIN_SCLERA_IRIS_CONTRAST, MIN_SCLERA_RATIO, sclera_iris_contrast, sclera_ratio

    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except (OSError, ValueError):
        pytest.skip("matplotlib's sample data is not installed")
    import cv2

    img = load_photo(path)
    d = detect_face(img)
    assert d.landmarks.shape == (478, 3)
    assert sclera_ratio(img, d.landmarks) < MIN_SCLERA_RATIO  # the case the iris contrast admits
    for scale in (0.6, 0.87, 1.5):  # at any size (her whites are slivers a few pixels wide)
        scaled = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        lm = detect_face(scaled).landmarks
        assert sclera_iris_contrast(scaled, lm) >= MIN_SCLERA_IRIS_CONTRAST + 0.5, scale  # with a margin


def test_blinking_and_squinting_frames_of_a_real_speaker_are_accepted(shared_data):
    """The sclera check judges only clearly open eyes: half-closed lids (blinks) of a real person are never
    taken for a non-human face (frames of the shared clip that the first version of the check refused)."""
    from emodiffhead.face.detect import detect_face
    from emodiffhead.video import read_video_frames

    frames = list(read_video_frames(shared_data / "video" / "talking_head_real_a.mp4", max_frames=180))
    for t in (24, 25, 27, 31, 33, 34, 37, 112, 113, 114, 170, 171, 172, 173):
        assert detect_face(frames[t]).landmarks.shape[0] >= 468, t
