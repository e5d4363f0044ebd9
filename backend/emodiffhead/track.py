"""The expression track: per-frame head parameters plus emotion intensities.

This module is the one definition of the format used by the CLI, the server, the renderers and the
Blender add-on (which reads and writes the same JSON with the standard library). The JSON Schema
published in ``docs/track.schema.json`` is generated from :func:`json_schema`.

JSON layout (version 1)::

    {
      "format": "emodiffhead.track", "version": 1,
      "fps": 25.0, "num_frames": T,
      "head_model": "builtin",
      "expression_names": [E names],
      "expression": [[E floats] * T],        # final expression coefficients (speech + emotion)
      "joint_names": ["root", "neck", "jaw", "eye_left", "eye_right"],
      "pose": [[[3 floats] * 5] * T],        # axis-angle, radians, per joint
      "translation": [[3 floats] * T],       # metres
      "emotion_names": [C names],            # emotion.EMOTIONS
      "emotion": [[C floats] * T],           # intensity per category, 0..1.5
      "expression_base": [[E floats] * T],   # optional: speech + idle motion before emotion
      "emotion_basis": [[E floats] * C],     # optional: the emotion vectors used (per unit of intensity)
      "emotion_basis_above": [[E floats] * C],  # optional: their change per unit of intensity above 1
      "meta": {"audio": {"file": "...", "duration_s": 3.1}, "generator": "...", "generator_version": "..."}
    }

A compact ``.npz`` twin holds the same arrays (meta as a JSON string) for long clips.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .emotion import EMOTIONS
from .errors import TrackError
from .fileio import atomic_path
from .head.model import JOINT_NAMES, NUM_JOINTS

FORMAT_NAME = "emodiffhead.track"
FORMAT_VERSION = 1
#: Frame rate of tracks and videos when the user names none (frames per second).
DEFAULT_FPS = 25.0
#: Limits of a track (the one definition: the animator, renderers, commands, server and add-on use these).
#: Frames per second lie in (0, MAX_FPS].
MAX_FPS = 240
#: Emotion intensities lie in [0, MAX_INTENSITY] (above 1 exaggerates).
MAX_INTENSITY = 1.5
MAX_FRAMES = 25 * 60 * 30  # 30 minutes at 25 fps

#: Fields every track file has, in the order they are checked.
REQUIRED_FIELDS: tuple[str, ...] = ("fps", "head_model", "expression_names", "expression", "pose", "translation",
                                    "emotion_names", "emotion")
#: Shape of each array field in symbols: T frames, E expression components (``expression_names``),
#: C emotions (``emotion_names``), J joints (NUM_JOINTS); numbers are fixed sizes.
ARRAY_SHAPES: dict[str, tuple[str | int, ...]] = {
    "expression": ("T", "E"),
    "pose": ("T", "J", 3),
    "translation": ("T", 3),
    "emotion": ("T", "C"),
    "expression_base": ("T", "E"),
    "emotion_basis": ("C", "E"),
    "emotion_basis_above": ("C", "E"),
}
#: Array fields that may be absent.
OPTIONAL_ARRAYS: tuple[str, ...] = ("expression_base", "emotion_basis", "emotion_basis_above")


def fps_in_range(fps: float) -> bool:
    """True when ``fps`` (frames per second) lies in (0, MAX_FPS]."""
    return 0 < fps <= MAX_FPS


@dataclass
class Track:
    """A per-frame animation of a head model.

    expression: (T, E) float32; pose: (T, 5, 3) float32 axis-angle (JOINT_NAMES order);
    translation: (T, 3) float32 metres; emotion: (T, C) float32 intensities (names in
    ``emotion_names``); expression_base: optional (T, E) motion before emotion was added;
    emotion_basis: optional (C, E) emotion vectors; emotion_basis_above: optional (C, E) their change per unit
    of intensity above 1 (a category's emotion expression at intensity w is
    ``w * emotion_basis + max(0, w - 1) * emotion_basis_above``; absent: linear); fps: frames per second.
    """

    fps: float
    head_model: str
    expression_names: list[str]
    expression: np.ndarray
    pose: np.ndarray
    translation: np.ndarray
    emotion_names: list[str]
    emotion: np.ndarray
    expression_base: np.ndarray | None = None
    emotion_basis: np.ndarray | None = None
    emotion_basis_above: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / float(self.fps)

    @classmethod
    def neutral(cls, num_frames: int, fps: float, head_model: str, expression_names: list[str],
                emotion_names: list[str] | None = None) -> "Track":
        """A still, neutral track of ``num_frames`` frames."""
        names = list(EMOTIONS if emotion_names is None else emotion_names)
        T, E = int(num_frames), len(expression_names)
        return cls(fps=float(fps), head_model=head_model, expression_names=list(expression_names),
                   expression=np.zeros((T, E), np.float32), pose=np.zeros((T, NUM_JOINTS, 3), np.float32),
                   translation=np.zeros((T, 3), np.float32), emotion_names=names,
                   emotion=np.zeros((T, len(names)), np.float32))

    def validate(self) -> "Track":
        """Check types, shapes and values; raise :class:`TrackError` naming the field. Returns self."""
        _validate(self)
        return self

    def replace(self, **changes: Any) -> "Track":
        """A new track with ``changes`` (field=value) applied; name lists and ``meta`` are copied, arrays shared
        unless changed. Not validated (call :meth:`validate`)."""
        copied = {"expression_names": list(self.expression_names), "emotion_names": list(self.emotion_names),
                  "meta": dict(self.meta)}
        return dataclasses.replace(self, **{**copied, **changes})

    def take_frames(self, index: np.ndarray) -> "Track":
        """A new track of the frames ``index`` ((T',) int array, repeats allowed) of every per-frame array."""
        def take(a):
            return None if a is None else np.asarray(a)[index]
        return self.replace(expression=take(self.expression), pose=take(self.pose),
                            translation=take(self.translation), emotion=take(self.emotion),
                            expression_base=take(self.expression_base))

    def slice(self, start: int, stop: int) -> "Track":
        """Frames [start, stop) as a new track."""
        return self.take_frames(np.arange(self.num_frames)[start:stop])

    # ---- conversion ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (lists of floats rounded to 6 decimals)."""
        return track_dict(self, lambda a: np.round(np.asarray(a, np.float64), 6).tolist())

    @classmethod
    def from_dict(cls, d: Any) -> "Track":
        """Parse and validate a JSON-like dict; raises :class:`TrackError` naming the bad field."""
        check_header(d, TrackError)
        t = cls(**parse_fields(d, TrackError, _array), meta=d.get("meta") or {})
        check_meta_and_frames(d, t.meta, t.num_frames, TrackError)
        return t.validate()


# ---- files -------------------------------------------------------------------------------------

def save_track(track: Track, path: str | os.PathLike) -> Path:
    """Validate and write ``track`` to ``path`` (``.json`` or ``.npz``) atomically. Returns the path."""
    track.validate()
    path = Path(path)
    if path.suffix.lower() == ".npz":
        d = track_dict(track, lambda a: None)  # the arrays are stored as arrays, not in the JSON header
        arrays = {k: np.asarray(getattr(track, k), np.float32) for k in ARRAY_SHAPES if getattr(track, k) is not None}
        header = {k: v for k, v in d.items() if k not in arrays}
        writer = lambda f: np.savez_compressed(f, header_json=np.array(json.dumps(header)), **arrays)  # noqa: E731
        mode = "wb"
    else:
        text = json.dumps(track.to_dict(), separators=(",", ":"))
        writer = lambda f: f.write(text)  # noqa: E731
        mode = "w"
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        writer(f)
    return path


def load_track(path: str | os.PathLike) -> Track:
    """Read and validate a track file (``.json`` or ``.npz``); raises :class:`TrackError` or ``InputFileError``."""
    from .errors import InputFileError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"track file not found: {path}" if not path.exists()
                             else f"track path is not a file: {path}")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = json.loads(str(z["header_json"]))
                for k in z.files:
                    if k != "header_json":
                        d[k] = z[k]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise TrackError(f"{path.name}: not a valid track npz ({e})") from None
        return Track.from_dict(d)
    return Track.from_dict(decode_json(path.read_bytes(), path.name, TrackError))


def track_from_json_bytes(data: bytes) -> Track:
    """Parse a track from JSON bytes (server uploads)."""
    return Track.from_dict(decode_json(data, "track", TrackError))


# ---- validation --------------------------------------------------------------------------------

def _array(v: Any, name: str, ndim: int) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):
        raise TrackError(f"track field {name!r}: not a rectangular array of numbers") from None
    if a.ndim != ndim:
        raise TrackError(f"track field {name!r}: expected {ndim} dimensions, got shape {a.shape}")
    return a


