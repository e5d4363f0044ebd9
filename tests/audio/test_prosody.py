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


def test_level_keeps_its_timing(example_audio):
    """The high-pass that keeps hum out of the level is zero-phase: the level's onsets stay where the sound starts
    (a causal filter's delay would move every activity edge)."""
    clip = load_audio(example_audio)
    pro = analyze(clip)
    x = clip.samples.astype(np.float64)
    hop = int(0.01 * clip.sample_rate)
    raw = 20 * np.log10(np.maximum(np.sqrt(np.convolve(x ** 2, np.ones(512) / 512, "same")[::hop]), 1e-6))
    n = min(len(raw), len(pro.rms_db))
    lags = range(-5, 6)
    r = [np.corrcoef(raw[max(0, k): n + min(0, k)], pro.rms_db[max(0, -k): n - max(0, k)])[0, 1] for k in lags]
    assert list(lags)[int(np.argmax(r))] == 0
