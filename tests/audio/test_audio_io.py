"""Audio decoding: formats, resampling and every user-error path."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from emodiffhead.audio.io import AudioClip, check_speech_present, load_audio
from emodiffhead.errors import AudioError, InputFileError


def _tone(sr: int, seconds: float, channels: int = 1, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = amp * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return np.stack([x] * channels, 1).astype(np.float32) if channels > 1 else x.astype(np.float32)


def _write_wav(path, x: np.ndarray, sr: int) -> None:
    x = x if x.ndim == 2 else x[:, None]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def _encode(path, x: np.ndarray, sr: int, codec: str, fmt: str) -> None:
    import av

    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=sr, layout="mono")
        fmt_name = s.codec_context.codec.audio_formats[0].name
        frame_len = 1024
        for i in range(0, len(x), frame_len):
            chunk = x[i: i + frame_len]
            fr = av.AudioFrame.from_ndarray(chunk[None].astype(np.float32), format="flt", layout="mono")
            fr.sample_rate = sr
            fr = av.AudioResampler(format=fmt_name, layout="mono", rate=sr).resample(fr)
            for f in fr:
                for pkt in s.encode(f):
                    c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def test_example_clip(example_audio):
    clip = load_audio(example_audio)
    assert clip.sample_rate == 16000 and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert abs(clip.duration_s - 3.095) < 0.01
    assert clip.source.endswith("arctic_a0009.wav")


def test_stereo_48k_resampled(tmp_path):
    x = _tone(48000, 1.0, channels=2)
    _write_wav(tmp_path / "s.wav", x, 48000)
    clip = load_audio(tmp_path / "s.wav")
    assert clip.original_rate == 48000 and clip.original_channels == 2
    assert abs(len(clip.samples) - 16000) <= 32
    # the 220 Hz tone survives resampling
    spec = np.abs(np.fft.rfft(clip.samples[:16000]))
    assert abs(np.argmax(spec) * 16000 / 16000 - 220) <= 2


@pytest.mark.parametrize("codec,fmt,ext", [("flac", "flac", "flac"), ("aac", "mp4", "m4a"), ("mp3", "mp3", "mp3")])
def test_compressed_formats(tmp_path, codec, fmt, ext):
    x = _tone(44100, 1.0)
    path = tmp_path / f"a.{ext}"
    try:
        _encode(path, x, 44100, codec, fmt)
    except Exception as e:  # pragma: no cover - codec missing from this PyAV build
        pytest.skip(f"cannot encode {codec}: {e}")
    clip = load_audio(path)
    assert 0.9 < clip.duration_s < 1.2
    assert np.sqrt(np.mean(clip.samples ** 2)) > 0.05


def test_video_audio_track(shared_data):
    clip = load_audio(shared_data / "video" / "talking_head_real_a.mp4")
    assert abs(clip.duration_s - 8.0) < 0.1


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_not_audio(tmp_path):
    p = tmp_path / "text.wav"
    p.write_text("this is not a wave file\n" * 20)
    with pytest.raises(AudioError, match="not an audio file|cannot be opened|no audio"):
        load_audio(p)


def test_image_is_not_audio(example_photo):
    with pytest.raises(AudioError):
        load_audio(example_photo)


def test_zero_length(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError, match="zero length|empty"):
        load_audio(p)
    _write_wav(tmp_path / "noframes.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="zero length|no audio|not an audio"):
        load_audio(tmp_path / "noframes.wav")


def test_all_silence(tmp_path):
    _write_wav(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError, match="silence"):
        load_audio(tmp_path / "quiet.wav")
    with pytest.raises(AudioError, match="silence"):
        check_speech_present(AudioClip(np.full(8000, 1e-5, np.float32)))
    assert load_audio(tmp_path / "quiet.wav", require_sound=False).duration_s == pytest.approx(1.0)


def test_too_long(tmp_path):
    _write_wav(tmp_path / "long.wav", _tone(16000, 3.0), 16000)
    with pytest.raises(AudioError, match="limit of 2 s"):
        load_audio(tmp_path / "long.wav", max_duration_s=2.0)
    assert load_audio(tmp_path / "long.wav", max_duration_s=5.0).duration_s == pytest.approx(3.0)


def test_from_array_resamples():
    clip = AudioClip.from_array(_tone(8000, 0.5, channels=2), 8000)
    assert clip.original_channels == 2 and len(clip.samples) == 8000


def test_a_cut_off_wav_is_refused_and_names_both_durations(tmp_path):
    full = tmp_path / "full.wav"
    _write_wav(full, _tone(16000, 2.0), 16000)
    assert load_audio(full).duration_s == pytest.approx(2.0, abs=0.01)  # complete files still load
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 2 * 16000 // 2])  # header + 0.5 s of the 2 s
    with pytest.raises(AudioError, match=r"cut.wav: the file is cut short.*2\.00 s.*0\.50 s"):
        load_audio(cut)
    # a streamed WAV whose header leaves the size open is not "cut short"
    open_size = bytearray(cut.read_bytes())
    open_size[40:44] = b"\xff\xff\xff\xff"
    (tmp_path / "stream.wav").write_bytes(bytes(open_size))
    assert load_audio(tmp_path / "stream.wav").duration_s == pytest.approx(0.5, abs=0.01)


def test_plain_16k_mono_wav_skips_pyav_with_the_same_samples(example_audio, tmp_path, monkeypatch):
    """16 kHz mono 16-bit WAVs are read with the standard library: the very samples PyAV decodes, without
    importing PyAV; other WAVs (48 kHz stereo here) still go through PyAV."""
    import subprocess
    import sys

    from emodiffhead.audio import io

    fast = load_audio(example_audio)
    stereo = tmp_path / "stereo48k.wav"
    _write_wav(stereo, _tone(48000, 1.0, channels=2), 48000)
    assert io._read_plain_wav(stereo, 600.0) is None and io._read_plain_wav(example_audio, 600.0) is not None
    monkeypatch.setattr(io, "_read_plain_wav", lambda *a: None)
    slow = load_audio(example_audio)
    assert np.array_equal(fast.samples, slow.samples) and fast.samples.dtype == np.float32
    assert (fast.original_rate, fast.original_channels, fast.source) == (slow.original_rate, slow.original_channels,
                                                                        slow.source)
    code = f"import sys; from emodiffhead.audio.io import load_audio; load_audio({str(example_audio)!r}); " \
           "print('av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_polarity_inverted_stereo_is_not_silence(tmp_path, example_audio):
    """A stereo file whose right channel is the left one inverted (a wiring or recording fault) mixed to silence
    and was refused as "all silence"; the loudest channel is used instead."""
    x = load_audio(example_audio).samples
    _write_wav(tmp_path / "inv.wav", np.stack([0.5 * x, -0.5 * x], 1), 16000)
    clip = load_audio(tmp_path / "inv.wav")
    assert clip.original_channels == 2
    r = np.corrcoef(clip.samples, x)[0, 1]
    assert r > 0.99  # the left channel, not silence
    _write_wav(tmp_path / "same.wav", np.stack([0.5 * x, 0.5 * x], 1), 16000)
    in_phase = load_audio(tmp_path / "same.wav").samples
    assert np.allclose(in_phase, 2 ** 0.5 * 0.5 * x, atol=2e-4)  # an in-phase pair: FFmpeg's down-mix level


def test_one_silent_channel_mixes_as_ffmpeg_does(tmp_path, example_audio):
    """A mono microphone on one input of a stereo recording (the other channel silent) is no cancellation: it
    mixes as FFmpeg's down-mix does (the channel over sqrt 2), not as the loud channel alone."""
    x = load_audio(example_audio).samples
    _write_wav(tmp_path / "left.wav", np.stack([0.5 * x, 0 * x], 1), 16000)
    assert np.allclose(load_audio(tmp_path / "left.wav").samples, 0.5 * x / 2 ** 0.5, atol=2e-4)
