"""Log-mel windows per video frame."""

from __future__ import annotations

import numpy as np

from emodiffhead.diffusion import audio_features as af


def test_shapes_and_a_tone_lands_in_its_band_at_its_time():
    sr = 16000
    t = np.arange(int(2.0 * sr)) / sr
    x = np.zeros_like(t, dtype=np.float32)
    on = (t >= 1.0) & (t < 1.4)
    x[on] = 0.5 * np.sin(2 * np.pi * 1000 * t[on])
    w = af.frame_windows(x, fps=25.0, num_frames=50)
    assert w.shape == (50, af.WINDOW, af.N_MELS) and w.dtype == np.float32
    centre = w[:, af.WINDOW // 2]                       # the mel frame at each video frame's time
    loud = centre.mean(1)
    assert loud[30] > loud[10] + 1.0                    # frame 30 = 1.2 s is inside the tone, frame 10 is silent
    fb = af.mel_filterbank()
    freqs = np.linspace(0, sr / 2, af.N_FFT // 2 + 1)
    band = int(np.argmax(fb[:, np.argmin(np.abs(freqs - 1000))]))
    assert int(np.argmax(centre[30])) in (band - 1, band, band + 1)


def test_edges_are_padded_with_silence():
    w = af.frame_windows(np.ones(1600, np.float32) * 0.1, fps=25.0, num_frames=3)
    assert np.all(w[0, 0] == w[0, 0, 0])  # before time 0: constant silence value
    assert w[0, af.WINDOW // 2].std() > 0 or w[0, af.WINDOW // 2].mean() != w[0, 0, 0]
