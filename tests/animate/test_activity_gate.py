"""The mouth rests in pauses, not in the short silences inside a phrase (stop closures, weak fricatives)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.animate import animate
from emodiffhead.animate.coarticulation import PAUSE_S
from emodiffhead.animate.metrics import lip_gap, track_vertices
from emodiffhead.animate.pipeline import _activity_gate
from emodiffhead.audio.phonemes import read_lab
from emodiffhead.audio.prosody import HOP_S, Prosody


def _prosody(silences_s: list[tuple[float, float]], dur_s: float = 4.0) -> Prosody:
    t = np.arange(int(round(dur_s / HOP_S))) * HOP_S
    act = np.ones(len(t), bool)
    for a, b in silences_s:
        act[(t >= a) & (t < b)] = False
    z = np.zeros(len(t), np.float32)
    return Prosody(times_s=t, rms_db=np.where(act, -20.0, -60.0), loudness=act.astype(np.float32), active=act,
                   voiced=act, f0_hz=z, centroid_hz=z, low_ratio=z, flux=z, hf_db=z)


def test_short_silences_inside_a_phrase_are_held_pauses_rest():
    pro = _prosody([(1.0, 1.1), (2.0, 2.5)])  # a 100 ms stop closure, a 500 ms pause
    fps = 25.0
    times = np.arange(int(4.0 * fps)) / fps
    held = _activity_gate(pro, times, fps, hold_s=PAUSE_S)
    raw = _activity_gate(pro, times, fps)
    closure = (times >= 1.0) & (times < 1.1)
    pause = (times >= 2.15) & (times < 2.35)
    assert held[closure].min() > 0.99  # the mouth keeps its speaking posture through the stop closure
    assert raw[closure].min() < 0.5  # (without the hold it rested there)
    assert held[pause].max() < 1e-3 and raw[pause].max() < 1e-3  # a real pause rests either way
    assert held[(times < 0.9) | (times > 2.7)].min() > 0.99


@pytest.fixture(scope="module")
def lab(example_audio):
    return read_lab(example_audio.with_name("arctic_a0009_phone.lab"))


def test_lips_stay_apart_through_a_quiet_consonant_and_close_for_bilabials(example_audio, builtin_head, lab):
    """ARCTIC a0009 "across the": 110 ms of near silence over /s dh/, inside the phrase. The lips used to
    nearly close there (2.8 mm); p/b/m still close."""
    t = animate(example_audio, builtin_head)
    gap = lip_gap(builtin_head, track_vertices(builtin_head, t))
    at = lambda s: gap[int(round(s * t.fps))]  # noqa: E731
    quiet = [p for p in lab if p.label in ("s", "dh") and 2.2 < p.start_s < 2.4]
    assert len(quiet) == 2
    assert min(at(s) for s in np.arange(quiet[0].start_s, quiet[1].end_s, 0.04)) > 0.006
    bilabials = [p for p in lab if p.label in ("p", "b", "m")]
    assert bilabials and all(at(0.5 * (p.start_s + p.end_s)) <= 0.0 for p in bilabials)


def test_a_clip_cut_inside_a_phrase_keeps_speaking_to_its_edges():
    """A silence shorter than a pause at either end of the clip is where the recording was cut, not a rest; a
    silence of a pause's length there still rests the mouth."""
    from emodiffhead.animate.coarticulation import coarticulate, without_cut_silences
    from emodiffhead.audio.phonemes import Phone
    from emodiffhead.facs import JAW_OPEN

    fps = 25.0
    times = np.arange(int(4.0 * fps)) / fps
    cut = _activity_gate(_prosody([(0.0, 0.1), (3.85, 4.0)]), times, fps, hold_s=PAUSE_S)
    ends = _activity_gate(_prosody([(0.0, 0.6), (3.4, 4.0)]), times, fps, hold_s=PAUSE_S)
    assert cut.min() > 0.99  # speaking posture from the first frame to the last
    assert ends[times < 0.4].max() < 1e-3 and ends[times > 3.6].max() < 1e-3  # leading / trailing pauses rest
    assert _activity_gate(_prosody([(0.0, 0.1), (3.85, 4.0)]), times, fps)[-1] < 0.5  # without the hold: rests

    aa = [Phone("sil", 0.0, 0.1), Phone("aa", 0.1, 3.85), Phone("sil", 3.85, 4.0)]
    kept = without_cut_silences(aa, 4.0)
    assert [p.label for p in kept] == ["aa"]
    jaw = coarticulate(kept, times, fps).weights[:, JAW_OPEN]
    assert jaw[-1] > 0.5 and jaw[0] > 0.5  # the vowel's opening up to both edges
    long = [Phone("sil", 0.0, 0.6), Phone("aa", 0.6, 3.4), Phone("sil", 3.4, 4.0)]
    assert without_cut_silences(long, 4.0) == long
    assert without_cut_silences([Phone("sil", 0.0, 0.2)], 0.2) == [Phone("sil", 0.0, 0.2)]  # no speech: as is
