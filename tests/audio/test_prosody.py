"""Prosody features that hold up in ordinary recordings: mains hum is not heard as speech level."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.audio.io import AudioClip, load_audio
from emodiffhead.audio.prosody import analyze


@pytest.mark.parametrize("hum_hz", [50.0, 60.0])
def test_mains_hum_leaves_the_activity(example_audio, hum_hz):
    """A loud hum (50 or 60 Hz at the speech's own RMS) raised the quiet floor the activity threshold is set from, so
    quiet speech was taken for pauses (on the real clip 80 % of the frames active -> 59 %); the level is now
    measured above the hum."""
    clip = load_audio(example_audio)
    x = clip.samples.astype(np.float64)
    t = np.arange(len(x)) / clip.sample_rate
    hum = np.sqrt(2 * np.mean(x ** 2)) * np.sin(2 * np.pi * hum_hz * t)
    clean, hummed = analyze(clip), analyze(AudioClip((x + hum).astype(np.float32)))
    agree = float(np.mean(clean.active == hummed.active))
    assert agree > 0.95, agree
    assert abs(float(hummed.active.mean()) - float(clean.active.mean())) < 0.04


def test_level_high_pass_is_zero_phase():
    """The high-pass that keeps hum out of the level must not shift it in time: its response to a click is
    symmetric about the click (a causal filter's rings after it), so activity edges stay where the sound is."""
    from emodiffhead.audio.prosody import _highpass

    x = np.zeros(16000, np.float32)
    x[8000] = 1.0
    y = _highpass(x, 16000).astype(np.float64)
    k = np.arange(1, 400)
    assert np.abs(y[8000 + k] - y[8000 - k]).max() < 1e-4 * np.abs(y).max()
    assert abs(int(np.argmax(np.abs(y))) - 8000) == 0


def test_prosody_does_not_import_scipy_signal(example_audio):
    """Importing scipy.signal costs 0.3-0.7 s, a third of `emodiffhead animate` on 60 s of speech: the level's
    high-pass is numpy only (a fresh process: other tests may have imported it here)."""
    import subprocess
    import sys

    code = ("import sys; from emodiffhead.audio.io import load_audio; from emodiffhead.audio.prosody import analyze; "
            f"analyze(load_audio({str(example_audio)!r})); print('scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_level_high_pass_matches_a_butterworth_run_both_ways():
    """The frequency-domain high-pass is the zero-phase 4th-order Butterworth (sosfiltfilt's response)."""
    from scipy.signal import butter, sosfiltfilt

    from emodiffhead.audio.prosody import LEVEL_HIGHPASS_HZ, _highpass

    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros(800), rng.standard_normal(16000), np.zeros(800)]).astype(np.float32)
    ref = sosfiltfilt(butter(4, LEVEL_HIGHPASS_HZ, "highpass", fs=16000, output="sos"), x)
    assert np.abs(_highpass(x, 16000) - ref).max() < 1e-3 * np.abs(ref).max()
