"""Audible breaths in pauses open the mouth; silent pauses and bilabials keep the lips closed."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.animate import animate
from emodiffhead.animate.breath import BREATH_JAW, add_breaths, breath_intakes, breath_opening, rises
from emodiffhead.animate.pipeline import speech_motion
from emodiffhead.audio.io import AudioClip, load_audio
from emodiffhead.audio.phonemes import Phone
from emodiffhead.audio.prosody import HOP_S, Prosody, analyze
from emodiffhead.facs import JAW_OPEN, NUM_ARKIT
from emodiffhead.head.model import Joint

SR = 16000
FPS = 25.0
#: (start, end) s of the parts of the synthetic clip: voice, a pause with a breath, voice, a silent pause, voice.
VOICE = ((0.0, 1.0), (1.6, 2.6), (3.2, 4.2))
BREATH = (1.1, 1.45)
QUIET_PAUSE = (2.6, 3.2)


def _clip(breath_db: float = -50.0) -> AudioClip:
    """Vowel-like voice (150 Hz harmonics, 4 Hz syllables) at about -14 dBFS over a -60 dBFS noise floor, with a
    breath: 2-7 kHz noise at ``breath_db`` dBFS in the first pause (below the voice-activity threshold)."""
    rng = np.random.default_rng(0)
    n = int(4.4 * SR)
    t = np.arange(n) / SR
    x = 10 ** (-60 / 20) * rng.standard_normal(n)
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    voice *= 0.7 + 0.3 * np.sin(2 * np.pi * 4 * t)
    for a, b in VOICE:
        m = (t >= a) & (t < b)
        x[m] += 0.2 * voice[m] / np.sqrt(np.mean(voice[m] ** 2))
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    band = np.fft.irfft(np.where((f >= 2000) & (f <= 7000), spec, 0), n)
    m = (t >= BREATH[0]) & (t < BREATH[1])
    x[m] += 10 ** (breath_db / 20) * band[m] / np.sqrt(np.mean(band[m] ** 2))
    return AudioClip(x.astype(np.float32))


def _hissing(clip: AudioClip, hiss_dbfs: float) -> AudioClip:
    """``clip`` with steady white noise (a recording's hiss) at ``hiss_dbfs`` RMS."""
    rng = np.random.default_rng(2)
    return AudioClip((clip.samples + 10 ** (hiss_dbfs / 20) * rng.standard_normal(len(clip.samples))).astype(np.float32))


def test_breath_heard_over_a_steady_hiss():
    """Under a steady hiss the breath stands only a few dB above the pause's floor (here about 5 dB: 2-7 kHz noise at
    -50 dBFS over white noise at -51 dBFS), less than the 6 dB asked over a clean recording's flickering
    near-silence; the floor's steadiness makes that rise certain. The silent pause stays without a breath."""
    pro = analyze(_hissing(_clip(), -51.0))
    intakes = breath_intakes(pro)
    assert len(intakes) == 1, intakes
    (s, e), = intakes
    assert abs(s - BREATH[0]) < 0.05 and abs(e - BREATH[1]) < 0.05
    assert breath_intakes(analyze(_hissing(_clip(breath_db=-90.0), -51.0))) == []


def _frames(a: float, b: float) -> slice:
    return slice(int(np.ceil(a * FPS)), int(b * FPS))


def test_breath_heard_only_in_the_pause_with_noise():
    pro = analyze(_clip())
    assert not pro.active[int(1.2 / 0.01): int(1.4 / 0.01)].any()  # the breath is below the activity threshold
    intakes = breath_intakes(pro)
    assert len(intakes) == 1
    (s, e), = intakes
    assert abs(s - BREATH[0]) < 0.05 and abs(e - BREATH[1]) < 0.05
    assert breath_intakes(analyze(_clip(breath_db=-70.0))) == []  # below the recording's own floor: no breath


def _prosody(noise_s: tuple[float, float], pause_s: tuple[float, float] = (1.0, 4.0), n: int = 500) -> Prosody:
    """Frame features: sound outside ``pause_s``; in it, a floor at -40 dB and noise at -25 dB over ``noise_s``."""
    t = np.arange(n) * HOP_S
    pause = (t >= pause_s[0]) & (t < pause_s[1])
    hf = np.where(pause, -40.0, 0.0)
    hf[(t >= noise_s[0]) & (t < noise_s[1])] = -25.0
    z = np.zeros(n, np.float32)
    return Prosody(times_s=t, rms_db=z - 20, loudness=z, active=~pause, voiced=~pause, f0_hz=z, centroid_hz=z,
                   low_ratio=z, flux=z, hf_db=hf.astype(np.float32))


@pytest.mark.parametrize("noise, found", [((2.0, 2.1), False), ((2.0, 2.5), True), ((2.0, 3.5), False)])
def test_breath_length(noise, found):
    """A breath lasts 0.15-1 s: a click is not one, nor is a long noise (music, a room) in a long pause."""
    assert (breath_intakes(_prosody(noise)) != []) == found


@pytest.mark.parametrize("label, found", [("sil", True), ("s", False)])
def test_breath_only_where_the_recogniser_hears_silence(label, found):
    """Quiet unvoiced speech under the activity threshold (a soft /s/) is not a breath."""
    phones = [Phone("aa", 0.0, 1.0), Phone("sil", 1.0, 1.9), Phone(label, 1.9, 2.6), Phone("sil", 2.6, 4.0),
              Phone("aa", 4.0, 5.0)]
    assert (breath_intakes(_prosody((2.0, 2.5)), phones) != []) == found


def _reverberant(clip: AudioClip, rt60_s: float = 0.5) -> AudioClip:
    """``clip`` in a room: convolved with exponentially decaying noise (reverberation time ``rt60_s``), same level."""
    rng = np.random.default_rng(1)
    t = np.arange(int(rt60_s * SR)) / SR
    h = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60_s)
    h[0] = 1.0
    x = np.convolve(clip.samples.astype(np.float64), h)[: len(clip.samples)]
    return AudioClip((x * np.sqrt(np.mean(clip.samples ** 2.0) / np.mean(x ** 2))).astype(np.float32))


