"""``emodiffhead animate`` end to end, and its user errors (exit status 2, one line, no traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emodiffhead.cli import main
from emodiffhead.emotion import EMOTIONS
from emodiffhead.track import load_track


def test_animate_json_with_timeline(example_audio, tmp_path, capsys):
    tl = tmp_path / "tl.json"
    tl.write_text(json.dumps({"keys": [{"t": 0, "emotion": "happy", "intensity": 0.2},
                                       {"t": 2, "emotion": "angry", "intensity": 0.9, "interp": "smooth"}]}))
    txt = tmp_path / "t.txt"
    txt.write_text("He turned sharply, and faced Gregson across the table.\n")
    out = tmp_path / "track.json"
    rc = main(["animate", str(example_audio), "-o", str(out), "--transcript", str(txt),
               "--emotion-timeline", str(tl), "--fps", "30", "--seed", "2", "--quiet"])
    assert rc == 0
    t = load_track(out)
    assert t.fps == 30 and t.num_frames == round(3.095 * 30) and t.meta["speech_path"] == "alignment"
    a = EMOTIONS.index("angry")
    assert t.emotion[0, a] == 0 and t.emotion[-1, a] == pytest.approx(0.9)
    assert "alignment" in capsys.readouterr().out


def test_animate_npz_constant(example_audio, tmp_path):
    out = tmp_path / "track.npz"
    assert main(["animate", str(example_audio), "-o", str(out), "--emotion", "sad", "--intensity", "0.5",
                 "--quiet"]) == 0
    t = load_track(out)
    assert np.allclose(t.emotion[:, EMOTIONS.index("sad")], 0.5)


@pytest.mark.parametrize("extra,match", [
    (["--emotion", "happy", "--emotion-timeline", "{}"], "not both"),
    (["--intensity", "0.5"], "needs --emotion"),
    (["--emotion", "happy", "--intensity", "3"], "0..1.5"),
    (["--emotion-timeline", '{"keys": [{"t": 0, "emotion": "smug"}]}'], "unknown emotion"),
    (["--transcript", "missing.txt"], "transcript file not found"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--workers", "many"], "--workers must be a number or auto"),
    (["--fast", "--robust"], "--fast and --robust"),
])
def test_usage_errors(example_audio, tmp_path, capsys, extra, match):
    rc = main(["animate", str(example_audio), "-o", str(tmp_path / "x.json"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and "Traceback" not in err


def test_audio_errors(tmp_path, capsys):
    bad = tmp_path / "notes.wav"
    bad.write_text("hello")
    for path, match in ((tmp_path / "none.wav", "not found"), (bad, "notes.wav")):
        rc = main(["animate", str(path), "-o", str(tmp_path / "x.json"), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and match in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()
    rc = main(["animate", str(bad), "-o", str(tmp_path / "x.mp4"), "--quiet"])
    assert rc == 2 and ".json or .npz" in capsys.readouterr().err


def test_animate_robust_phones(example_audio, tmp_path):
    """--robust: the mouth follows the mean of three phone decodes (meta says so); the default follows one."""
    out, ref = tmp_path / "robust.npz", tmp_path / "default.npz"
    assert main(["animate", str(example_audio), "-o", str(out), "--robust", "--quiet", "--seed", "1"]) == 0
    assert main(["animate", str(example_audio), "-o", str(ref), "--quiet", "--seed", "1"]) == 0
    t, d = load_track(out), load_track(ref)
    assert t.meta["speech"]["phone_decodes"] == 3 and "phone_decodes" not in d.meta["speech"]
    assert not np.array_equal(t.expression, d.expression)
