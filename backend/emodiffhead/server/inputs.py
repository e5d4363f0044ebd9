"""Uploaded inputs: content-type checks, fixed file names, and the cheap validation done before queuing.

Every problem raises an :class:`~emodiffhead.errors.EmodiffheadError` subclass (the app maps it to a 4xx).
Uploaded file names are never used: files are stored as ``photo.<ext>``, ``audio.<ext>``, ``track.json`` with
the extension sniffed from the content.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import IO

from ..errors import AudioError, EmodiffheadError, FaceNotFoundError, InputFileError, NotAvailableError, TrackError
from . import jsonlimits

#: Largest photo accepted, pixels (width x height), checked from the file header before decoding.
#: A decoded photo takes 3 bytes per pixel (twice during the colour conversion): 50 MP is 150-300 MB.
MAX_PHOTO_PIXELS = 50_000_000
#: Frame rates the server renders at (form field ``fps``, and a given track's own fps).
MIN_FPS, MAX_FPS = 10.0, 120.0
#: Longest ``emotion_timeline`` / ``shape`` JSON text accepted (bytes).
MAX_TIMELINE_BYTES = 1_000_000
MAX_SHAPE_BYTES = 100_000
#: Tracks up to this size are parsed in the request thread; larger ones in a child process so that parsing
#: never holds the server's GIL for long (status requests keep answering during the upload).
INLINE_TRACK_BYTES = 1 << 20


class UnsupportedMediaType(EmodiffheadError):
    """An upload's content type is not one the endpoint takes."""

    http_status = 415


class ParameterError(EmodiffheadError):
    """A form field has a value the server cannot use."""

    http_status = 422


class UploadTooLarge(EmodiffheadError):
    """An upload is over one of the server's content limits (photo pixels, track bytes or frames)."""

    http_status = 413


class InsufficientStorage(EmodiffheadError):
    """The data folder's disk has too little free space for a new job."""

    http_status = 507


class DataFolderError(EmodiffheadError):
    """The server cannot write its data folder for a reason other than space (permissions, a read-only disk)."""

    http_status = 500


