"""Acoustic fallback: mouth motion from energy and spectral shape, for non-speech / non-English audio.

Used when phone recognition does not apply (singing with held notes, other languages, noise-like
sound). jawOpen follows the smoothed loudness of active sound; lip rounding follows the share of
low-frequency energy (back/rounded vowels concentrate energy below 1 kHz); the mouth closes in silence
and at sharp level dips (consonant-like closures).
"""

from __future__ import annotations

import numpy as np

from ..audio.prosody import Prosody
from ..facs import ARKIT_INDEX, JAW_OPEN, NUM_ARKIT
from .coarticulation import MouthMotion


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return x
    k = np.hanning(n + 2)[1:-1]
    k /= k.sum()
    return np.convolve(np.pad(x, (n // 2, n - 1 - n // 2), mode="edge"), k, mode="valid")


def acoustic_mouth(pro: Prosody, times_s: np.ndarray) -> MouthMotion:
    """(T, 52) ARKit mouth weights at ``times_s`` (T,) from :class:`Prosody` features."""
    loud = np.where(pro.active, pro.loudness, 0.0).astype(np.float64)
    loud = _smooth(loud, 5)  # 50 ms
    low = _smooth(np.where(pro.voiced, pro.low_ratio, 0.0).astype(np.float64), 9)
    ref = np.percentile(pro.low_ratio[pro.voiced], [20, 80]) if pro.voiced.sum() > 10 else (0.4, 0.8)
    rnd = np.clip((low - ref[0]) / max(1e-3, ref[1] - ref[0]), 0, 1) * (pro.voiced > 0)
    jaw = np.interp(times_s, pro.times_s, 0.62 * np.clip(loud, 0, 1.1) ** 0.8)
    rnd = np.interp(times_s, pro.times_s, _smooth(rnd, 7))
    T = len(times_s)
    w = np.zeros((T, NUM_ARKIT), np.float32)
    w[:, JAW_OPEN] = jaw * (1 - 0.4 * rnd)
    w[:, ARKIT_INDEX["mouthPucker"]] = 0.55 * rnd
    w[:, ARKIT_INDEX["mouthFunnel"]] = 0.35 * rnd * np.clip(jaw / 0.3, 0, 1)
    w[:, ARKIT_INDEX["mouthLowerDownLeft"]] = w[:, ARKIT_INDEX["mouthLowerDownRight"]] = 0.15 * np.clip(jaw / 0.6, 0, 1)
    z = np.zeros(T, np.float32)
    return MouthMotion(weights=w, closure=z, labiodental=z.copy(), rounding=rnd.astype(np.float32))