def _validate(t: Track) -> None:
    T = t.expression.shape[0] if np.ndim(t.expression) == 2 else -1
    check_size(t.fps, T, TrackError)
    present = {key for key in ARRAY_SHAPES if getattr(t, key) is not None}
    check_present(present, TrackError)
    for key, shape in expected_shapes(T, len(t.expression_names), len(t.emotion_names), present).items():
        a = np.asarray(getattr(t, key))
        if a.shape != shape:
            raise TrackError(f"track field {key!r}: expected shape {shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))[0].tolist()
            raise TrackError(f"track field {key!r}: NaN or infinite value at index {bad}")
        setattr(t, key, a.astype(np.float32, copy=False))
    if len(set(t.expression_names)) != len(t.expression_names):
        raise TrackError("track field 'expression_names': names are not unique")
    lo, hi = (float(t.emotion.min()), float(t.emotion.max())) if t.emotion.size else (0.0, 0.0)
    check_emotions(t.emotion_names, lo, hi, TrackError)


# ---- conversion and checks shared with the add-on ------------------------------------------------
# Standard library only (no numpy), raising the error class they are given: backend/tools/
# write_addon_track_spec.py copies them verbatim into addon/track_spec.py, so the add-on's stdlib reader and
# writer lay out and check files from the same source (tests/addon/test_track_io.py fails while the copy is
# stale). `duplicates` lists that copy as a twin of this section: it is the generated copy, kept on purpose.

def track_dict(t: Any, rounded: Any) -> dict[str, Any]:
    """The JSON-ready dict of track ``t`` (a Track, or the add-on's TrackData) with its fields in the order files
    are written; ``rounded(array)`` gives an array as nested lists of floats rounded to 6 decimals."""
    d: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fps": float(t.fps),
        "num_frames": t.num_frames,
        "head_model": t.head_model,
        "expression_names": list(t.expression_names),
        "expression": rounded(t.expression),
        "joint_names": list(JOINT_NAMES),
        "pose": rounded(t.pose),
        "translation": rounded(t.translation),
        "emotion_names": list(t.emotion_names),
        "emotion": rounded(t.emotion),
    }
    for key in OPTIONAL_ARRAYS:
        if getattr(t, key) is not None:
            d[key] = rounded(getattr(t, key))
    d["meta"] = t.meta
    return d


