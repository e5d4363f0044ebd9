"""Zero-phase smoothing of extracted tracks (shared by the landmark and DECA extractors).

A Savitzky-Golay filter is symmetric in time (no lag) and keeps the peaks of fast motion such as blinks
and plosives better than a plain low-pass filter.
"""

from __future__ import annotations

import numpy as np

#: Savitzky-Golay windows (frames at 25 fps; scaled with the frame rate) and polynomial order.
SMOOTH_EXPRESSION = 5
SMOOTH_POSE = 7
SMOOTH_ORDER = 2


def smooth_track_arrays(x: np.ndarray, fps: float, window_at_25: int) -> np.ndarray:
    """Zero-phase Savitzky-Golay smoothing of (T, ...) along time; windows scale with ``fps``."""
    from scipy.signal import savgol_filter

    T = x.shape[0]
    win = int(round(window_at_25 * fps / 25.0)) | 1
    win = min(win, T if T % 2 else T - 1)
    if win <= SMOOTH_ORDER + 1:
        return x.copy()
    return savgol_filter(x, win, SMOOTH_ORDER, axis=0, mode="interp").astype(np.float32)
