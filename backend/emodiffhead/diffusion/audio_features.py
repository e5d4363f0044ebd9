"""Log-mel audio features in a window around each video frame (numpy only, no librosa).

``frame_windows(samples, fps, num_frames)`` -> (T, W, M) float32: for frame t (time t / fps) the W mel frames
(hop 20 ms, so W = 16 covers 320 ms) centred on it, M mel bands, log-compressed and scaled to about unit range.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
WIN = 400      # 25 ms
HOP = 320      # 20 ms
N_MELS = 40
WINDOW = 16    # mel frames per video frame (320 ms)
_LOG_MEAN, _LOG_STD = -6.0, 3.0  # rough centring of log-mel values of speech at unit scale


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   fmin: float = 40.0, fmax: float = 7600.0) -> np.ndarray:
    """Triangular HTK mel filters (n_mels, n_fft // 2 + 1) float32, each normalised to unit area."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        fb[i] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
        fb[i] /= max(fb[i].sum(), 1e-9)
    return fb.astype(np.float32)


def log_mel(samples: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """(N,) float32 16 kHz mono -> (F, n_mels) float32 scaled log-mel, one row per 20 ms hop (row k at k * 20 ms)."""
    x = np.asarray(samples, np.float32)
    pad = N_FFT // 2
    x = np.pad(x, (pad, pad + HOP), mode="constant")
    n = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    win = np.zeros(N_FFT, np.float32)
    off = (N_FFT - WIN) // 2
    win[off:off + WIN] = np.hanning(WIN)
    spec = np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2
    mel = spec @ mel_filterbank(n_mels).T
    return ((np.log(mel + 1e-8) - _LOG_MEAN) / _LOG_STD).astype(np.float32)


def frame_windows(samples: np.ndarray, fps: float, num_frames: int, window: int = WINDOW,
                  n_mels: int = N_MELS) -> np.ndarray:
    """(T, window, n_mels) float32 log-mel windows centred on each frame time t / fps (edges padded with silence)."""
    mel = log_mel(samples, n_mels)
    silence = ((np.log(1e-8) - _LOG_MEAN) / _LOG_STD)
    centre = np.round(np.arange(num_frames) / fps * SAMPLE_RATE / HOP).astype(int)
    idx = centre[:, None] + np.arange(window)[None, :] - window // 2
    out = np.full((num_frames, window, n_mels), silence, np.float32)
    ok = (idx >= 0) & (idx < len(mel))
    out[ok] = mel[idx[ok]]
    return out