def decode_json(data: bytes, where: str, error: type[Exception]) -> Any:
    """UTF-8 JSON ``data`` decoded; ``error`` saying ``{where}: not valid JSON (why)`` if it is not."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{where}: not valid JSON ({e})") from None


def check_header(d: Any, error: type[Exception]) -> None:
    """Raise ``error`` unless ``d`` is a track's top level: a dict of this format and version holding every
    required field, naming the head model's joints if it names any."""
    if not isinstance(d, dict):
        raise error("track: expected a JSON object at the top level")
    if d.get("format") != FORMAT_NAME:
        raise error(f"track field 'format': expected {FORMAT_NAME!r}, got {d.get('format')!r}")
    version = d.get("version")
    if version != FORMAT_VERSION:
        raise error(f"track field 'version': unknown version {version!r} (this build reads {FORMAT_VERSION})")
    for key in REQUIRED_FIELDS:
        if key not in d:
            raise error(f"track field {key!r} is missing")
    if "joint_names" in d:
        names = d["joint_names"].tolist() if hasattr(d["joint_names"], "tolist") else d["joint_names"]
        if not isinstance(names, (list, tuple)) or list(names) != list(JOINT_NAMES):
            raise error(f"track field 'joint_names': expected {list(JOINT_NAMES)}, got {repr(d['joint_names'])[:100]}")


