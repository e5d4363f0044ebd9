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


def test_a_whole_sentence_with_short_margins_rests_at_both_ends(example_audio, builtin_head, lab):
    """ARCTIC a0009 is a whole sentence trimmed with 0.14 s before the voice and 0.12 s after it, as dialogue
    lines often are: the lips are together in its first frame and come back together by its last (a trailing
    silence shorter than a pause is not read as a recording cut inside a phrase)."""
    assert lab[0].label == "sil" and lab[0].end_s < PAUSE_S and lab[-1].label == "sil"
    t = animate(example_audio, builtin_head)
    gap = np.maximum(lip_gap(builtin_head, track_vertices(builtin_head, t)), 0.0)
    assert gap.max() > 0.01  # metres: the sentence itself opens the mouth
    assert gap[0] < 0.1 * gap.max() and gap[-1] < 0.1 * gap.max()
