"""The add-on's standard-library track reader/writer agrees with emodiffhead.track (the source of truth)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emodiffhead.emotion import EMOTIONS
from emodiffhead.errors import TrackError
from emodiffhead.track import Track, load_track, save_track


@pytest.fixture(scope="module")
def track_io(addon_module):
    """addon/track_io.py loaded on its own (it needs no bpy)."""
    return addon_module("track_io")


def _track(T=30, E=7):
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(E)]
    t = Track.neutral(T, 25.0, "builtin", names)
    t.expression_base = rng.normal(0, 0.3, (T, E)).astype(np.float32)
    t.emotion_basis = rng.normal(0, 0.5, (len(EMOTIONS), E)).astype(np.float32)
    t.emotion[:, EMOTIONS.index("happy")] = np.linspace(0, 1.5, T)
    t.expression = t.expression_base + t.emotion @ t.emotion_basis
    t.pose = rng.normal(0, 0.1, (T, 5, 3)).astype(np.float32)
    t.translation = rng.normal(0, 0.01, (T, 3)).astype(np.float32)
    t.meta = {"audio": {"file": "a.wav", "duration_s": T / 25}, "generator": "test"}
    return t


def test_reads_backend_files_and_writes_them_back_identically(track_io, tmp_path):
    src = save_track(_track(), tmp_path / "backend.json")
    data = track_io.read_track(src)
    ref = load_track(src)
    assert data.num_frames == ref.num_frames and data.fps == ref.fps
    assert data.expression_names == ref.expression_names and data.emotion_names == ref.emotion_names
    for name in ("expression", "pose", "translation", "emotion", "expression_base", "emotion_basis"):
        np.testing.assert_allclose(np.asarray(getattr(data, name)), getattr(ref, name), atol=1e-6, err_msg=name)
    assert data.meta == ref.meta
    out = track_io.write_track(data, tmp_path / "addon.json")
    assert open(out, "rb").read() == src.read_bytes()


def test_written_files_load_in_the_backend(track_io, tmp_path):
    ref = _track(T=5, E=3)
    d = ref.to_dict()
    data = track_io.TrackData.from_dict(json.loads(json.dumps(d)))
    data.expression[2][1] = 0.25
    data.emotion[3][EMOTIONS.index("sad")] = 0.7
    data.meta["edited_in"] = "blender"
    back = load_track(track_io.write_track(data, tmp_path / "edited.json"))
    assert back.expression[2, 1] == pytest.approx(0.25)
    assert back.emotion[3, EMOTIONS.index("sad")] == pytest.approx(0.7)
    assert back.meta["edited_in"] == "blender"
    np.testing.assert_allclose(back.pose, ref.pose, atol=1e-6)


def test_optional_fields_may_be_absent(track_io, tmp_path):
    t = _track(T=4, E=2)
    t.expression_base = t.emotion_basis = None
    data = track_io.read_track(save_track(t, tmp_path / "plain.json"))
    assert data.expression_base is None and data.emotion_basis is None
    assert "expression_base" not in data.to_dict()


@pytest.mark.parametrize("field, value", [("format", "other"), ("version", 2), ("fps", -1.0),
                                          ("expression", [[0.0]]), ("pose", [[[0.0, 0.0]]]),
                                          ("emotion_basis", [[1.0]]), ("num_frames", 99)])
def test_rejects_what_the_backend_rejects(track_io, field, value):
    d = _track(T=3, E=2).to_dict()
    d[field] = value
    with pytest.raises(TrackError):
        Track.from_dict(json.loads(json.dumps(d)))
    with pytest.raises(track_io.TrackFormatError, match=field.split("_")[0]):
        track_io.TrackData.from_dict(json.loads(json.dumps(d)))
