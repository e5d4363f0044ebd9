"""Read and write emodiffhead track files (JSON) with the standard library only.

The format's one definition is ``backend/emodiffhead/track.py`` (``Track``, ``save_track``,
``load_track``; JSON Schema in ``docs/track.schema.json``). Blender's Python cannot import the
backend (it needs the backend's own environment), so this module reads and writes the same JSON with
``json`` alone. It does not redefine anything the format carries: expression, joint and emotion names
are taken from the file (or from the server's ``/health``). ``tests/addon/test_track_io.py`` checks
this reader/writer against ``emodiffhead.track.load_track``/``save_track`` on real files so the two
cannot drift.

A track is held as :class:`TrackData`: plain nested lists (T frames):
expression (T, E), pose (T, 5, 3) axis-angle radians, translation (T, 3) metres, emotion (T, C)
intensities 0..1.5, optional expression_base (T, E) and emotion_basis (C, E).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

FORMAT_NAME = "emodiffhead.track"
FORMAT_VERSION = 1


class TrackFormatError(ValueError):
    """The file is not a valid emodiffhead track; the message names the field."""


@dataclass
class TrackData:
    """A track as plain lists. Shapes: expression (T, E), pose (T, J, 3), translation (T, 3),
    emotion (T, C), expression_base (T, E) or None, emotion_basis (C, E) or None."""

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
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.expression)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict in the field order the backend writes (floats rounded to 6 decimals)."""
        d: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "fps": float(self.fps),
            "num_frames": self.num_frames,
            "head_model": self.head_model,
            "expression_names": list(self.expression_names),
            "expression": _round(self.expression),
            "joint_names": list(self.joint_names),
            "pose": _round(self.pose),
            "translation": _round(self.translation),
            "emotion_names": list(self.emotion_names),
            "emotion": _round(self.emotion),
        }
        if self.expression_base is not None:
            d["expression_base"] = _round(self.expression_base)
        if self.emotion_basis is not None:
            d["emotion_basis"] = _round(self.emotion_basis)
        d["meta"] = dict(self.meta)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> "TrackData":
        """Parse and check a JSON dict; raises :class:`TrackFormatError` naming the bad field."""
        if not isinstance(d, dict):
            raise TrackFormatError("track: expected a JSON object at the top level")
        if d.get("format") != FORMAT_NAME:
            raise TrackFormatError(f"track field 'format': expected {FORMAT_NAME!r}, got {d.get('format')!r}")
        if d.get("version") != FORMAT_VERSION:
            raise TrackFormatError(f"track field 'version': unknown version {d.get('version')!r}")
        for key in ("fps", "head_model", "expression_names", "expression", "pose", "translation",
                    "emotion_names", "emotion"):
            if key not in d:
                raise TrackFormatError(f"track field {key!r} is missing")
        expression_names = _names(d["expression_names"], "expression_names")
        emotion_names = _names(d["emotion_names"], "emotion_names")
        expression = _matrix(d["expression"], "expression")
        T, E, C = len(expression), len(expression_names), len(emotion_names)
        pose = d["pose"]
        joint_names = _names(d.get("joint_names") or [], "joint_names")
        J = len(joint_names) if joint_names else (len(pose[0]) if pose else 0)
        t = cls(
            fps=_number(d["fps"], "fps"),
            head_model=str(d["head_model"]),
            expression_names=expression_names,
            expression=expression,
            joint_names=joint_names,
            pose=[_matrix(p, f"pose[{i}]") for i, p in enumerate(pose)] if isinstance(pose, list) else _bad("pose"),
            translation=_matrix(d["translation"], "translation"),
            emotion_names=emotion_names,
            emotion=_matrix(d["emotion"], "emotion"),
            expression_base=_matrix(d["expression_base"], "expression_base") if d.get("expression_base") is not None else None,
            emotion_basis=_matrix(d["emotion_basis"], "emotion_basis") if d.get("emotion_basis") is not None else None,
            meta=d.get("meta") or {},
        )
        if T < 1:
            raise TrackFormatError("track field 'expression': needs at least one frame")
        if not (0 < t.fps <= 240):
            raise TrackFormatError(f"track field 'fps': {t.fps} is outside (0, 240]")
        if "num_frames" in d and d["num_frames"] != T:
            raise TrackFormatError(f"track field 'num_frames' is {d['num_frames']!r} but 'expression' has {T} frames")
        _shape(t.expression, (T, E), "expression")
        _shape(t.translation, (T, 3), "translation")
        _shape(t.emotion, (T, C), "emotion")
        if len(t.pose) != T or any(len(p) != J or any(len(r) != 3 for r in p) for p in t.pose):
            raise TrackFormatError(f"track field 'pose': expected shape ({T}, {J}, 3)")
        if t.expression_base is not None:
            _shape(t.expression_base, (T, E), "expression_base")
        if t.emotion_basis is not None:
            _shape(t.emotion_basis, (C, E), "emotion_basis")
        if not isinstance(t.meta, dict):
            raise TrackFormatError("track field 'meta': expected an object")
        return t


def read_track(path: str | os.PathLike) -> TrackData:
    """Read a ``.json`` track file. Raises :class:`TrackFormatError` (or OSError if unreadable)."""
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise TrackFormatError(f"{os.path.basename(path)}: not valid JSON ({e})") from None
    return TrackData.from_dict(d)


def track_from_bytes(data: bytes) -> TrackData:
    """Parse a track from JSON bytes (e.g. the body of the server's /animate answer)."""
    try:
        d = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TrackFormatError(f"track: not valid JSON ({e})") from None
    return TrackData.from_dict(d)


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


def _bad(name: str):
    raise TrackFormatError(f"track field {name!r}: not a rectangular array of numbers")


def _number(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TrackFormatError(f"track field {name!r}: expected a finite number, got {v!r}")
    return float(v)


def _names(v: Any, name: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise TrackFormatError(f"track field {name!r}: expected a list of strings")
    if len(set(v)) != len(v):
        raise TrackFormatError(f"track field {name!r}: names are not unique")
    return list(v)


def _matrix(v: Any, name: str) -> list[list[float]]:
    if not isinstance(v, list) or not all(isinstance(r, list) for r in v):
        _bad(name)
    out = []
    for i, row in enumerate(v):
        r = []
        for x in row:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise TrackFormatError(f"track field {name!r}: bad value {x!r} in row {i}")
            r.append(float(x))
        out.append(r)
    return out


def _shape(m: list[list[float]], shape: tuple[int, int], name: str) -> None:
    if len(m) != shape[0] or any(len(r) != shape[1] for r in m):
        raise TrackFormatError(f"track field {name!r}: expected shape {shape}")
