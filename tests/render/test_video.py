"""mp4 out: frame count, duration, audio stream, atomic write."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.audio.io import AudioClip
from emodiffhead.errors import CancelledError
from emodiffhead.render.video import probe_mp4, read_video_frames, write_mp4


def _frames(n, h=64, w=96):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i * 7) % w] = 200
        yield f


def test_mp4_has_the_frames_duration_and_an_aac_stream(tmp_path):
    fps, dur = 25.0, 1.24
    sr = 16000
    t = np.arange(int(dur * sr)) / sr
    clip = AudioClip(samples=(0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sample_rate=sr)
    n = round(dur * fps)
    seen = []
    out = write_mp4(_frames(n), tmp_path / "a.mp4", fps, audio=clip, num_frames=n,
                    progress=lambda f, m: seen.append(f))
    info = probe_mp4(out)
    assert info["num_frames"] == n == 31
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert info["fps"] == pytest.approx(fps)
    assert info["audio_duration_s"] == pytest.approx(dur, abs=0.07)
    assert (info["width"], info["height"]) == (96, 64)
    assert seen[-1] == pytest.approx(1.0)
    first = next(read_video_frames(out))
    assert first.shape == (64, 96, 3)


def test_audio_from_a_path(tmp_path, example_audio):
    out = write_mp4(_frames(10), tmp_path / "b.mp4", 25.0, audio=example_audio)
    info = probe_mp4(out)
    assert info["num_frames"] == 10 and info["audio_duration_s"] > 3.0


def test_cancel_leaves_no_partial_file(tmp_path):
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(CancelledError):
        write_mp4(_frames(50), tmp_path / "c.mp4", 25.0, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_error_in_the_frame_source_leaves_no_file(tmp_path):
    def bad():
        yield from _frames(3)
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError):
        write_mp4(bad(), tmp_path / "d.mp4", 25.0)
    assert list(tmp_path.iterdir()) == []
