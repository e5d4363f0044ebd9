"""POST /animate: speech audio + emotion -> expression track (track JSON)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Form
from fastapi.responses import JSONResponse

from ...seeds import derive_seed
from .. import inputs
from ..forms import Audio, Emotion, Intensity, Model, Transcript, fps_field, seed_field
from ..state import State
from ._responses import error_responses

router = APIRouter()


@router.post("/animate", summary="Speech audio + emotion -> expression track (track JSON)",
             responses=error_responses(400, 409, 413, 415, 422))
def post_animate(state: State, audio: Audio, emotion: Emotion = "neutral", intensity: Intensity = 1.0,
                 emotion_timeline: str | None = Form(None, max_length=inputs.MAX_TIMELINE_BYTES,
                                                     description="JSON emotion timeline (overrides emotion)"),
                 transcript: Transcript = None, fps: float = fps_field(),
                 seed: int | None = seed_field("idle-motion seed; default: derived from the audio"),
                 model: Model = "builtin") -> JSONResponse:
    animate = inputs.need("emodiffhead.animate", "animate", "the animator")
    head = state.heads.get(model)
    timeline = inputs.parse_emotion(emotion, intensity, emotion_timeline)
    with tempfile.TemporaryDirectory(prefix="emodiffhead-animate-") as tmp:
        path = inputs.save_upload("audio", audio.content_type, audio.file, Path(tmp))
        clip = inputs.check_audio(path, state.config.max_audio_s)
        if seed is None:
            seed = derive_seed(path)
        with state.heavy:
            track = animate(clip, head, transcript=transcript or None, emotion=timeline, fps=fps, seed=seed)
    return JSONResponse(track.to_dict())
