"""mp4 out: frame count, duration, audio stream, atomic write."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.audio.io import AudioClip
from emodiffhead.errors import CancelledError
from emodiffhead.video import probe_mp4, read_video_frames, write_mp4


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


def _stereo_48k_wav(path, dur=1.0):
    """48 kHz stereo: 440 Hz left, 12 kHz right (above what 16 kHz audio can carry)."""
    from scipy.io import wavfile

    sr = 48000
    t = np.arange(int(dur * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 12000 * t)], 1)
    wavfile.write(path, sr, (x * 32767).astype(np.int16))
    return path


def _decoded_audio(path):
    import av

    with av.open(str(path)) as c:
        chunks = [fr.to_ndarray() for fr in c.decode(c.streams.audio[0])]  # fltp: (channels, n)
    return np.concatenate(chunks, axis=1)


def _band_share(x, sr, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return spec[(f >= lo) & (f <= hi)].sum() / spec.sum()


@pytest.mark.parametrize("as_clip", [False, True])
def test_source_rate_and_channels_are_kept_in_the_aac(tmp_path, as_clip):
    """A 48 kHz stereo source stays 48 kHz stereo in the mp4 (the 16 kHz mono clip is only for analysis),
    and its 12 kHz tone survives."""
    from emodiffhead.audio.io import load_audio
    from emodiffhead.video import AAC_BITRATE_PER_CHANNEL, plan_audio

    src = _stereo_48k_wav(tmp_path / "s.wav")
    audio = load_audio(src) if as_clip else src
    plan = plan_audio(audio)
    assert (plan.rate, plan.channels, plan.bit_rate) == (48000, 2, 2 * AAC_BITRATE_PER_CHANNEL)
    assert "48 kHz stereo" in plan.describe()
    out = write_mp4(_frames(25), tmp_path / "s.mp4", 25.0, audio=audio)
    info = probe_mp4(out)
    assert (info["audio_rate"], info["audio_channels"]) == (48000, 2)
    assert info["audio_bit_rate"] > 64_000
    x = _decoded_audio(out)
    assert x.shape[0] == 2
    right, left = x[1, 4096:-4096], x[0, 4096:-4096]
    assert _band_share(right, 48000, 11500, 12500) > 0.9  # the 12 kHz tone is there, in its channel
    assert _band_share(left, 48000, 400, 480) > 0.9


def test_rates_aac_cannot_carry_go_to_the_next_allowed_one():
    from emodiffhead.video import aac_rate

    assert aac_rate(48000) == 48000 and aac_rate(44100) == 44100 and aac_rate(16000) == 16000
    assert aac_rate(37800) == 44100 and aac_rate(192000) == 96000 and aac_rate(6000) == 8000


def test_in_memory_audio_keeps_its_rate(tmp_path):
    sr = 16000
    clip = AudioClip(samples=(0.2 * np.sin(np.arange(sr) * 0.1)).astype(np.float32), sample_rate=sr)
    info = probe_mp4(write_mp4(_frames(25), tmp_path / "m.mp4", 25.0, audio=clip))
    assert (info["audio_rate"], info["audio_channels"]) == (16000, 1)
    assert info["audio_duration_s"] == pytest.approx(1.0, abs=0.07)


def _top_level_boxes(path):
    """(type, offset) of the top-level mp4 boxes, parsed here independently of the product."""
    import struct

    data = open(path, "rb").read()
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        out.append(kind.decode())
        pos += size if size else len(data)
    return out


def test_mp4_is_faststart_moov_before_mdat(tmp_path, example_audio):
    from emodiffhead.video import mp4_boxes

    out = write_mp4(_frames(30), tmp_path / "f.mp4", 25.0, audio=example_audio)
    kinds = _top_level_boxes(out)
    assert kinds[0] == "ftyp" and "moov" in kinds and "mdat" in kinds
    assert kinds.index("moov") < kinds.index("mdat")
    assert [b[0] for b in mp4_boxes(out)] == kinds


def test_encoder_error_surfaces_and_leaves_no_file(tmp_path):
    def mixed():
        yield from _frames(3)
        yield np.zeros((32, 48, 3), np.uint8)

    with pytest.raises(ValueError, match="frame 3 is 48x32"):
        write_mp4(mixed(), tmp_path / "e.mp4", 25.0)
    assert list(tmp_path.iterdir()) == []


def test_yuv_conversion_matches_the_encoder_default_colours(tmp_path, example_photo):
    """Frames decoded from the mp4 match the rendered RGB as closely as with FFmpeg's own RGB -> YUV
    conversion (BT.601 video range both ways; the rest is 4:2:0 chroma and compression)."""
    import av

    from emodiffhead.face.image import load_photo
    from emodiffhead import video

    import cv2

    img = np.ascontiguousarray(cv2.resize(load_photo(example_photo), (192, 256), interpolation=cv2.INTER_AREA))
    err = {}
    for name in ("ours", "ffmpeg"):
        if name == "ffmpeg":
            conv = lambda f: av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p").to_ndarray()  # noqa: E731
        else:
            conv = video.rgb_to_yuv420
        orig = video.rgb_to_yuv420
        video.rgb_to_yuv420 = conv
        try:
            out = write_mp4((img for _ in range(3)), tmp_path / f"{name}.mp4", 25.0)
        finally:
            video.rgb_to_yuv420 = orig
        got = next(read_video_frames(out)).astype(float)
        err[name] = np.abs(got - img).mean()
        assert np.abs((got - img).mean(axis=(0, 1))).max() < 2.0  # no colour cast
    assert err["ours"] < 3.5 and abs(err["ours"] - err["ffmpeg"]) < 0.3


def test_many_channels_are_mixed_to_stereo_and_odd_rates_go_up(tmp_path):
    from scipy.io import wavfile

    sr = 37800
    t = np.arange(sr) / sr
    x = np.stack([0.2 * np.sin(2 * np.pi * (300 + 100 * k) * t) for k in range(6)], 1)
    wavfile.write(tmp_path / "six.wav", sr, (x * 32767).astype(np.int16))
    out = write_mp4(_frames(25), tmp_path / "six.mp4", 25.0, audio=tmp_path / "six.wav")
    info = probe_mp4(out)
    assert (info["audio_rate"], info["audio_channels"]) == (44100, 2)
    assert info["audio_duration_s"] == pytest.approx(1.0, abs=0.07)


def test_an_encoder_failure_mid_stream_stops_the_producer_and_leaves_no_file(tmp_path, monkeypatch):
    """The encoder thread fails after some frames while the producer still has frames queued: the error
    reaches the caller (no hang), nothing is written."""
    from emodiffhead import video

    real = video._Muxer.video

    def failing(self, yuv, n):
        if n == 4:
            raise RuntimeError("encoder broke")
        return real(self, yuv, n)

    monkeypatch.setattr(video._Muxer, "video", failing)
    with pytest.raises(RuntimeError, match="encoder broke"):
        write_mp4(_frames(60), tmp_path / "x.mp4", 25.0)
    assert list(tmp_path.iterdir()) == []
