"""render_video end to end (small sizes), the registry and the CLI's errors."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.cli import main
from emodiffhead.errors import NotAvailableError, TrackError
from emodiffhead.render.pipeline import render_video
from emodiffhead.render.registry import available_renderers, get_renderer
from emodiffhead.video import probe_mp4


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
    (["render", "-o", "x.mp4", "--renderer", "nope", "--quiet"], "invalid choice: 'nope'"),
    (["render", "-o", "x.mp4", "--keep-photo-expression", "3", "--quiet"], "--keep-photo-expression must be in 0..1"),
    (["extract", "missing.mp4", "-o", "t.json"], "not found"),
    (["extract", "x.mp4", "-o", "t.txt"], ".json or .npz"),
])
def test_cli_user_errors_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own usage errors (e.g. an unknown --renderer choice)
        rc = e.code
    assert rc == 2
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


def test_a_thumbnail_face_is_refused_although_the_renderer_upscales_it(example_photo, builtin_head):
    """60x80 px photo: the face is ~24 px; upscaled to 512 it must still count as too small."""
    import cv2

    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    img = load_photo(example_photo)
    thumb = cv2.resize(img, (60, 80), interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceNotFoundError, match=r"too small \(\d+ px"):
        WarpRenderer().prepare(thumb, builtin_head, size=256)
    WarpRenderer().prepare(img, builtin_head, size=256)  # the full photo still works


@pytest.mark.parametrize("bad", ["photo_dir", "out_under_file", "out_in_proc"])
def test_cli_render_bad_paths_exit_2_one_line_nothing_written(bad, tmp_path, capsys):
    (tmp_path / "plain.txt").write_text("x")
    out = {"out_under_file": tmp_path / "plain.txt" / "o.mp4",
           "out_in_proc": "/proc/o.mp4"}.get(bad, tmp_path / "o.mp4")
    argv = ["render", str(tmp_path), "-o", str(out), "--quiet"] if bad == "photo_dir" else \
        ["render", "-o", str(out), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert ("not a file" if bad == "photo_dir" else "cannot write") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


@pytest.mark.parametrize("argv, message", [
    (["render", "-o", "o.mp4", "--track", "{tmp}", "--quiet"], "track path is not a file"),
    (["extract", "{tmp}", "-o", "t.json", "--quiet"], "not a file"),
])
def test_cli_a_folder_given_as_input_file_is_named_as_such(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "not found" not in err and len(err.strip().splitlines()) == 1


def test_a_one_frame_track_gets_a_hint(neutral_track):
    from emodiffhead.render.pipeline import match_track_to_audio

    with pytest.raises(TrackError, match=r"track has 1 frame \(.*one-frame track \(extracted from a photo\)"):
        match_track_to_audio(neutral_track(1), 3.0, 25.0)
    with pytest.raises(TrackError) as info:
        match_track_to_audio(neutral_track(10), 3.0, 25.0)
    assert "one-frame" not in str(info.value) and "10 frames" in str(info.value)
