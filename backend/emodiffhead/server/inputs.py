"""Uploaded inputs: content-type checks, fixed file names, and the cheap validation done before queuing.

Every problem raises an :class:`~emodiffhead.errors.EmodiffheadError` subclass (the app maps it to a 4xx).
Uploaded file names are never used: files are stored as ``photo.<ext>``, ``audio.<ext>``, ``track.json`` with
the extension sniffed from the content.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO

from ..errors import AudioError, EmodiffheadError, InputFileError, NotAvailableError


class UnsupportedMediaType(EmodiffheadError):
    """An upload's content type is not one the endpoint takes."""

    http_status = 415


class ParameterError(EmodiffheadError):
    """A form field has a value the server cannot use."""

    http_status = 422


_GENERIC = {"", "application/octet-stream"}
ALLOWED_TYPES = {
    "photo": (("image/",), "image/jpeg, image/png, image/webp or image/bmp"),
    "audio": (("audio/", "video/"), "audio/* (wav, flac, mp3, ogg, m4a) or a video with sound"),
    "track": (("application/json", "text/"), "application/json"),
    "shape": (("application/json", "text/"), "application/json"),
}


def need(module: str, attr: str, what: str):
    """``module.attr``, imported on first use; NotAvailableError (409) naming ``what`` when it is not installed."""
    import importlib

    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise NotAvailableError(f"{what} is not available in this installation ({e})") from None


def check_content_type(role: str, content_type: str | None) -> None:
    """Raise UnsupportedMediaType (415) unless ``content_type`` fits the upload ``role``."""
    ct = (content_type or "").split(";")[0].strip().lower()
    prefixes, described = ALLOWED_TYPES[role]
    if ct in _GENERIC or any(ct.startswith(p) for p in prefixes):
        return
    raise UnsupportedMediaType(f"upload '{role}': content type {ct!r} is not accepted; send {described}")


def sniff_image_ext(head: bytes) -> str | None:
    """File extension of an image from its first bytes, or None when not a known image format."""
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head.startswith(b"BM"):
        return ".bmp"
    return None


def sniff_audio_ext(head: bytes) -> str:
    """A plausible file extension for audio bytes (decoders also probe the content)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return ".wav"
    if head.startswith(b"fLaC"):
        return ".flac"
    if head.startswith(b"OggS"):
        return ".ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return ".mp3"
    if head[4:8] == b"ftyp":
        return ".m4a"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    return ".audio"


def save_upload(role: str, content_type: str | None, src: IO[bytes], dest_dir: Path) -> Path:
    """Check the content type and copy an upload to ``dest_dir/<role><ext>``. Returns the path."""
    check_content_type(role, content_type)
    head = src.read(16)
    src.seek(0)
    if not head:
        raise InputFileError(f"upload '{role}' is empty")
    if role == "photo":
        ext = sniff_image_ext(head)
        if ext is None:
            raise InputFileError("upload 'photo': not a JPEG, PNG, WebP or BMP image")
    elif role == "audio":
        ext = sniff_audio_ext(head)
    else:
        ext = ".json"
    path = dest_dir / f"{role}{ext}"
    with open(path, "wb") as f:
        shutil.copyfileobj(src, f, 1 << 20)
    return path


def load_photo_rgb(path: Path):
    """Decode the photo to (H, W, 3) uint8 RGB; InputFileError when it does not decode."""
    import cv2
    import numpy as np

    data = np.fromfile(str(path), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise InputFileError("upload 'photo': the image cannot be decoded")
    if min(bgr.shape[:2]) < 32:
        raise InputFileError(f"upload 'photo': the image is only {bgr.shape[1]}x{bgr.shape[0]} pixels")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def check_photo(path: Path) -> None:
    """Decode the photo and check it shows a face (FaceNotFoundError, 422, when it does not)."""
    rgb = load_photo_rgb(path)
    from ..face.detect import detect_face

    detect_face(rgb)


#: Shortest audio the server takes, seconds (the animator needs a few frames of context).
MIN_AUDIO_S = 0.75


def check_audio(path: Path, max_audio_s: float):
    """Decode the audio (AudioError when it cannot be used, is shorter than MIN_AUDIO_S or longer than
    ``max_audio_s``). Returns the clip."""
    from ..audio.io import load_audio

    try:
        clip = load_audio(path, max_duration_s=max_audio_s)
    except AudioError as e:
        raise AudioError(f"upload 'audio': {_strip_name(str(e), path)}") from None
    if clip.duration_s < MIN_AUDIO_S:
        raise AudioError(f"upload 'audio': {clip.duration_s:.2f} s is too short; at least {MIN_AUDIO_S:g} s is needed")
    return clip


def _strip_name(message: str, path: Path) -> str:
    return message[len(path.name) + 2:] if message.startswith(path.name + ": ") else message


def check_track_for_render(track, audio_duration_s: float) -> None:
    """TrackError (422) when the track does not fit the built-in head or the audio's length (the render
    pipeline's own rules: :func:`emodiffhead.render.pipeline.match_track_to_audio`, rendered at the track's fps)."""
    from ..head import load_head
    from ..track import check_compatible

    match = need("emodiffhead.render.pipeline", "match_track_to_audio", "the render pipeline")
    check_compatible(track, load_head("builtin").expression_names, "builtin")
    match(track, audio_duration_s, track.fps)


def parse_track_file(path: Path):
    """Parse and validate an uploaded track (the track validator's message on failure)."""
    from ..track import track_from_json_bytes

    return track_from_json_bytes(path.read_bytes())


def parse_emotion(emotion: str, intensity: float, emotion_timeline: str | None):
    """The EmotionTimeline for the form fields (``emotion_timeline`` JSON wins over emotion + intensity)."""
    from ..emotion import EMOTIONS

    if emotion not in EMOTIONS:
        raise ParameterError(f"field 'emotion': unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
    EmotionTimeline = need("emodiffhead.animate.emotion_timeline", "EmotionTimeline", "emotion timelines")
    if emotion_timeline:
        import json

        try:  # parsed here: from_json would take a non-JSON string as a server file path
            spec = json.loads(emotion_timeline)
        except ValueError as e:
            raise ParameterError(f"field 'emotion_timeline': not valid JSON ({e})") from None
        if not isinstance(spec, (dict, list)):
            raise ParameterError("field 'emotion_timeline': expected a JSON object or list of keys")
        try:
            return EmotionTimeline.from_json(spec)
        except EmodiffheadError as e:
            raise ParameterError(f"field 'emotion_timeline': {e}") from None
        except (ValueError, TypeError, KeyError) as e:
            raise ParameterError(f"field 'emotion_timeline': not a valid emotion timeline ({e})") from None
    return EmotionTimeline.constant(emotion, intensity)
