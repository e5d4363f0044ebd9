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

    def make(T: int = 3, fps: float = 25.0, **weights: float):
        """A still track of T frames, neutral except the named expression components at their weights."""
        tr = Track.neutral(T, fps, builtin_head.name, builtin_head.expression_names)
        for name, w in weights.items():
            tr.expression[:, builtin_head.expression_index(name)] = w
        return tr

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


def _folded_face_triangles(r, landmarks) -> int:
    """Face triangles (inner lip lines excepted) of the warp mesh flipped against the warp's source when it draws
    ``landmarks`` (after its own lid clamp and fold repair, ``frame_landmarks``). The same count as
    benchmarks/bench_emotion.py's, written here on purpose: the test must not trust the code it checks (neither
    the bench nor Unfolder.bad)."""
    from emodiffhead.render.unfold import signed_area
    from emodiffhead.render.warp import LAYER_FACE

    fixed = r.frame_landmarks(landmarks)
    tris = r.mesh.triangles[r.mesh.layer == LAYER_FACE]
    mouth = np.zeros(478, bool)
    mouth[np.concatenate(topo.mouth_lines())] = True
    tris = tris[~mouth[tris].any(1)]

    def area(p):
        return 2.0 * signed_area(p, tris)  # twice the area, as the thresholds below were set

    a0 = area(r.mesh.points[:478].astype(np.float64))  # the warp's source (an open mouth's closed re-map)
    ok = np.abs(a0) > 1.0
    return int(((np.sign(area(fixed[:, :2].astype(np.float64))) != np.sign(a0)) & ok).sum())


@pytest.fixture()
def folded_face_triangles():
    """``count(renderer, landmarks (478, 2+)) -> int``: face triangles folded where the warp draws the landmarks."""
    return _folded_face_triangles
