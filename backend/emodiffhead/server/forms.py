"""Form fields several endpoints take, declared once (their limits come from the track format and ``inputs``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import File, Form, UploadFile

from ..emotion import EMOTIONS
from ..track import MAX_INTENSITY
from . import inputs

EmotionName = Literal[EMOTIONS]  # type: ignore[valid-type]

#: ``emotion``: one category for the whole clip (default "neutral").
Emotion = Annotated[EmotionName, Form()]
#: ``intensity``: of that category, 0..MAX_INTENSITY (default 1.0).
Intensity = Annotated[float, Form(ge=0.0, le=MAX_INTENSITY)]
#: ``transcript``: optional text of the speech.
Transcript = Annotated[str | None, Form(max_length=100_000)]
#: ``model``: head model name, "builtin" or a FLAME file the server offers.
Model = Annotated[str, Form(max_length=4096)]
#: ``size``: output size in pixels (short side).
Size = Annotated[int, Form(ge=64, le=1024)]
#: The identity photo upload.
Photo = Annotated[UploadFile, File(description="identity photo with one face")]
#: The speech recording upload.
Audio = Annotated[UploadFile, File(description="speech recording")]


def fps_field(description: str | None = None):
    """``fps`` form field, MIN_FPS..MAX_FPS of the server (default 25)."""
    return Form(25.0, ge=inputs.MIN_FPS, le=inputs.MAX_FPS, description=description)


def seed_field(description: str):
    """``seed`` form field: the idle-motion seed, 0..2**31-1, or None (derived from the inputs)."""
    return Form(None, ge=0, le=2**31 - 1, description=description)
