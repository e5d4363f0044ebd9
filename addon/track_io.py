"""Read and write emodiffhead track files (JSON) with the standard library only.

The format's one definition is ``backend/emodiffhead/track.py`` (``Track``, ``save_track``,
``load_track``; JSON Schema in ``docs/track.schema.json``). Blender's Python cannot import the
backend (it needs the backend's own environment), so this module reads and writes the same JSON with
``json`` alone. Its constants (format name and version, limits, joint and emotion names, required fields,
array shapes), the file layout and the checks come from ``track_spec.py``, which
``backend/tools/write_addon_track_spec.py`` generates from the backend (the constants, and the backend's
stdlib-only functions copied verbatim): it writes what the backend writes and rejects what it rejects.
Expression and emotion names are taken from the file (or from the server's ``/health``).
``tests/addon/test_track_io.py`` checks this reader/writer against ``emodiffhead.track.load_track``/
``save_track`` on real files and that ``track_spec.py`` is up to date, so the two cannot drift.

A track is held as :class:`TrackData`: plain nested lists (T frames):
expression (T, E), pose (T, 5, 3) axis-angle radians, translation (T, 3) metres, emotion (T, C)
intensities 0..MAX_INTENSITY, optional expression_base (T, E), emotion_basis (C, E) and emotion_basis_above
(C, E): a category's emotion expression at intensity w is ``w * emotion_basis + max(0, w - 1) *
emotion_basis_above`` (absent: linear).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from .track_spec import (ARRAY_SHAPES, JOINT_NAMES, check_emotions, check_header, check_meta_and_frames,
                         check_present, check_size, decode_json, expected_shapes, parse_fields, track_dict)


class TrackFormatError(ValueError):
    """The file is not a valid emodiffhead track; the message names the field."""


@dataclass
class TrackData:
    """A track as plain lists. Shapes: expression (T, E), pose (T, J, 3), translation (T, 3),
    emotion (T, C), expression_base (T, E) or None, emotion_basis (C, E) or None, emotion_basis_above (C, E) or
    None."""

    fps: float
    head_model: str
    expression_names: list[str]
    expression: list[list[float]]
    joint_names: list[str]
    pose: list[list[list[float]]]
    translation: list[list[float]]
    emotion_names: list[str]
    emotion: list[list[float]]
    expression_base: list[list[float]] | None = None
    emotion_basis: list[list[float]] | None = None
    emotion_basis_above: list[list[float]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.expression)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict in the field order the backend writes (floats rounded to 6 decimals)."""
        return track_dict(self, _round)

    @classmethod
    def from_dict(cls, d: Any) -> "TrackData":
        """Parse and check a JSON dict; raises :class:`TrackFormatError` naming the bad field."""
        check_header(d, TrackFormatError)
        t = cls(**parse_fields(d, TrackFormatError, _array), joint_names=list(JOINT_NAMES), meta=d.get("meta") or {})
        check_meta_and_frames(d, t.meta, t.num_frames, TrackFormatError)
        _check(t)
        return t


def read_track(path: str | os.PathLike) -> TrackData:
    """Read a ``.json`` track file. Raises :class:`TrackFormatError` (or OSError if unreadable)."""
    with open(path, "rb") as f:
        data = f.read()
    return TrackData.from_dict(decode_json(data, os.path.basename(path), TrackFormatError))


def track_from_bytes(data: bytes) -> TrackData:
    """Parse a track from JSON bytes (e.g. the body of the server's /animate answer)."""
    return TrackData.from_dict(decode_json(data, "track", TrackFormatError))


def write_track(track: TrackData, path: str | os.PathLike) -> str:
    """Write ``track`` as compact JSON to ``path`` atomically (temp file + rename). Returns the path."""
    path = os.fspath(path)
    text = json.dumps(track.to_dict(), separators=(",", ":"))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ---- helpers -----------------------------------------------------------------------------------

def _round(a: Any) -> Any:
    if isinstance(a, (list, tuple)):
        return [_round(x) for x in a]
    return round(float(a), 6)


def _array(v: Any, name: str, ndim: int) -> list:
    """``v`` as nested lists ``ndim`` deep of finite floats (not yet checked for shape)."""
    if not isinstance(v, list):
        raise TrackFormatError(f"track field {name!r}: not a rectangular array of numbers")
    if ndim > 1:
        return [_array(x, name, ndim - 1) for x in v]
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise TrackFormatError(f"track field {name!r}: NaN, infinite or not a number: {repr(x)[:40]}")
    return [float(x) for x in v]


def _has_shape(a: list, shape: tuple[int, ...]) -> bool:
    if len(a) != shape[0]:
        return False
    return len(shape) == 1 or all(_has_shape(x, shape[1:]) for x in a)


def _check(t: TrackData) -> None:
    """The backend's checks of a parsed track (``emodiffhead.track._validate``) on nested lists."""
    T = t.num_frames
    check_size(t.fps, T, TrackFormatError)
    present = {key for key in ARRAY_SHAPES if getattr(t, key) is not None}
    check_present(present, TrackFormatError)
    for key, shape in expected_shapes(T, len(t.expression_names), len(t.emotion_names), present).items():
        if not _has_shape(getattr(t, key), shape):
            raise TrackFormatError(f"track field {key!r}: expected shape {shape}")
    values = [x for row in t.emotion for x in row] or [0.0]
    check_emotions(t.emotion_names, min(values), max(values), TrackFormatError)


def emotion_term(weights: list[float], basis: list[list[float]], above: list[list[float]] | None = None) -> list[float]:
    """(E,) the emotion part of one frame's expression, ``w @ basis + max(0, w - 1) @ above``, for (C,)
    intensities ``weights``, (C, E) ``basis`` and (C, E) ``above`` (None: linear); the backend's
    ``emotion_vectors.emotion_response`` for one frame."""
    out = [0.0] * (len(basis[0]) if basis else 0)
    for c, w in enumerate(weights):
        if not w:
            continue
        rows = [(w, basis[c])] + ([(w - 1.0, above[c])] if above is not None and w > 1.0 else [])
        for k, row in rows:
            for e, b in enumerate(row):
                if b:
                    out[e] += k * b
    return out
