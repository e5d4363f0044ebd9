"""Picking one face of several (left to right) and transparent photos (issue 15, rows 8 and 9)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.face.image import ALPHA_BACKGROUND, load_photo


@pytest.fixture(scope="module")
def two_faces(example_photo):
    """A small copy of the example face on the left, a large one on the right."""
    import cv2

    img = load_photo(example_photo)
    H, W = img.shape[:2]
    small = cv2.resize(img, (int(W * 0.6), int(H * 0.6)), interpolation=cv2.INTER_AREA)
    canvas = np.full((H, W + small.shape[1], 3), 128, np.uint8)
    canvas[H - small.shape[0]:, :small.shape[1]] = small
    canvas[:, small.shape[1]:] = img
    return canvas, small.shape[1]


def test_largest_by_default_with_a_note_and_face_n_counts_from_the_left(two_faces):
    from emodiffhead.face.detect import detect_face

    img, split = two_faces
    default = detect_face(img)
    assert default.num_faces == 2 and (default.box[0] + default.box[2]) / 2 > split
    assert any("--face N" in w for w in default.warnings)
    first = detect_face(img, face=1)
    second = detect_face(img, face=2)
    assert (first.box[0] + first.box[2]) / 2 < split < (second.box[0] + second.box[2]) / 2
    assert first.landmarks[:, 0].max() < split  # the landmarks belong to the picked face
    with pytest.raises(Exception, match=r"--face 3: the photo has 2 faces \(numbered 1-2 from left to right\)"):
        detect_face(img, face=3)


def test_render_face_option_reaches_the_renderer(two_faces, builtin_head, tmp_path):
    from emodiffhead.render.warp_renderer import WarpRenderer

    img, split = two_faces
    r = WarpRenderer()
    r.prepare(img, builtin_head, size=256, face=1)
    scale = r.photo.shape[1] / img.shape[1]
    assert r.fit.landmarks[:, 0].max() < split * scale


def test_transparent_png_is_composited_on_the_stated_background(tmp_path, example_photo):
    import cv2

    rgb = load_photo(example_photo)
    H, W = rgb.shape[:2]
    bgra = np.dstack([rgb[:, :, ::-1], np.full((H, W), 255, np.uint8)])
    bgra[:, : W // 4, :3] = (0, 0, 255)  # pure red hidden under full transparency
    bgra[:, : W // 4, 3] = 0
    bgra[:, W // 4: W // 4 + 10, 3] = 128  # a half-transparent band
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    got = load_photo(tmp_path / "a.png")
    assert np.array_equal(got[:, : W // 4], np.broadcast_to(np.array(ALPHA_BACKGROUND, np.uint8), (H, W // 4, 3)))
    band = got[:, W // 4: W // 4 + 10].astype(int)
    expect = (rgb[:, W // 4: W // 4 + 10].astype(float) * 128 / 255 + np.array(ALPHA_BACKGROUND) * 127 / 255)
    assert np.abs(band - expect).max() <= 1
    assert np.array_equal(got[:, W // 2:], rgb[:, W // 2:])  # opaque pixels untouched
    # an RGBA array (e.g. from the server) is treated the same way
    from emodiffhead.face.image import as_rgb_uint8

    arr = np.dstack([rgb, bgra[:, :, 3]])
    assert np.array_equal(as_rgb_uint8(arr), got)


def _png_grey_alpha(path, grey: np.ndarray, alpha: np.ndarray) -> None:
    """Write an 8-bit grey + alpha PNG (colour type 4; OpenCV cannot write one)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    h, w = grey.shape
    raw = b"".join(b"\x00" + np.dstack([grey, alpha])[r].tobytes() for r in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 4, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_grey_png_with_alpha_is_composited_too(tmp_path):
    grey = np.full((40, 60), 30, np.uint8)
    alpha = np.full((40, 60), 255, np.uint8)
    alpha[:, :20] = 0
    _png_grey_alpha(tmp_path / "g.png", grey, alpha)
    got = load_photo(tmp_path / "g.png")
    assert got.shape == (40, 60, 3)
    assert (got[:, :20] == np.array(ALPHA_BACKGROUND, np.uint8)).all() and (got[:, 20:] == 30).all()
