"""One frame of a track rendered on the photo (POST /preview): the look-dev loop of the Blender add-on.

The photo fit (face detection + head fit, the slow part) is cached per (photo bytes, size, renderer options), so
the next frames of the same photo cost one warp (tens of milliseconds at 512 px).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

CACHE_SIZE = 4


class PreviewCache:
    """Prepared warp renderers by photo; thread-safe (one render at a time per cache)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._items: OrderedDict[str, object] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def renderer(self, photo_bytes: bytes, size: int, head):
        """The prepared renderer for this photo at ``size`` px (fitted on first use)."""
        from ..face.image import decode_photo
        from ..render.warp_renderer import WarpRenderer
        from ..errors import InputFileError

        key = hashlib.sha1(photo_bytes).hexdigest() + f":{int(size)}:{id(head)}"
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        try:
            rgb = decode_photo(photo_bytes, "upload 'photo'")  # as the render reads the photo
        except InputFileError:
            raise InputFileError("upload 'photo': the image cannot be decoded") from None
        rend = WarpRenderer()
        rend.prepare(rgb, head, size=int(size))
        self._items[key] = rend
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return rend

    def render_png(self, photo_bytes: bytes, track, frame: int, size: int, head) -> bytes:
        """PNG bytes of track frame ``frame`` (0-based) on the photo at ``size`` px."""
        import cv2

        from ..errors import TrackError

        if not 0 <= frame < track.num_frames:
            raise TrackError(f"field 'frame': {frame} is outside the track's 0..{track.num_frames - 1}")
        with self._lock:
            rend = self.renderer(photo_bytes, size, head)
            one = track.slice(frame, frame + 1)
            img = rend.render_frame(rend.drive(one), 0, rend.shading_weights(one))  # as the render draws it
        ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError("PNG encoding failed")
        return png.tobytes()
