"""Syllable prominence: which vowels a speaker stresses, normalised to that speaker's own voice.

Stressed syllables are louder, longer and higher-pitched than their neighbours, and speakers open the jaw
wider on them. Absolute levels say little (a quiet recording, a loud speaker, a far microphone), so every cue
is ranked against the speaker's other vowels in a window of ``WINDOW_S`` around the vowel (per-speaker and
drift-robust normalisation): the result is a 0..1 percentile, 0.5 for a typical vowel of that speaker.
"""

from __future__ import annotations

import numpy as np

from ..audio.phonemes import Phone
from ..audio.prosody import HOP_S, Prosody

#: Weights of the cues: peak level (dB), duration, peak pitch (semitones).
WEIGHTS = {"level": 0.6, "duration": 0.25, "pitch": 0.15}
#: Cues are ranked among the speaker's vowels within +- WINDOW_S / 2.
WINDOW_S = 20.0


def _rank_local(x: np.ndarray, centre: np.ndarray, window_s: float) -> np.ndarray:
    """(N,) 0..1 mid-rank of x[i] among the x[j] with |centre[j] - centre[i]| <= window_s / 2 (NaN -> 0.5)."""
    out = np.full(len(x), 0.5)
    ok = ~np.isnan(x)
    rows = np.flatnonzero(ok)
    for s in range(0, len(rows), 512):  # (512, N) boolean blocks: the same counts as one row at a time
        i = rows[s: s + 512]
        near = ok[None, :] & (np.abs(centre[None, :] - centre[i, None]) <= window_s / 2)
        n = near.sum(1)
        below = (near & (x[None, :] < x[i, None])).sum(1) + 0.5 * ((near & (x[None, :] == x[i, None])).sum(1) - 1)
        out[i] = np.where(n > 1, below / np.maximum(n - 1, 1), 0.5)
    return out


def phone_prominence(phones: list[Phone], pro: Prosody, vowels: tuple[str, ...],
                     window_s: float = WINDOW_S) -> np.ndarray:
    """(P,) 0..1 prominence of every phone (vowels ranked within the speaker's clip; other phones 0.5)."""
    P = len(phones)
    out = np.full(P, 0.5, np.float32)
    idx = [i for i, p in enumerate(phones) if p.label in vowels]
    if len(idx) < 3:
        return out
    level = np.full(len(idx), np.nan)
    pitch = np.full(len(idx), np.nan)
    dur = np.array([phones[i].duration_s for i in idx])
    cen = np.array([phones[i].centre_s for i in idx])
    n = len(pro.rms_db)
    for k, i in enumerate(idx):
        a = int(np.clip(phones[i].start_s / HOP_S, 0, n - 1))
        b = int(np.clip(np.ceil(phones[i].end_s / HOP_S), a + 1, n))
        level[k] = float(pro.rms_db[a:b].max())
        f0 = pro.f0_hz[a:b]
        f0 = f0[np.isfinite(f0)]
        if f0.size:
            pitch[k] = float(12 * np.log2(np.percentile(f0, 90) / 100.0))
    score = (WEIGHTS["level"] * _rank_local(level, cen, window_s)
             + WEIGHTS["duration"] * _rank_local(dur, cen, window_s)
             + WEIGHTS["pitch"] * _rank_local(pitch, cen, window_s))
    # re-rank the combined score so it spans 0..1 for every speaker
    out[idx] = _rank_local(score, cen, window_s).astype(np.float32)
    return out
