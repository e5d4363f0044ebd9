"""POST /heads: a head model, optionally fitted to a photo, as binary glTF."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from fastapi import APIRouter, File, Form, Response, UploadFile

from .. import inputs, jsonlimits
from ..forms import Model
from ..state import State
from ._responses import error_responses

router = APIRouter()


@router.post("/heads", summary="A head model (optionally fitted to a photo) as binary glTF",
             response_class=Response, responses={200: {"content": {"model/gltf-binary": {}}},
                                                 **error_responses(400, 413, 415, 422)})
def post_heads(state: State, model: Model = "builtin", photo: UploadFile | None = File(None),
               shape: str | None = Form(None, max_length=inputs.MAX_SHAPE_BYTES,
                                        description="JSON array of shape coefficients")) -> Response:
    export_glb_bytes = inputs.need("emodiffhead.gltf", "export_glb_bytes", "glTF export")
    head = state.heads.get(model)
    shape_arr = parse_shape(shape, head)
    if photo is not None and photo.filename is not None:
        with tempfile.TemporaryDirectory(prefix="emodiffhead-head-") as tmp:
            path = inputs.save_upload("photo", photo.content_type, photo.file, Path(tmp))
            inputs.check_photo_header(path)  # 413 at once, before waiting for a decode slot
            fit_head = inputs.need("emodiffhead.face.fit", "fit_head", "photo fitting")
            with state.heavy:  # decoding and fitting: at most two at once
                rgb = inputs.load_photo_rgb(path)
                fit = fit_head(rgb, head)
                del rgb
            shape_arr = getattr(fit, "shape", shape_arr)
    data = export_glb_bytes(head, shape=shape_arr)
    return Response(content=data, media_type="model/gltf-binary")


def parse_shape(text: str | None, head) -> np.ndarray | None:
    """The ``shape`` field as ``(S,) float32`` shape coefficients of ``head`` (zero-padded), None when empty.

    ParameterError (400) for anything but a flat JSON array of at most S finite numbers."""
    if not text:
        return None
    values = jsonlimits.loads(text, "shape", max_bytes=inputs.MAX_SHAPE_BYTES, max_depth=1)
    try:
        arr = np.asarray(values, np.float32)
    except (ValueError, TypeError, OverflowError):
        raise inputs.ParameterError("field 'shape': expected a JSON array of numbers") from None
    S = int(head.shape_basis.shape[-1])
    if arr.ndim != 1 or arr.size > S or not np.all(np.isfinite(arr)):
        raise inputs.ParameterError(f"field 'shape': expected a JSON array of at most {S} finite numbers")
    out = np.zeros(S, np.float32)
    out[: arr.size] = arr
    return out