def parse_fields(d: dict, error: type[Exception], parse_array: Any) -> dict[str, Any]:
    """The fields of track dict ``d`` (every required one and the optional arrays it holds), parsed: fps as a
    float, names as lists, arrays by ``parse_array(value, name, ndim)`` (numpy arrays in the backend, nested
    lists in the add-on); ``error`` naming the first bad field."""
    def parse(key: str) -> Any:
        v = d[key]
        if key in ARRAY_SHAPES:
            return parse_array(v, key, len(ARRAY_SHAPES[key]))
        if key.endswith("_names"):
            return parse_names(v, key, error)
        return parse_number(v, key, error) if key == "fps" else parse_string(v, key, error)

    fields = {key: parse(key) for key in REQUIRED_FIELDS}
    fields.update({key: parse(key) for key in OPTIONAL_ARRAYS if d.get(key) is not None})
    return fields


def check_meta_and_frames(d: dict, meta: Any, num_frames: int, error: type[Exception]) -> None:
    """Raise ``error`` unless ``meta`` is a dict and ``d["num_frames"]`` (when given) is ``num_frames``."""
    if not isinstance(meta, dict):
        raise error("track field 'meta': expected an object")
    if "num_frames" in d and d["num_frames"] != num_frames:
        raise error(f"track field 'num_frames' is {d['num_frames']!r} but 'expression' has {num_frames} frames")


def parse_number(v: Any, name: str, error: type[Exception]) -> float:
    """``v`` as a finite float; ``error`` naming field ``name`` otherwise."""
    try:
        f = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
    except OverflowError:  # an integer beyond float range
        f = math.inf
    if not math.isfinite(f):
        raise error(f"track field {name!r}: expected a finite number, got {repr(v)[:40]}")
    return f


def parse_string(v: Any, name: str, error: type[Exception]) -> str:
    """``v`` if it is a non-empty string; ``error`` naming field ``name`` otherwise."""
    if not isinstance(v, str) or not v:
        raise error(f"track field {name!r}: expected a non-empty string, got {v!r}")
    return v


def parse_names(v: Any, name: str, error: type[Exception]) -> list[str]:
    """``v`` (a list, tuple or array of strings) as a list of unique names; ``error`` naming ``name`` otherwise."""
    v = v.tolist() if hasattr(v, "tolist") else v
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
        raise error(f"track field {name!r}: expected a list of strings")
    names = [str(s) for s in v]
    if len(set(names)) != len(names):
        raise error(f"track field {name!r}: names are not unique")
    return names


def check_size(fps: float, num_frames: int, error: type[Exception]) -> None:
    """Raise ``error`` unless ``fps`` is in (0, MAX_FPS] and 1 <= ``num_frames`` <= MAX_FRAMES."""
    if not fps_in_range(fps):
        raise error(f"track field 'fps': {fps} is outside (0, {MAX_FPS}]")
    if num_frames < 1:
        raise error("track field 'expression': needs at least one frame of shape (T, E)")
    if num_frames > MAX_FRAMES:
        raise error(f"track has {num_frames} frames; the limit is {MAX_FRAMES}")


def expected_shapes(T: int, E: int, C: int, present: set[str]) -> dict[str, tuple[int, ...]]:
    """The shape each array field must have (ARRAY_SHAPES with T frames, E expression components, C emotions),
    for the required fields and the optional ones in ``present``, in ARRAY_SHAPES order."""
    sizes = {"T": T, "E": E, "C": C, "J": NUM_JOINTS}
    return {key: tuple(sizes.get(s, s) for s in symbols) for key, symbols in ARRAY_SHAPES.items()
            if key in present or key not in OPTIONAL_ARRAYS}


