"""Emotion intensity over time: a constant, or keyframes with interpolation and crossfades.

JSON syntax (also accepted as a Python dict or a JSON string)::

    {"keys": [
        {"t": 0.0, "emotion": "happy", "intensity": 0.2},
        {"t": 2.0, "emotion": "happy", "intensity": 0.9, "interp": "smooth"},
        {"t": 4.0, "emotion": "sad", "intensity": 0.7, "crossfade": 0.5},
        {"t": 6.0, "emotions": {"surprised": 0.6, "happy": 0.4}, "interp": "linear"}
    ]}

- Each key sets the intensity of every category at time ``t`` (seconds): either one ``emotion`` with
  ``intensity`` (others 0) or a mix ``emotions: {name: intensity}``. ``neutral`` means all zero.
- Between two keys the whole (C,) intensity vector moves from the earlier key to the later one with the
  later key's ``interp``: ``"linear"`` (default), ``"smooth"`` (smoothstep ease-in/out) or ``"step"``
  (jump at the key). A change of category is therefore a crossfade (one fades out while the other fades in).
  ``crossfade: S`` limits the transition to the last S seconds before the key (hold before that).
- Before the first key the first key holds; after the last key the last key holds.
- Intensities lie in 0..``track.MAX_INTENSITY`` (1.5; above 1 exaggerates). Short form: ``{"emotion": "happy", "intensity": 0.7}``.
  A bare list of keys is accepted too.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..emotion import EMOTIONS
from ..errors import EmodiffheadError, InputFileError
from ..track import MAX_INTENSITY

INTERPS = ("linear", "smooth", "step")


class EmotionTimelineError(EmodiffheadError):
    """An emotion timeline is malformed; the message names the key and field."""

    http_status = 422


@dataclass(frozen=True)
class EmotionKey:
    """Intensities ``values`` (C,) at time ``t`` s, reached with ``interp`` over ``crossfade`` s (None: all)."""

    t: float
    values: np.ndarray
    interp: str = "linear"
    crossfade: float | None = None


class EmotionTimeline:
    """Per-category intensity curves; ``sample(times_s)`` -> (T, C) float32 in emotion.EMOTIONS order."""

    def __init__(self, keys: list[EmotionKey]):
        if not keys:
            raise EmotionTimelineError("emotion timeline: needs at least one key")
        self.keys = sorted(keys, key=lambda k: k.t)

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def constant(cls, name: str, intensity: float = 1.0) -> "EmotionTimeline":
        """One emotion at a fixed intensity for the whole clip."""
        return cls([EmotionKey(0.0, _vector({name: intensity}, "constant"))])

    @classmethod
    def neutral(cls) -> "EmotionTimeline":
        return cls.constant("neutral", 0.0)

    @classmethod
    def from_json(cls, spec: str | os.PathLike | dict | list) -> "EmotionTimeline":
        """Parse a timeline from a file path, a JSON string, a dict or a list of keys (syntax above)."""
        data: Any = spec
        if isinstance(spec, (str, os.PathLike)):
            s = str(spec)
            if s.lstrip().startswith(("{", "[")):
                data = _loads(s, "emotion timeline")
            else:
                p = Path(s)
                if not p.is_file():
                    raise InputFileError(f"emotion timeline file not found: {p}")
                try:
                    data = _loads(p.read_text(encoding="utf-8"), p.name)
                except UnicodeDecodeError:
                    raise EmotionTimelineError(f"{p.name}: not a text (JSON) file") from None
        if isinstance(data, list):
            data = {"keys": data}
        if not isinstance(data, dict):
            raise EmotionTimelineError("emotion timeline: expected a JSON object with 'keys'")
        if "keys" not in data:
            if "emotion" in data or "emotions" in data:
                data = {"keys": [dict(data, t=0.0)]}
            else:
                raise EmotionTimelineError("emotion timeline: missing 'keys' (a list of keyframes)")
        raw = data["keys"]
        if not isinstance(raw, list) or not raw:
            raise EmotionTimelineError("emotion timeline: 'keys' must be a non-empty list")
        keys = [_parse_key(k, i) for i, k in enumerate(raw)]
        for i in range(1, len(keys)):
            if keys[i].t < keys[i - 1].t:
                raise EmotionTimelineError(f"emotion timeline key {i}: t={keys[i].t:g} is before key {i - 1} "
                                           f"(t={keys[i - 1].t:g}); key times must not decrease")
        return cls(keys)

    def to_dict(self) -> dict:
        """JSON-ready dict in the documented syntax (mix form)."""
        out = []
        for k in self.keys:
            d: dict[str, Any] = {"t": k.t, "emotions": {n: float(v) for n, v in zip(EMOTIONS, k.values) if v > 0},
                                 "interp": k.interp}
            if k.crossfade is not None:
                d["crossfade"] = k.crossfade
            out.append(d)
        return {"keys": out}

    # ---- sampling -----------------------------------------------------------------------------
    def sample(self, times_s: np.ndarray) -> np.ndarray:
        """Intensities at ``times_s`` (T,) seconds -> (T, C) float32, C = len(EMOTIONS)."""
        t = np.asarray(times_s, np.float64).reshape(-1)
        keys = self.keys
        out = np.repeat(keys[0].values[None].astype(np.float64), len(t), axis=0)
        for a, b in zip(keys, keys[1:]):
            start = a.t if b.crossfade is None else max(a.t, b.t - b.crossfade)
            span = b.t - start
            m = (t > a.t) & (t <= b.t) if b.t > a.t else np.zeros(len(t), bool)
            if span <= 0 or b.interp == "step":
                u = (t[m] >= b.t).astype(np.float64)
            else:
                u = np.clip((t[m] - start) / span, 0.0, 1.0)
                if b.interp == "smooth":
                    u = u * u * (3 - 2 * u)
            out[m] = a.values[None] * (1 - u[:, None]) + b.values[None] * u[:, None]
        last = keys[-1]
        out[t > last.t] = last.values
        return np.clip(out, 0.0, MAX_INTENSITY).astype(np.float32)


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise EmotionTimelineError(f"{where}: not valid JSON ({e})") from None


def _intensity(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise EmotionTimelineError(f"{where}: intensity must be a number, got {v!r}")
    if not (0.0 <= v <= MAX_INTENSITY):
        raise EmotionTimelineError(f"{where}: intensity {v} is outside 0..{MAX_INTENSITY}")
    return float(v)


def _vector(mix: dict, where: str) -> np.ndarray:
    v = np.zeros(len(EMOTIONS), np.float64)
    for name, x in mix.items():
        if name not in EMOTIONS:
            raise EmotionTimelineError(f"{where}: unknown emotion {name!r}; choose one of {', '.join(EMOTIONS)}")
        x = _intensity(x, where)
        if name != "neutral":
            v[EMOTIONS.index(name)] = x
    return v


def _parse_key(k: Any, i: int) -> EmotionKey:
    where = f"emotion timeline key {i}"
    if not isinstance(k, dict):
        raise EmotionTimelineError(f"{where}: expected an object like {{\"t\": 0, \"emotion\": \"happy\", \"intensity\": 0.5}}")
    unknown = set(k) - {"t", "emotion", "intensity", "emotions", "interp", "crossfade"}
    if unknown:
        raise EmotionTimelineError(f"{where}: unknown field(s) {sorted(unknown)}")
    t = k.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise EmotionTimelineError(f"{where}: 't' must be a time in seconds >= 0, got {t!r}")
    where = f"{where} (t={t:g})"
    if "emotions" in k:
        if "emotion" in k:
            raise EmotionTimelineError(f"{where}: give either 'emotion' + 'intensity' or 'emotions', not both")
        if not isinstance(k["emotions"], dict):
            raise EmotionTimelineError(f"{where}: 'emotions' must map names to intensities")
        values = _vector(k["emotions"], where)
    elif "emotion" in k:
        if not isinstance(k["emotion"], str):
            raise EmotionTimelineError(f"{where}: 'emotion' must be a name")
        values = _vector({k["emotion"]: k.get("intensity", 1.0)}, where)
    else:
        raise EmotionTimelineError(f"{where}: needs 'emotion' (with 'intensity') or 'emotions'")
    interp = k.get("interp", "linear")
    if interp not in INTERPS:
        raise EmotionTimelineError(f"{where}: 'interp' must be one of {', '.join(INTERPS)}, got {interp!r}")
    cf = k.get("crossfade")
    if cf is not None and (isinstance(cf, bool) or not isinstance(cf, (int, float)) or not math.isfinite(cf) or cf < 0):
        raise EmotionTimelineError(f"{where}: 'crossfade' must be seconds >= 0, got {cf!r}")
    return EmotionKey(float(t), values, interp, None if cf is None else float(cf))
