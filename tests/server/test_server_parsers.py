"""The header and JSON scanners the server's limits rest on, against reference answers."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emodiffhead.server.image_header import image_size
from emodiffhead.server.jsonlimits import structure


@pytest.mark.parametrize("ext,params", [(".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                                        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 100]),  # lossless: VP8L
                                        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]), (".bmp", [])])
def test_image_size_from_the_header_matches_the_decoder(tmp_path, ext, params):
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
    path = tmp_path / f"x{ext}"
    path.write_bytes(cv2.imencode(ext, img, params)[1].tobytes())
    h, w = cv2.imread(str(path)).shape[:2]
    assert image_size(path) == (w, h) == (53, 37)


def test_image_size_of_the_example_photo_and_of_junk(example_photo, tmp_path):
    h, w = cv2.imread(str(example_photo)).shape[:2]
    assert image_size(example_photo) == (w, h)
    junk = tmp_path / "j.jpg"
    junk.write_bytes(b"\xff\xd8" + b"\x00" * 100)
    assert image_size(junk) is None


def _depth_and_rows(v, d=0, rows_depth=3) -> tuple[int, int]:
    """Reference: deepest nesting and arrays at depth ``rows_depth`` of a parsed value."""
    if isinstance(v, (list, dict)):
        d += 1
        children = v.values() if isinstance(v, dict) else v
        best, rows = d, int(isinstance(v, list) and d == rows_depth)
        for c in children:
            cd, cr = _depth_and_rows(c, d, rows_depth)
            best, rows = max(best, cd), rows + cr
        return best, rows
    return d, 0


JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.integers()
                    | st.text(alphabet='[]{}"\\ab,:', max_size=8),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text('[]{}"\\k', max_size=4), kids,
                                                                            max_size=4), max_leaves=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(JSON)
def test_structure_matches_the_parsed_value(value):
    text = json.dumps(value).encode()
    assert structure(text) == _depth_and_rows(value)


def test_structure_across_scan_chunks():
    from emodiffhead.server.jsonlimits import _SCAN_CHUNK

    text = b'["' + b"[" * (_SCAN_CHUNK + 5) + b'\\"", [[1]], "' + b"]" * 7 + b'"]'  # a string over the boundary
    assert structure(text) == _depth_and_rows(json.loads(text)) == (3, 1)
