"""A warp renderer prepared on the shipped example photo at 256 px (once per session)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.face import facemesh_topology as topo


@pytest.fixture(scope="session")
def warp_renderer(example_photo, builtin_head):
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    r = WarpRenderer()
    r.prepare(load_photo(example_photo), builtin_head, size=256)
    return r


@pytest.fixture()
def neutral_track(builtin_head):
    from emodiffhead.track import Track

    def make(T: int = 3, fps: float = 25.0):
        return Track.neutral(T, fps, builtin_head.name, builtin_head.expression_names)

    return make


LIP_RGB = (175, 95, 100)


def _open_mouthed(warp_renderer, builtin_head, drop: float = 16.0, keep: float = 0.0, lip_px: float = 6.0):
    """A renderer on the example photo with its mouth drawn wide open (dark cavity, upper teeth; the inner lower
    lip moved down with a red lower lip ``lip_px`` thick painted below it, whose outer landmarks sit halfway
    inside it, as the face mesh puts them on wide-open mouths), the fit's landmarks edited to match."""
    import dataclasses

    import cv2

    from emodiffhead.render.warp_renderer import WarpRenderer

    photo = warp_renderer.photo.copy()
    lm = warp_renderer.fit.landmarks.copy()
    up, lo = topo.mouth_lines()
    prof = np.sin(np.linspace(0, np.pi, len(lo)))
    lm[lo, 1] += drop * prof
    inner = lm[lo, :2].astype(np.float64)
    band = np.concatenate([inner, (inner + (0, lip_px))[::-1]]).round().astype(np.int32)
    cv2.fillPoly(photo, [band], LIP_RGB)
    outer = [146, 91, 181, 84, 17, 314, 405, 321, 375]
    lm[outer, 1] = np.interp(lm[outer, 0], inner[:, 0], inner[:, 1]) + 0.5 * lip_px
    poly = np.concatenate([lm[up, :2], lm[lo, :2][::-1]]).round().astype(np.int32)
    opening = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(opening, [poly], 1)
    teeth = np.zeros_like(opening)
    top = lm[up, :2].copy()
    cv2.fillPoly(teeth, [np.concatenate([top, top[::-1] + (0, 5)]).round().astype(np.int32)], 1)
    photo[opening.astype(bool)] = (20, 8, 10)
    photo[(opening & teeth).astype(bool)] = (235, 230, 220)  # upper teeth under the upper lip
    r = WarpRenderer(keep_photo_expression=keep)
    r.prepare(photo, builtin_head, fit=dataclasses.replace(warp_renderer.fit, landmarks=lm))
    return r, photo, lm


@pytest.fixture()
def open_mouthed(warp_renderer, builtin_head):
    """``make(drop=16, keep=0, lip_px=6) -> (renderer, photo, landmarks)``: the example photo drawn open-mouthed."""
    return lambda **kw: _open_mouthed(warp_renderer, builtin_head, **kw)