def storage_error(e: OSError, what: str) -> EmodiffheadError:
    """The error to answer for an OSError met saving ``what`` in the data folder: InsufficientStorage (507) for
    a full disk or quota, else DataFolderError (500) with the system's reason."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"cannot save {what}: the disk of the server's data folder is full; free space "
                                   "or delete old jobs, then submit again")
    return DataFolderError(f"cannot save {what} in the server's data folder ({(e.strerror or str(e)).lower()})")


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
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)  # private to the user
        with open(fd, "wb") as f:
            shutil.copyfileobj(src, f, 1 << 20)
    except OSError as e:
        raise storage_error(e, f"upload '{role}'") from None
    return path


def check_photo_header(path: Path | IO[bytes]) -> tuple[int, int]:
    """(width, height) of the photo (a path or a seekable binary file) from its header; UploadTooLarge (413) over MAX_PHOTO_PIXELS, InputFileError
    (400) when the header cannot be read. Decodes nothing."""
    from .image_header import image_size

    try:
        wh = image_size(path)
    except (OSError, ValueError, OverflowError):
        wh = None
    if wh is None or min(wh) < 1:
        raise InputFileError("upload 'photo': the image header cannot be read (not a valid JPEG, PNG, WebP or BMP)")
    w, h = int(wh[0]), int(wh[1])
    if w * h > MAX_PHOTO_PIXELS:
        raise UploadTooLarge(f"upload 'photo': {w}x{h} pixels ({w * h / 1e6:.0f} MP) is over the limit of "
                             f"{MAX_PHOTO_PIXELS / 1e6:g} MP; scale the photo down")
    return w, h


def load_photo_rgb(path: Path):
    """Decode the photo to (H, W, 3) uint8 RGB after the header check (:func:`check_photo_header`), exactly as
    the renderer reads it (:func:`emodiffhead.face.image.decode_photo`); InputFileError when it does not decode.
    Callers bound how many decodes run at once."""
    import numpy as np

    from ..face.image import decode_photo

    check_photo_header(path)
    try:
        rgb = decode_photo(np.fromfile(str(path), np.uint8), "upload 'photo'")
    except InputFileError:
        raise InputFileError("upload 'photo': the image cannot be decoded") from None
    if min(rgb.shape[:2]) < 32:
        raise InputFileError(f"upload 'photo': the image is only {rgb.shape[1]}x{rgb.shape[0]} pixels")
    return rgb


def check_photo(path: Path, size: int) -> None:
    """Decode the photo and check it shows a face big enough for a video of ``size`` px, by the renderer's
    own rule (:func:`emodiffhead.render.framing.find_face_at_size`); FaceNotFoundError (422) if not."""
    rgb = load_photo_rgb(path)
    find_face_at_size = need("emodiffhead.render.framing", "find_face_at_size", "the render pipeline")
    try:
        find_face_at_size(rgb, int(size))
    except FaceNotFoundError as e:
        if "too small" not in str(e):
            raise
        raise FaceNotFoundError(f"upload 'photo': {e} (the photo is scaled to {int(size)} px on its short side "
                                "for this video; a larger size keeps more of the face)") from None


def check_audio(path: Path, max_audio_s: float):
    """Decode the audio (AudioError when it cannot be used, is shorter than ``audio.io.MIN_DURATION_S`` (the
    CLI's limit too) or longer than ``max_audio_s``). Returns the clip."""
    from ..audio.io import MIN_DURATION_S, load_audio

    try:
        return load_audio(path, max_duration_s=max_audio_s, min_duration_s=MIN_DURATION_S)
    except AudioError as e:
        raise AudioError(f"upload 'audio': {_strip_name(str(e), path)}") from None


def _strip_name(message: str, path: Path) -> str:
    return message[len(path.name) + 2:] if message.startswith(path.name + ": ") else message


def check_track_for_render(track, audio_duration_s: float) -> None:
    """TrackError (422) when the track does not fit the built-in head, the server's frame rates or the audio's
    length (the render pipeline's own rules: :func:`emodiffhead.render.pipeline.match_track_to_audio`, rendered
    at the track's fps)."""
    from ..head import load_head
    from ..track import check_compatible

    if not (MIN_FPS <= track.fps <= MAX_FPS):
        raise TrackError(f"track field 'fps': {track.fps:g} is outside the server's {MIN_FPS:g}..{MAX_FPS:g} fps")
    match = need("emodiffhead.render.pipeline", "match_track_to_audio", "the render pipeline")
    check_compatible(track, load_head("builtin").expression_names, "builtin")
    match(track, audio_duration_s, track.fps)


def max_track_frames(max_audio_s: float) -> int:
    """Most frames a track may have: the longest audio at MAX_FPS (+ the pipeline's tolerance), at most the
    track format's own limit."""
    import math

    from ..track import MAX_FRAMES

    return int(min(MAX_FRAMES, math.ceil(max_audio_s * MAX_FPS) + 2))


def parse_track_file(path: Path, *, max_bytes: int, max_frames: int):
    """Parse and validate an uploaded track with limits: UploadTooLarge (413) over ``max_bytes`` (checked from the
    file size before reading) or ``max_frames`` (checked before the arrays are built); TrackError / JSONLimitError
    (422) naming the field otherwise. Tracks over INLINE_TRACK_BYTES are parsed in a child process."""
    size = Path(path).stat().st_size
    if size > max_bytes:
        raise UploadTooLarge(f"upload 'track': {size / 2**20:.1f} MB is over the track limit of "
                             f"{max_bytes / 2**20:g} MB (set with emodiffhead serve --max-track-mb)")
    if size <= INLINE_TRACK_BYTES:
        return parse_track_bytes(Path(path).read_bytes(), max_bytes=max_bytes, max_frames=max_frames)
    return _in_child_process(_parse_track_path, str(path), max_bytes, max_frames)


def _parse_track_path(path: str, max_bytes: int, max_frames: int):
    return parse_track_bytes(Path(path).read_bytes(), max_bytes=max_bytes, max_frames=max_frames)


def parse_track_bytes(data: bytes, *, max_bytes: int, max_frames: int):
    """The validated Track in JSON ``data`` (limits as :func:`parse_track_file`)."""
    from ..track import Track

    from ..emotion import EMOTIONS

    too_many = ("is over the limit of {} frames (the longest audio the server takes, at the highest frame rate)"
                .format(max_frames))
    # before parsing: a track of T frames has at most 5 T + 2 C arrays at depth 3 (rows of expression, pose,
    # translation, emotion, expression_base, and C rows each of emotion_basis and emotion_basis_above); more
    # means more than max_frames
    rows = jsonlimits.structure(data[:max_bytes + 1])[1]
    if rows > 5 * max_frames + 2 * len(EMOTIONS):
        raise UploadTooLarge(f"upload 'track': at least {(rows - 2 * len(EMOTIONS) + 4) // 5} frames {too_many}")
    # floats by the fast C parser: Track.from_dict refuses non-finite values naming the field
    d = jsonlimits.loads(data, "track", max_bytes=max_bytes, check_floats=False)
    frames = d.get("expression") if isinstance(d, dict) else None
    if isinstance(frames, list) and len(frames) > max_frames:  # exact, before the arrays are built
        raise UploadTooLarge(f"upload 'track': {len(frames)} frames {too_many}")
    try:
        return Track.from_dict(d)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:  # a value of a wrong type somewhere
        raise TrackError(f"track: a field has a value of the wrong type or range ({type(e).__name__}: "
                         f"{str(e)[:200]})") from None


def _in_child_process(fn, *args):
    """``fn(*args)`` in a fresh child process (spawned: nothing of the server is inherited); its result or
    its exception. The server's GIL stays free meanwhile, and the child's memory goes back when it exits.
    (A spawned child imports the parent's main script unless it is a ``__main__`` module, as under
    ``python -m emodiffhead serve``: a script embedding the server needs an ``if __name__ == "__main__"`` guard.)"""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    if mp.current_process().daemon:  # a daemonic process may not have children (a test or benchmark harness)
        return fn(*args)
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
            return ex.submit(fn, *args).result()
    except BrokenProcessPool:  # the child died (out of memory, killed)
        raise UploadTooLarge("upload 'track': the process parsing it stopped unexpectedly (out of memory?); "
                             "send a smaller track") from None


def parse_emotion(emotion: str, intensity: float, emotion_timeline: str | None):
    """The EmotionTimeline for the form fields (``emotion_timeline`` JSON wins over emotion + intensity)."""
    from ..emotion import EMOTIONS

    if emotion not in EMOTIONS:
        raise ParameterError(f"field 'emotion': unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
    EmotionTimeline = need("emodiffhead.animate.emotion_timeline", "EmotionTimeline", "emotion timelines")
    if emotion_timeline:
        # parsed here: from_json would take a non-JSON string as a server file path
        spec = jsonlimits.loads(emotion_timeline, "emotion_timeline", max_bytes=MAX_TIMELINE_BYTES)
        if not isinstance(spec, (dict, list)):
            raise ParameterError("field 'emotion_timeline': expected a JSON object or list of keys")
        try:
            return EmotionTimeline.from_json(spec)
        except EmodiffheadError as e:
            raise ParameterError(f"field 'emotion_timeline': {e}") from None
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as e:
            raise ParameterError(f"field 'emotion_timeline': not a valid emotion timeline ({type(e).__name__}: "
                                 f"{str(e)[:200]})") from None
    return EmotionTimeline.constant(emotion, intensity)
