"""A warp renderer prepared on the shipped example photo at 256 px (once per session)."""

from __future__ import annotations

import pytest


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
