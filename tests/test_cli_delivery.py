"""What an editor or a careful new user notices (issue 15): the CLI rows. The mp4 delivery rows
(audio rate/channels, faststart) are read back in tests/render/test_video.py; here they are checked once
more end to end through ``emodiffhead render``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emodiffhead.cli import build_parser, main


def _help(command: str) -> str:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # noqa: SLF001 - argparse has no API
    return sub.format_help()


# ---- row 3: build-addon writes relative to the current folder ------------------------------------------------
def test_build_addon_default_output_is_under_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["build-addon"]) == 0
    zips = list((tmp_path / "dist").glob("emodiffhead-*.zip"))
    assert len(zips) == 1 and zips[0].stat().st_size > 1000
    assert str(zips[0]) in capsys.readouterr().out
    assert "current folder" in _help("build-addon")


# ---- row 4: transcript words dropped / alignment fell back ------------------------------------------------
def test_animate_warns_naming_dropped_words(tmp_path, example_audio, capsys):
    out = tmp_path / "t.json"
    assert main(["animate", str(example_audio), "-o", str(out), "--transcript", "unrelated words xyzzyq",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    warn = [line for line in err.splitlines() if "warning:" in line]
    assert any("'xyzzyq'" in line and "dictionary" in line for line in warn), err
    # two known words for 3.1 s of speech: the alignment "succeeds" with far too few phones
    assert any("does it match the audio" in line for line in warn), err
    assert json.loads(out.read_text())["meta"]["speech"]["dropped_words"] == ["xyzzyq"]


def test_animate_warns_when_alignment_falls_back(tmp_path, example_audio, capsys):
    out = tmp_path / "t.json"
    assert main(["animate", str(example_audio), "-o", str(out), "--transcript", "xyzzyq plugh", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: transcript alignment failed" in err and "recognised from the audio" in err
    assert json.loads(out.read_text())["meta"]["speech_path"] != "alignment"


def test_no_speech_warning_without_a_transcript_or_with_a_good_alignment():
    from emodiffhead.commands._options import speech_warnings

    assert speech_warnings({"speech_path": "allphone", "speech": {}}, None) == []
    good = {"speech_path": "alignment", "speech": {"num_phones": 30}, "audio": {"duration_s": 3.0}}
    assert speech_warnings(good, "some words") == []


# ---- row 5: --size named in the error, range and formats in --help ------------------------------------------
def test_help_gives_the_size_range_and_the_accepted_formats():
    text = " ".join(_help("render").split())
    assert "64-2048" in text
    for fmt in ("JPEG", "PNG", "WebP", "wav", "mp3", "flac"):
        assert fmt in text, fmt
    assert "wav" in " ".join(_help("animate").split())


def test_a_face_too_small_at_the_chosen_size_names_size(tmp_path, example_photo, capsys):
    import cv2

    from emodiffhead.face.image import load_photo

    big = cv2.resize(load_photo(example_photo), None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "big.png"), big[:, :, ::-1])
    rc = main(["render", str(tmp_path / "big.png"), "-o", str(tmp_path / "o.mp4"), "--size", "64", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--size 64" in err and "use --size" in err
    need = int(err.split("use --size ")[1].split()[0])
    assert 64 < need <= 512
    assert not (tmp_path / "o.mp4").exists()


def test_size_outside_the_range_is_a_usage_error(tmp_path, capsys):
    assert main(["render", "-o", str(tmp_path / "o.mp4"), "--size", "4000", "--quiet"]) == 2
    assert "--size must be between 64 and 2048" in capsys.readouterr().err


# ---- row 6: timeline errors name the key ----------------------------------------------------------------
def test_decreasing_key_times_name_the_key_and_t(tmp_path, capsys):
    tl = json.dumps({"keys": [{"t": 0, "emotion": "happy"}, {"t": 2.5, "emotion": "sad"},
                              {"t": 1.25, "emotion": "angry"}]})
    assert main(["render", "-o", str(tmp_path / "o.mp4"), "--emotion-timeline", tl, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "key 2" in err and "t=1.25" in err and "key 1" in err and "t=2.5" in err


# ---- row 7: the idle-motion seed comes from the inputs ------------------------------------------------------
def test_derived_seed_is_reproducible_and_differs_between_inputs(tmp_path, example_audio, example_photo):
    from emodiffhead.seeds import derive_seed

    other = tmp_path / "other.wav"
    other.write_bytes(example_audio.read_bytes()[:-2] + b"\x01\x00")  # one sample differs
    a, b = derive_seed(example_photo, example_audio), derive_seed(example_photo, example_audio)
    assert a == b and 0 <= a < 2 ** 31
    assert derive_seed(example_photo, other) != a and derive_seed(example_audio) != a
    seeds = {derive_seed(example_photo, tmp_path / f"x{i}") for i in range(20)}
    assert len(seeds) == 20


def test_animate_uses_the_derived_seed_and_seed_overrides_it(tmp_path, example_audio, capsys):
    from emodiffhead.seeds import derive_seed

    assert main(["animate", str(example_audio), "-o", str(tmp_path / "a.json"), "--quiet"]) == 0
    assert main(["animate", str(example_audio), "-o", str(tmp_path / "b.json"), "--quiet", "--seed", "7"]) == 0
    a = json.loads((tmp_path / "a.json").read_text())["meta"]["seed"]
    b = json.loads((tmp_path / "b.json").read_text())["meta"]["seed"]
    assert a == derive_seed(example_audio) and b == 7
    assert f"seed {a}" in capsys.readouterr().out


def test_different_seeds_blink_at_different_times(example_audio):
    """What the derived seed buys: clips of different inputs do not blink in step."""
    from emodiffhead.animate.idle import idle_motion
    from emodiffhead.audio.io import load_audio
    from emodiffhead.audio.prosody import analyze
    from emodiffhead.seeds import derive_seed

    pro = analyze(load_audio(example_audio))
    t = np.arange(250) / 25.0
    firsts = set()
    for name in ("a", "b", "c", "d", "e"):
        blinks = idle_motion(t, pro, seed=derive_seed(Path(name))).blink_times_s
        firsts.add(round(float(blinks[0]), 2) if len(blinks) else None)
    assert len(firsts) >= 4


# ---- rows 1, 2, 8 (refusal), 10 end to end: render without audio ----------------------------------------------
def test_render_without_audio_says_which_audio_and_delivers_a_web_ready_mp4(tmp_path, example_photo, capsys):
    from emodiffhead.commands.render import DEFAULT_AUDIO
    from emodiffhead.video import mp4_boxes, probe_mp4

    out = tmp_path / "o.mp4"
    assert main(["render", str(example_photo), "-o", str(out), "--size", "128", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"note: no audio given; using the shipped example speech {DEFAULT_AUDIO.name}" in text
    assert "audio: AAC 16 kHz mono" in text and "idle-motion seed" in text
    kinds = [b[0] for b in mp4_boxes(out)]
    assert kinds.index("moov") < kinds.index("mdat")
    info = probe_mp4(out)
    assert (info["audio_rate"], info["audio_channels"]) == (16000, 1) and info["num_frames"] == 77


def test_face_number_beyond_the_faces_is_a_one_line_error(tmp_path, example_photo, capsys):
    assert main(["render", str(example_photo), "-o", str(tmp_path / "o.mp4"), "--face", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--face 2: the photo has 1 face" in err and len(err.strip().splitlines()) == 1
    assert main(["render", str(example_photo), "-o", str(tmp_path / "o.mp4"), "--face", "0", "--quiet"]) == 2
    assert "--face counts faces from 1" in capsys.readouterr().err


@pytest.mark.parametrize("key, message", [
    ({"t": 1.5, "emotion": "joyful"}, "unknown emotion 'joyful'"),
    ({"t": 1.5, "emotion": "happy", "intensity": 3}, "outside 0..1.5"),
    ({"t": 1.5, "emotion": "happy", "interp": "cubic"}, "'interp' must be one of"),
])
def test_every_key_error_names_the_key_index_and_t(key, message):
    from emodiffhead.animate.emotion_timeline import EmotionTimeline, EmotionTimelineError

    with pytest.raises(EmotionTimelineError) as e:
        EmotionTimeline.from_json({"keys": [{"t": 0, "emotion": "sad"}, key]})
    assert "key 1 (t=1.5)" in str(e.value) and message in str(e.value)
