"""Emotion timelines: constant, keyframes, interpolation, crossfades, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emodiffhead.animate.emotion_timeline import EmotionTimeline, EmotionTimelineError
from emodiffhead.emotion import EMOTIONS
from emodiffhead.errors import EmodiffheadError, InputFileError

H, S = EMOTIONS.index("happy"), EMOTIONS.index("sad")


def test_constant():
    tl = EmotionTimeline.constant("happy", 0.7)
    x = tl.sample(np.linspace(0, 10, 11))
    assert x.shape == (11, len(EMOTIONS)) and x.dtype == np.float32
    assert np.allclose(x[:, H], 0.7) and np.allclose(np.delete(x, H, axis=1), 0)
    assert np.allclose(EmotionTimeline.constant("neutral", 1.0).sample([0, 1]), 0)


def test_keyframes_linear_smooth_step_and_hold():
    tl = EmotionTimeline.from_json({"keys": [
        {"t": 1.0, "emotion": "happy", "intensity": 0.2},
        {"t": 3.0, "emotion": "happy", "intensity": 1.0},
        {"t": 5.0, "emotion": "happy", "intensity": 0.0, "interp": "smooth"},
        {"t": 6.0, "emotion": "happy", "intensity": 1.0, "interp": "step"}]})
    x = tl.sample(np.array([0.0, 1.0, 2.0, 3.0, 3.5, 4.0, 5.5, 5.99, 6.0, 9.0]))[:, H]
    assert x[0] == pytest.approx(0.2) and x[1] == pytest.approx(0.2)  # hold before the first key
    assert x[2] == pytest.approx(0.6)  # linear midpoint
    assert x[3] == pytest.approx(1.0)
    assert x[5] == pytest.approx(0.5)  # smoothstep midpoint
    assert x[4] > 0.75 + 1e-3  # smoothstep starts slow (linear would give 0.75)
    assert x[6] == pytest.approx(0.0) and x[7] == pytest.approx(0.0)  # step: holds until the key
    assert x[8] == pytest.approx(1.0) and x[9] == pytest.approx(1.0)  # hold after the last key


def test_crossfade_between_categories():
    tl = EmotionTimeline.from_json(json.dumps({"keys": [
        {"t": 0, "emotion": "happy", "intensity": 0.8},
        {"t": 4, "emotion": "sad", "intensity": 0.6, "crossfade": 1.0}]}))
    x = tl.sample(np.array([2.0, 3.0, 3.5, 4.0]))
    assert x[0, H] == pytest.approx(0.8) and x[0, S] == 0  # held until the crossfade starts
    assert x[2, H] == pytest.approx(0.4) and x[2, S] == pytest.approx(0.3)  # half way
    assert x[3, H] == 0 and x[3, S] == pytest.approx(0.6)


def test_mixtures_file_and_roundtrip(tmp_path):
    spec = {"keys": [{"t": 0, "emotions": {"surprised": 0.5, "happy": 0.25}}]}
    p = tmp_path / "tl.json"
    p.write_text(json.dumps(spec))
    tl = EmotionTimeline.from_json(p)
    x = tl.sample([0.0])[0]
    assert x[EMOTIONS.index("surprised")] == pytest.approx(0.5) and x[H] == pytest.approx(0.25)
    again = EmotionTimeline.from_json(tl.to_dict())
    assert np.allclose(again.sample([0, 1]), tl.sample([0, 1]))
    assert np.allclose(EmotionTimeline.from_json({"emotion": "sad", "intensity": 0.3}).sample([5])[0, S], 0.3)


@pytest.mark.parametrize("spec,match", [
    ({"keys": []}, "non-empty"),
    ({"keys": [{"t": 0, "emotion": "joyful", "intensity": 0.5}]}, "unknown emotion 'joyful'"),
    ({"keys": [{"t": 0, "emotion": "happy", "intensity": 2.0}]}, "outside 0..1.5"),
    ({"keys": [{"t": -1, "emotion": "happy"}]}, "'t'"),
    ({"keys": [{"t": 0, "emotion": "happy", "interp": "cubic"}]}, "interp"),
    ({"keys": [{"t": 2, "emotion": "happy"}, {"t": 1, "emotion": "sad"}]}, "must not decrease"),
    ({"keys": [{"t": 0, "emotion": "happy", "colour": 1}]}, "unknown field"),
    ({"keys": [{"t": 0}]}, "needs 'emotion'"),
    ("{not json", "not valid JSON"),
    ({"frames": []}, "missing 'keys'"),
])
def test_errors(spec, match):
    with pytest.raises(EmotionTimelineError, match=match):
        EmotionTimeline.from_json(spec)


def test_missing_file_is_user_error(tmp_path):
    with pytest.raises(InputFileError):
        EmotionTimeline.from_json(tmp_path / "none.json")
    assert issubclass(EmotionTimelineError, EmodiffheadError)
