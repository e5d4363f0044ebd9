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