def check_present(present: set[str], error: type[Exception]) -> None:
    """Raise ``error`` when an optional array is given without the one it belongs to (``emotion_basis_above``
    is the change of ``emotion_basis`` above intensity 1)."""
    if "emotion_basis_above" in present and "emotion_basis" not in present:
        raise error("track field 'emotion_basis_above': given without 'emotion_basis' (it is that basis's change "
                    "above intensity 1)")


def check_emotions(names: list[str], lowest: float, highest: float, error: type[Exception]) -> None:
    """Raise ``error`` unless every emotion name is known and intensities (lowest .. highest) lie in
    [0, MAX_INTENSITY]."""
    unknown = [n for n in names if n not in EMOTIONS]
    if unknown:
        raise error(f"track field 'emotion_names': unknown emotion(s) {unknown}; known: {list(EMOTIONS)}")
    if lowest < 0 or highest > MAX_INTENSITY + 1e-6:
        raise error(f"track field 'emotion': intensities must lie in [0, {MAX_INTENSITY}]")


def check_compatible(track: Track, expression_names: list[str], head_name: str | None = None) -> None:
    """Raise :class:`TrackError` unless the track's expression components match the head model's.

    head_name: the head model's name; when given and different from ``track.head_model`` the message says
    which head the track was made for."""
    if list(track.expression_names) != list(expression_names):
        missing = [n for n in expression_names if n not in track.expression_names]
        extra = [n for n in track.expression_names if n not in expression_names]
        whose = (f"the track was made for head model {track.head_model!r}, not {head_name!r}: "
                 if head_name and track.head_model and track.head_model != head_name else "")
        raise TrackError(
            f"{whose}track field 'expression_names' does not match the head model "
            f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unknown {extra[:5]}{'...' if len(extra) > 5 else ''})"
        )


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the track file."""
    num = {"type": "number"}
    row = {"type": "array", "items": num}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://emodiffhead.invalid/track.schema.json",
        "title": "emodiffhead expression track",
        "type": "object",
        "required": ["format", "version", *REQUIRED_FIELDS],
        "properties": {
            "format": {"const": FORMAT_NAME},
            "version": {"const": FORMAT_VERSION},
            "fps": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_FPS},
            "num_frames": {"type": "integer", "minimum": 1, "maximum": MAX_FRAMES},
            "head_model": {"type": "string", "minLength": 1, "description": "id of the head model (e.g. builtin)"},
            "expression_names": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "expression": {"type": "array", "items": row, "description": "(T, E) final expression coefficients"},
            "joint_names": {"const": list(JOINT_NAMES)},
            "pose": {"type": "array", "items": {"type": "array", "minItems": NUM_JOINTS, "maxItems": NUM_JOINTS,
                                                 "items": {"type": "array", "items": num, "minItems": 3, "maxItems": 3}},
                     "description": f"(T, {NUM_JOINTS}, 3) axis-angle radians: {', '.join(JOINT_NAMES)}"},
            "translation": {"type": "array", "items": {"type": "array", "items": num, "minItems": 3, "maxItems": 3},
                            "description": "(T, 3) metres"},
            "emotion_names": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "emotion": {"type": "array", "items": {"type": "array", "items": {"type": "number", "minimum": 0,
                                                                              "maximum": MAX_INTENSITY}},
                        "description": "(T, C) intensity per emotion category"},
            "expression_base": {"type": "array", "items": row,
                                "description": "(T, E) optional: speech and idle motion before emotion"},
            "emotion_basis": {"type": "array", "items": row,
                              "description": "(C, E) optional: the expression vector of each emotion at intensity 1"},
            "emotion_basis_above": {"type": "array", "items": row,
                                    "description": "(C, E) optional: the change of each emotion's expression vector "
                                                   "per unit of intensity above 1 (needs emotion_basis)"},
            "meta": {"type": "object"},
        },
    }