@pytest.mark.parametrize("rt60_s", [0.5, 1.2])
def test_reverberation_tail_is_not_a_breath(rt60_s):
    """In a room, each phrase's sound decays into the pause after it (2-7 kHz noise falling from the speech level):
    that is not an inhalation, in an ordinary room or a hall. (This synthetic voice's tails rise above the pause's
    floor in a hall, about 1 s of reverberation; real speech's fricative tails do so in ordinary rooms, see
    docs/animator.md, *Noisy recordings*.) In the room the heard breath is still found; in the hall its start
    drowns in the phrase's tail and it is not."""
    intakes = breath_intakes(analyze(_reverberant(_clip(), rt60_s)))
    assert not any(QUIET_PAUSE[0] - 0.05 <= s < QUIET_PAUSE[1] for s, _ in intakes), intakes
    if rt60_s < 1.0:
        assert any(abs(s - BREATH[0]) < 0.15 for s, _ in intakes), intakes
    tail = breath_intakes(analyze(_reverberant(_clip(breath_db=-90.0), rt60_s)))
    assert tail == [], tail  # no breath at all: only the two decays


@pytest.mark.parametrize("level, found", [
    (np.r_[np.linspace(0, -30, 20), np.full(20, -30.0)], False),      # decays, then the floor
    (np.linspace(0, -40, 30) + np.tile([0.0, 0.8, 0.0, -0.8], 8)[:30], False),  # a flickering decay
    (np.r_[np.linspace(0, -30, 15), np.linspace(-30, -10, 10)], True),  # a breath rising after the decay
    (np.r_[np.full(5, -40.0), np.linspace(-40, -20, 10)], True),       # rises from the floor
])
def test_rises(level, found):
    assert rises(level) == found


