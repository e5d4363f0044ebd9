"""POST /preview: one frame of a track on the photo, as PNG (the photo fit is cached per photo)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Response, UploadFile

from ...track import check_compatible
from .. import inputs
from ..forms import Photo, Size
from ..head_tracks import builtin_track
from ..state import State
from ._responses import error_responses

router = APIRouter()


@router.post("/preview", summary="One frame of a track on the photo, as PNG (fit cached per photo)",
             response_class=Response, responses={200: {"content": {"image/png": {}}},
                                                 **error_responses(400, 413, 415, 422)})
def post_preview(state: State, photo: Photo,
                 track: UploadFile = File(..., description="track JSON (FLAME tracks are mapped to the built-in head)"),
                 frame: int = Form(0, ge=0, description="track frame to render (0-based)"),
                 size: Size = 512) -> Response:
    inputs.check_photo_header(photo.file)  # 413 at once for a huge photo, before any decoding
    data = track.file.read(state.track_limits.max_bytes + 1)
    t = builtin_track(inputs.parse_track_bytes(data, **state.track_limits.kwargs()), state.heads)
    head = state.heads.get("builtin")
    check_compatible(t, head.expression_names, head.name)
    photo.file.seek(0)
    with state.heavy:
        png = state.previews.render_png(photo.file.read(), t, frame, size, head)
    return Response(content=png, media_type="image/png")
