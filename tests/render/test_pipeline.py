"""render_video end to end (small sizes), the registry and the CLI's errors."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.cli import main
from emodiffhead.errors import NotAvailableError, TrackError
from emodiffhead.render.pipeline import render_video
from emodiffhead.render.registry import available_renderers, get_renderer
from emodiffhead.render.video import probe_mp4


def test_render_with_a_track_gives_a_synced_mp4(tmp_path, example_photo, example_audio, neutral_track, builtin_head):
    from emodiffhead.audio.io import load_audio

    clip = load_audio(example_audio)
    T = round(clip.duration_s * 25)
    tr = neutral_track(T)
    tr.expression[:, builtin_head.expression_index("jawOpen")] = 0.3 * (1 + np.sin(np.arange(T) / 3)) / 2
    res = render_video(example_photo, clip, tmp_path / "o.mp4", track=tr, size=128)
    info = probe_mp4(res.path)
    assert res.num_frames == info["num_frames"] == T
    assert info["audio_codec"] == "aac"
    assert abs(info["audio_duration_s"] - clip.duration_s) < 0.07
    assert min(info["width"], info["height"]) == 128
    assert res.timings["total"] > 0 and res.fit_residual_px < 5


def test_track_audio_length_mismatch_is_an_error(tmp_path, example_photo, example_audio, neutral_track):
    with pytest.raises(TrackError, match="audio lasts"):
        render_video(example_photo, example_audio, tmp_path / "o.mp4", track=neutral_track(10), size=128)
    assert not (tmp_path / "o.mp4").exists()


def test_track_for_another_head_is_an_error(tmp_path, example_photo, example_audio, neutral_track):
    tr = neutral_track(78)
    tr.expression_names = [f"x{i}" for i in range(len(tr.expression_names))]
    with pytest.raises(TrackError, match="expression_names"):
        render_video(example_photo, example_audio, tmp_path / "o.mp4", track=tr, size=128)


def test_registry_lists_warp_and_refuses_unknown_names():
    av = available_renderers()
    assert av["warp"][0] is True
    assert "diffusion" in av
    assert get_renderer("warp").name == "warp"
    with pytest.raises(NotAvailableError, match="unknown renderer"):
        get_renderer("nope")


@pytest.mark.parametrize("argv, message", [
    (["render", "-o", "x.avi"], "must end in .mp4"),
    (["render", "missing.jpg", "-o", "x.mp4", "--quiet"], "not found"),
    (["render", "-o", "x.mp4", "--intensity", "0.5"], "needs --emotion"),
    (["render", "-o", "x.mp4", "--renderer", "nope", "--quiet"], "unknown renderer"),
    (["extract", "missing.mp4", "-o", "t.json"], "not found"),
    (["extract", "x.mp4", "-o", "t.txt"], ".json or .npz"),
])
def test_cli_user_errors_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_refuses_a_photo_without_a_face(tmp_path, capsys):
    import cv2

    img = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "noise.png"), img)
    assert main(["render", str(tmp_path / "noise.png"), "-o", str(tmp_path / "o.mp4"), "--quiet"]) == 2
    assert "no face found" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_cli_render_with_a_track_and_extract_from_a_photo(tmp_path, example_photo, example_audio, neutral_track):
    from emodiffhead.track import load_track, save_track

    track_file = save_track(neutral_track(78), tmp_path / "t.json")
    out = tmp_path / "o.mp4"
    assert main(["render", str(example_photo), str(example_audio), "-o", str(out), "--track", str(track_file),
                 "--size", "128", "--quiet"]) == 0
    from emodiffhead.audio.io import load_audio

    # a track within 2 frames of the audio is trimmed/padded to round(duration x fps)
    assert probe_mp4(out)["num_frames"] == round(load_audio(example_audio).duration_s * 25) == 77
    assert main(["extract", str(example_photo), "-o", str(tmp_path / "x.json"), "--quiet"]) == 0
    assert load_track(tmp_path / "x.json").num_frames == 1
