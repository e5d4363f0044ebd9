"""Conversational idle gaze: statistics of the gaze track measured from the pose (eye + neck joints)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.animate.idle import idle_motion
from emodiffhead.animate.idle_gaze import AVERTED_DEG, detect_saccades, gaze_in_scene, moves_at, speech_phrases
from emodiffhead.audio.prosody import HOP_S, Prosody
from emodiffhead.head.model import Joint

FPS = 25.0
SEEDS = range(6)


def _phrase_prosody(phrases: list[tuple[float, float]], seconds: float) -> Prosody:
    """Prosody (100 frames/s) that is active, with syllable-rate loudness, exactly during ``phrases`` (s)."""
    n = int(seconds / HOP_S)
    t = np.arange(n) * HOP_S
    act = np.zeros(n, bool)
    for a, b in phrases:
        act[(t >= a) & (t < b)] = True
    syl = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    return Prosody(times_s=t, rms_db=np.where(act, -20.0, -60.0), loudness=(act * (0.3 + 0.7 * syl)).astype(np.float32),
                   active=act, voiced=act.copy(), f0_hz=np.where(act, 130 + 25 * np.sin(2 * np.pi * 0.6 * t), np.nan),
                   centroid_hz=np.full(n, 1500.0), low_ratio=np.full(n, 0.5),
                   flux=(act * np.abs(np.diff(np.r_[0, syl])) * 20).clip(0, 1), hf_db=np.full(n, -50.0))


def _talk(seconds: float = 120.0, seed: int = 0) -> list[tuple[float, float]]:
    """Phrases 1-5 s long, pauses 0.3-2 s."""
    rng = np.random.default_rng(seed)
    out, s = [], 0.5
    while s < seconds - 1.5:
        e = min(s + rng.uniform(1.0, 5.0), seconds - 0.5)
        out.append((s, e))
        s = e + rng.uniform(0.3, 2.0)
    return out


@pytest.fixture(scope="module")
def talk():
    ph = _talk()
    pro = _phrase_prosody(ph, 120.0)
    times = np.arange(int(120 * FPS)) / FPS
    return ph, times, [idle_motion(times, pro, seed=s) for s in SEEDS]


def test_phrases_from_prosody():
    ph = [(0.5, 2.0), (2.1, 3.0), (3.6, 5.0)]  # a 0.1 s gap is inside a phrase, a 0.6 s pause splits
    got = speech_phrases(_phrase_prosody(ph, 6.0))
    assert got.shape == (2, 2)
    assert np.allclose(got, [[0.5, 3.0], [3.6, 5.0]], atol=0.02)


def test_saccade_amplitudes_and_fixation_durations(talk):
    _, _, motions = talk
    amps, fix = [], []
    for m in motions:
        on, a = detect_saccades(gaze_in_scene(m.pose), FPS)
        amps += list(a)
        fix += list(np.diff(on) / FPS)
    amps, fix = np.array(amps), np.array(fix)
    assert len(amps) > 6 * 60  # about a saccade a second (microsaccades are below the velocity threshold)
    assert np.mean((amps >= 2) & (amps <= 15)) >= 0.65, np.percentile(amps, [10, 50, 90])  # most within 2-15 deg
    assert np.percentile(amps, 90) >= 7.0  # looks away are large enough to see at 512 px
    assert amps.max() <= 20.0
    assert 0.5 <= np.median(fix) <= 1.5 and np.percentile(fix, 10) >= 0.25 and np.percentile(fix, 90) <= 3.0, \
        np.percentile(fix, [10, 50, 90])  # fixations 0.3-2 s, not twitching


def test_looks_away_at_phrase_starts_and_back_by_phrase_ends(talk):
    ph, times, motions = talk
    start = start_n = mid = mid_n = end_ok = end_n = 0
    for m in motions:
        away = np.linalg.norm(gaze_in_scene(m.pose), axis=1) > AVERTED_DEG
        onsets = times[np.flatnonzero(np.diff(np.r_[0, away.astype(np.int8)]) == 1)]
        for s, e in ph:
            start_n += 1
            start += bool(np.any((onsets >= s - 0.3) & (onsets < s + 0.5)))
            for c in np.arange(s + 1.2, e - 2.0, 0.8):  # mid-phrase windows of the same 0.8 s
                mid_n += 1
                mid += bool(np.any((onsets >= c) & (onsets < c + 0.8)))
            if e - s > 1.0:
                end_n += 1
                end_ok += not away[(times >= e - 0.3) & (times < e)].any()
    p_start, p_mid = start / start_n, mid / mid_n
    assert p_start >= 0.3 and p_start >= 4 * p_mid, (p_start, p_mid)
    assert end_ok / end_n >= 0.9  # back at the listener as the phrase ends


def test_blinks_go_with_large_shifts_and_phrase_ends(talk):
    ph, _, motions = talk
    n = near = 0
    for m in motions:
        on, a = detect_saccades(gaze_in_scene(m.pose), FPS)
        cues = np.r_[on[a >= 5.0] / FPS, [e for _, e in ph]]
        n += len(m.blink_times_s)
        near += sum(bool(np.any(np.abs(cues - b) <= 0.25)) for b in m.blink_times_s)
    assert 13 <= n / len(motions) / 2.0 <= 24  # per minute: the seeded rate is kept
    assert near / n >= 0.4


def test_eyes_stay_in_the_opening_converge_and_head_joins_large_shifts(talk):
    _, _, motions = talk
    right, left = [], []
    for m in motions:
        eye = np.degrees(m.pose[:, Joint.EYE_LEFT, :2])
        assert np.array_equal(m.pose[:, Joint.EYE_LEFT], m.pose[:, Joint.EYE_RIGHT])
        assert np.abs(eye[:, 1]).max() <= 15.0 + 1e-4 and -7.0 - 1e-4 <= eye[:, 0].min() and eye[:, 0].max() <= 6.0 + 1e-4
        g = gaze_in_scene(m.pose)
        neck_yaw = np.degrees(m.pose[:, Joint.NECK, 1])
        right += list(neck_yaw[g[:, 1] > 7.0])
        left += list(neck_yaw[g[:, 1] < -7.0])
        # saccades are quick: no run of fast frames longer than 2 frames (main sequence: 20-55 ms)
        fast = np.linalg.norm(np.diff(g, axis=0), axis=1) * FPS > 30.0
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, fast.astype(np.int8), 0])))[::2]
        assert runs.max() <= 2
    assert len(right) > 50 and len(left) > 50
    assert np.mean(right) - np.mean(left) > 1.0  # the head turns toward a large look away


def test_gaze_seeded_and_deterministic():
    pro = _phrase_prosody(_talk(30.0, seed=2), 30.0)
    t = np.arange(int(30 * FPS)) / FPS
    a, b, c = idle_motion(t, pro, seed=5), idle_motion(t, pro, seed=5), idle_motion(t, pro, seed=6)
    assert np.array_equal(a.pose, b.pose) and np.array_equal(a.weights, b.weights)
    assert np.array_equal(a.blink_times_s, b.blink_times_s)
    assert not np.allclose(a.pose[:, Joint.EYE_LEFT], c.pose[:, Joint.EYE_LEFT], atol=np.radians(2.0))


@pytest.mark.parametrize("n", [1, 2, 30])
def test_silence_and_tiny_clips(n):
    pro = _phrase_prosody([], 2.0)  # no speech at all: looking at the listener, occasional looks away
    m = idle_motion(np.arange(n) / FPS, pro, seed=0)
    assert m.pose.shape == (n, 5, 3) and np.isfinite(m.pose).all()


def test_moves_are_continuous_when_they_overlap():
    t = np.linspace(0, 1, 101)
    y = moves_at(t, np.array([0.2, 0.3]), np.array([0.3, 0.3]), np.array([[1.0], [0.0]]), np.zeros(1))[:, 0]
    assert np.abs(np.diff(y)).max() < 0.1 and y[-1] == 0.0 and 0.2 < y.max() < 1.0
