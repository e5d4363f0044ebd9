"""Frame-level acoustic features (100 frames per second): loudness, voicing, pitch, spectral shape.

Used for head motion that follows prosody, for voice-activity (a still face in silences) and for the
acoustic fallback that drives the mouth when phone recognition does not apply (singing, other languages).
Pure numpy; about 5 ms of compute per second of audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .io import AudioClip

HOP_S = 0.01
WIN_S = 0.032
F0_MIN, F0_MAX = 70.0, 450.0
#: The band (Hz) of ``Prosody.hf_db``.
HF_BAND = (2000.0, 7000.0)
#: The level (``rms_db``, hence activity and loudness) is measured above this frequency (Hz; 4th-order
#: Butterworth high-pass, zero phase): mains hum (50/60 Hz) and rumble carry no speech, and a loud hum raised the quiet floor
#: the activity threshold is set from, so quiet speech was taken for pauses (docs/animator.md, *Noisy
#: recordings*). Speech loses little there (a deep voice keeps the harmonics above its 70-100 Hz fundamental).
LEVEL_HIGHPASS_HZ = 100.0


@dataclass(frozen=True)
class Prosody:
    """Per-frame features, N frames at ``HOP_S`` spacing (frame i centred at ``times_s[i]``).

    rms_db: (N,) level in dBFS. loudness: (N,) 0..1, level relative to the clip's speech level.
    active: (N,) bool voice/sound activity. voiced: (N,) bool. f0_hz: (N,) pitch, NaN where unvoiced.
    centroid_hz: (N,) spectral centroid. low_ratio: (N,) share of 0.2-4 kHz energy below 1 kHz
    (high for rounded/back vowels and closed lips). flux: (N,) 0..1 spectral change (onsets).
    hf_db: (N,) level of the ``HF_BAND`` (2-7 kHz) band in dB: where breath and frication noise show.
    """

    times_s: np.ndarray
    rms_db: np.ndarray
    loudness: np.ndarray
    active: np.ndarray
    voiced: np.ndarray
    f0_hz: np.ndarray
    centroid_hz: np.ndarray
    low_ratio: np.ndarray
    flux: np.ndarray
    hf_db: np.ndarray

    def at(self, name: str, times_s: np.ndarray) -> np.ndarray:
        """Feature ``name`` linearly interpolated at ``times_s`` (T,) -> (T,) float32 (NaN -> 0)."""
        v = np.asarray(getattr(self, name), np.float64)
        v = np.nan_to_num(v, nan=0.0)
        return np.interp(times_s, self.times_s, v).astype(np.float32)


def _frames(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """(n, win) float32 frames of ``x`` every ``hop`` samples, zero-padded at the end: a read-only view (no copy)."""
    n = 1 + max(0, (len(x) - win) // hop)
    pad = np.zeros(win + hop * n, np.float32)
    pad[: len(x)] = x[: len(pad)]
    return np.lib.stride_tricks.sliding_window_view(pad, win)[::hop][:n]


def _highpass(x: np.ndarray, sr: int) -> np.ndarray:
    """(N,) float32 ``x`` high-passed at ``LEVEL_HIGHPASS_HZ``, zero phase (the level keeps its timing): the
    amplitude response of a 4th-order Butterworth run forwards and backwards (as ``scipy.signal.sosfiltfilt``
    would: 1 / (1 + (tan(pi fc / sr) / tan(pi f / sr)) ** 8)), applied in the frequency domain. numpy only:
    importing scipy.signal costs 0.3-0.7 s, a third of the whole ``emodiffhead animate`` on 60 s."""
    x = np.asarray(x, np.float32)
    n = len(x)
    if n < 2:
        return x.copy()
    nfft = 1 << int(np.ceil(np.log2(n + sr // 10)))  # room for the response's tails, no wrap-around into the clip
    f = np.fft.rfftfreq(nfft, 1.0 / sr)
    with np.errstate(divide="ignore"):
        ratio = np.tan(np.pi * LEVEL_HIGHPASS_HZ / sr) / np.tan(np.pi * np.minimum(f, 0.499 * sr) / sr)
    gain = 1.0 / (1.0 + ratio ** 8)
    gain[0] = 0.0
    return np.fft.irfft(np.fft.rfft(x, nfft) * gain, nfft)[:n].astype(np.float32)


def analyze(clip: AudioClip) -> Prosody:
    """Compute :class:`Prosody` features of ``clip`` (16 kHz mono)."""
    sr = clip.sample_rate
    hop, win = int(HOP_S * sr), int(WIN_S * sr)
    x = np.asarray(clip.samples, np.float32)
    x = np.concatenate([np.zeros(win // 2, np.float32), x, np.zeros(win, np.float32)])
    fr = _frames(x, win, hop)
    n = max(1, int(round(clip.duration_s / HOP_S)))
    fr = fr[:n]
    if len(fr) < n:
        fr = np.concatenate([fr, np.zeros((n - len(fr), win), np.float32)])
    times = (np.arange(n) * HOP_S).astype(np.float64)

    rms = np.sqrt(np.mean(_frames(_highpass(x, sr), win, hop)[:n].astype(np.float64) ** 2, axis=1))
    if len(rms) < n:
        rms = np.concatenate([rms, np.zeros(n - len(rms))])
    rms_db = 20 * np.log10(np.maximum(rms, 1e-6))
    floor = np.percentile(rms_db, 10)
    peak = np.percentile(rms_db, 98)
    thr = max(floor + 0.35 * (peak - floor), peak - 40.0, -60.0)
    active = rms_db > thr
    active = close_gaps(active, 8)
    speech_level = np.percentile(rms_db[active], 90) if active.any() else peak
    loudness = np.clip((rms_db - thr) / max(1.0, speech_level - thr), 0.0, 1.2)

    wfn = np.hanning(win).astype(np.float32)
    nfft = 512
    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)
    band = (freqs >= 200) & (freqs <= 4000)
    low = freqs[band] < 1000
    hf = (freqs >= HF_BAND[0]) & (freqs < HF_BAND[1])
    hf_pow = np.empty(n)
    lo, hi = int(sr / F0_MAX), min(win - 1, int(sr / F0_MIN))
    centroid = np.empty(n)
    low_ratio = np.empty(n)
    flux = np.empty(n)
    peak_ac = np.empty(n)
    lag = np.empty(n)
    prev = None
    for s0 in range(0, n, 500):  # 5 s chunks: small temporaries (3x fewer page faults than 20 s chunks on 60 s)
        w = fr[s0: s0 + 500] * wfn
        m = len(w)
        spec = np.abs(np.fft.rfft(w, n=nfft, axis=1)) + 1e-9
        p = spec[:, band] ** 2
        hf_pow[s0: s0 + m] = (spec[:, hf] ** 2).sum(1)
        centroid[s0: s0 + m] = (p * freqs[band]).sum(1) / p.sum(1)
        low_ratio[s0: s0 + m] = p[:, low].sum(1) / p.sum(1)
        logspec = np.log(spec[:, band])
        d = np.diff(np.vstack([logspec[:1] if prev is None else prev, logspec]), axis=0)
        flux[s0: s0 + m] = np.maximum(0.0, d).mean(1)
        prev = logspec[-1:]
        # pitch: normalised autocorrelation (via FFT) of the windowed frame, parabolic peak refinement
        ac = np.fft.irfft(np.abs(np.fft.rfft(w, n=2 * win, axis=1)) ** 2, axis=1)[:, :win]
        ac = ac / np.maximum(ac[:, :1], 1e-12)
        k = np.argmax(ac[:, lo:hi], axis=1) + lo
        r = np.arange(m)
        peak_ac[s0: s0 + m] = ac[r, k]
        kk = np.clip(k, 1, win - 2)
        a_, b_, c_ = ac[r, kk - 1], ac[r, kk], ac[r, kk + 1]
        den = a_ - 2 * b_ + c_
        safe = np.where(np.abs(den) > 1e-9, den, 1.0)
        lag[s0: s0 + m] = kk + np.where(np.abs(den) > 1e-9, 0.5 * (a_ - c_) / safe, 0.0)
    flux[0] = 0.0
    flux = np.clip(flux / (np.percentile(flux, 95) + 1e-6), 0, 1.5)
    voiced = active & (peak_ac > 0.4)
    f0 = np.where(voiced, sr / np.maximum(lag, 1.0), np.nan)
    return Prosody(times_s=times, rms_db=rms_db.astype(np.float32), loudness=loudness.astype(np.float32),
                   active=active, voiced=voiced, f0_hz=f0.astype(np.float32), centroid_hz=centroid.astype(np.float32),
                   low_ratio=low_ratio.astype(np.float32), flux=flux.astype(np.float32),
                   hf_db=(10 * np.log10(np.maximum(hf_pow, 1e-12))).astype(np.float32))


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame index pairs of the runs of True in a (N,) bool mask."""
    d = np.diff(np.r_[0, np.asarray(mask, bool).astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def close_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """(N,) bool copy of ``mask`` with the False runs shorter than ``max_gap`` frames that lie between True
    frames filled."""
    m = mask.copy()
    idx = np.flatnonzero(m)
    if idx.size < 2:
        return m
    gaps = np.diff(idx)
    for i in np.flatnonzero((gaps > 1) & (gaps <= max_gap)):
        m[idx[i]: idx[i + 1]] = True
    return m


def sustained_pitch_ratio(pro: Prosody, min_len_s: float = 0.25, semitones: float = 0.6) -> float:
    """Share of voiced time spent in held notes (pitch within ``semitones`` for >= ``min_len_s``).

    Speech glides: typically < 0.25. Singing holds notes: typically > 0.3.
    """
    f0 = pro.f0_hz
    voiced = pro.voiced
    if voiced.sum() < 10:
        return 0.0
    st = 12 * np.log2(np.where(voiced, f0, 1.0) / 100.0)
    held = np.zeros(len(f0), bool)
    L = int(min_len_s / HOP_S)
    i = 0
    n = len(f0)
    while i < n:
        if not voiced[i]:
            i += 1
            continue
        j = i
        lo = hi = st[i]
        while j + 1 < n and voiced[j + 1] and max(hi, st[j + 1]) - min(lo, st[j + 1]) <= semitones:
            j += 1
            lo, hi = min(lo, st[j]), max(hi, st[j])
        if j - i + 1 >= L:
            held[i: j + 1] = True
        i = j + 1
    return float(held.sum() / voiced.sum())