def test_mouth_opens_for_the_breath_and_rests_in_the_silent_pause():
    clip = _clip()
    pro = analyze(clip)
    times = np.arange(int(4.4 * FPS)) / FPS
    jaw = {}
    for on in (True, False):
        m, info = speech_motion(clip, pro, times, FPS, mode="acoustic", breaths=on)
        jaw[on] = m.weights[:, JAW_OPEN]
    assert info.get("breaths") is None
    inside = _frames(BREATH[0] + 0.05, BREATH[1] - 0.05)
    assert np.all(jaw[True][inside] >= BREATH_JAW - 1e-6)
    assert np.all(jaw[False][inside] < 0.02)  # without breaths the pause rests
    quiet = _frames(QUIET_PAUSE[0] + 0.15, QUIET_PAUSE[1] - 0.15)
    assert np.all(jaw[True][quiet] < 0.02)  # a silent pause keeps the lips closed
    # the opening starts before the noise (the mouth opens, then the air is heard)
    assert jaw[True][int(BREATH[0] * FPS)] > 0.5 * BREATH_JAW


def test_opening_ramps_around_the_breath():
    t = np.arange(0, 2.0, 0.01)
    o = breath_opening(t, [(0.5, 1.0)])
    assert np.all(o[(t >= 0.5) & (t <= 1.0)] == 1.0)
    assert np.all(o[(t <= 0.4) | (t >= 1.1)] == 0.0)
    assert 0.0 < o[45] < 1.0 and 0.0 < o[105] < 1.0  # rises before, falls after
    assert np.all(np.diff(o[t <= 0.5]) >= 0) and np.all(np.diff(o[t >= 1.0]) <= 0)


def test_bilabial_closure_wins_over_a_breath():
    T = 10
    w = np.zeros((T, NUM_ARKIT), np.float32)
    opening = breath_opening(np.arange(T) / FPS, [(0.0, 1.0)])
    assert np.all(opening[2:8] == 1.0)
    closure = np.zeros(T, np.float32)
    closure[4:6] = 1.0
    out = add_breaths(w, opening, closure)
    assert np.all(out[4:6, JAW_OPEN] == 0.0) and np.all(out[2:4, JAW_OPEN] == pytest.approx(BREATH_JAW))
    assert not np.shares_memory(out, w)


def test_no_breath_in_arctic(example_audio, builtin_head):
    """Studio speech with no inhalation in its pauses: no breath, and the track says so."""
    assert breath_intakes(analyze(load_audio(example_audio))) == []
    t = animate(example_audio, builtin_head, speech_mode="acoustic")
    assert t.meta["speech"]["breaths"] == 0


def test_real_video_breath_and_closed_pause(shared_data):
    """The real speaker inhales through her open mouth at 0.85-1.3 s and keeps her lips closed in the silent
    4.6-5.2 s pause: one breath is heard, in the first pause only."""
    intakes = breath_intakes(analyze(load_audio(shared_data / "video" / "talking_head_real_a.mp4")))
    assert len(intakes) == 1
    (s, e), = intakes
    assert 0.75 < s < 1.0 and 1.2 < e < 1.45


def test_cli_no_breaths_keeps_the_pause_closed(tmp_path):
    """``emodiffhead animate --no-breaths`` turns the breath opening off; by default the breath pause opens."""
    import wave

    from emodiffhead.cli import main
    from emodiffhead.track import load_track

    wav = tmp_path / "breath.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(_clip().samples, -1, 1) * 32767).astype("<i2").tobytes())
    tracks = {}
    for flag in ([], ["--no-breaths"]):
        out = tmp_path / f"t{len(flag)}.npz"
        assert main(["animate", str(wav), "-o", str(out), "--speech-mode", "acoustic", "--seed", "0", "--quiet",
                     *flag]) == 0
        tracks[bool(flag)] = load_track(out)
    on, off = tracks[False], tracks[True]
    assert on.meta["speech"]["breaths"] == 1 and "breaths" not in off.meta["speech"]
    jaw = lambda t: t.pose[_frames(*BREATH), Joint.JAW, 0]  # noqa: E731  (jaw rotation, rad)
    assert jaw(on).mean() > jaw(off).mean() + 0.02
